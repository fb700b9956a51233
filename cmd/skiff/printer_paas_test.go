package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

const (
	testPaasCommit = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	testPaasImage  = "127.0.0.1:5000/default/shop@sha256:8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"
)

func timeAgo(d time.Duration) *api.Time { t := ago(d); return &t }

// TestPrintPaasTables renders apps, builds and releases as `skiff get`
// shows them, narrow and wide.
func TestPrintPaasTables(t *testing.T) {
	apps := []api.Object{
		&api.App{ObjectMeta: api.ObjectMeta{Name: "shop", Namespace: "default", CreationTimestamp: ago(3 * 24 * time.Hour)},
			Spec: api.AppSpec{Domains: []string{"shop.example.com", "*.shop.example.org"}},
			Status: api.AppStatus{Release: "shop-v3", Version: 3,
				URLs: []string{"http://shop.apps.local", "http://shop.example.com"},
				Processes: []api.AppProcessStatus{
					{Type: "web", Replicas: 2, ReadyReplicas: 2},
					{Type: "worker", Replicas: 1, ReadyReplicas: 0},
				}}},
		&api.App{ObjectMeta: api.ObjectMeta{Name: "blog", Namespace: "team-a", CreationTimestamp: ago(2 * time.Hour)},
			Spec: api.AppSpec{ScaleToZero: &api.AppScaleToZero{IdleMinutes: 15}},
			Status: api.AppStatus{Release: "blog-v12", URLs: []string{"http://blog.apps.local"}, Idle: true,
				Processes: []api.AppProcessStatus{{Type: "web", Replicas: 0, ReadyReplicas: 0}}}},
		// Created, never pushed.
		&api.App{ObjectMeta: api.ObjectMeta{Name: "new", Namespace: "default", CreationTimestamp: ago(20 * time.Second)}},
	}
	builds := []api.Object{
		&api.Build{ObjectMeta: api.ObjectMeta{Name: "shop-1a2b3c4", Namespace: "default", CreationTimestamp: ago(time.Hour)},
			Spec: api.BuildSpec{App: "shop", Commit: testPaasCommit},
			Status: api.BuildStatus{Phase: api.BuildSucceeded, Node: "pi-1", Kind: "dockerfile", Image: testPaasImage,
				Steps: 7, CachedSteps: 5, StartTime: timeAgo(time.Hour), CompletionTime: timeAgo(time.Hour - 150*time.Second)}},
		&api.Build{ObjectMeta: api.ObjectMeta{Name: "shop-9f8e7d6", Namespace: "default", CreationTimestamp: ago(40 * time.Second)},
			Spec:   api.BuildSpec{App: "shop", Commit: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"},
			Status: api.BuildStatus{Phase: api.BuildRunning, Node: "pi-1", Kind: "python", StartTime: timeAgo(38 * time.Second)}},
		&api.Build{ObjectMeta: api.ObjectMeta{Name: "blog-0a0b0c0", Namespace: "team-a", CreationTimestamp: ago(26 * time.Hour)},
			Spec: api.BuildSpec{App: "blog", Commit: "0a0b0c0d0e0f0a0b0c0d0e0f0a0b0c0d0e0f0a0b"},
			Status: api.BuildStatus{Phase: api.BuildFailed, Message: "Dockerfile line 3: unsupported instruction SHELL",
				StartTime: timeAgo(26 * time.Hour), CompletionTime: timeAgo(26*time.Hour - 4*time.Second)}},
		// Just made: not started yet.
		&api.Build{ObjectMeta: api.ObjectMeta{Name: "blog-1b1b1b1", Namespace: "team-a", CreationTimestamp: ago(time.Second)},
			Spec: api.BuildSpec{App: "blog", Commit: "1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b"}, Status: api.BuildStatus{Phase: api.BuildRunning}},
	}
	releases := []api.Object{
		&api.Release{ObjectMeta: api.ObjectMeta{Name: "shop-v3", Namespace: "default", CreationTimestamp: ago(10 * time.Minute)},
			Spec: api.ReleaseSpec{App: "shop", Version: 3, Image: "127.0.0.1:5000/default/shop@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				Commit: testPaasCommit, Build: "shop-1a2b3c4", Description: "Set DATABASE_URL", CreatedBy: "ada", Processes: map[string]string{"web": ""}},
			Status: api.ReleaseStatus{Phase: api.ReleaseSucceeded}},
		&api.Release{ObjectMeta: api.ObjectMeta{Name: "shop-v2", Namespace: "default", CreationTimestamp: ago(time.Hour)},
			Spec: api.ReleaseSpec{App: "shop", Version: 2, Image: testPaasImage, Commit: testPaasCommit, Build: "shop-1a2b3c4",
				Description: "Deploy 1a2b3c4", CreatedBy: "ada", Processes: map[string]string{"web": ""}},
			Status: api.ReleaseStatus{Phase: api.ReleaseSuperseded}},
		// Made from an image, not a build.
		&api.Release{ObjectMeta: api.ObjectMeta{Name: "blog-v12", Namespace: "team-a", CreationTimestamp: ago(3 * time.Hour)},
			Spec:   api.ReleaseSpec{App: "blog", Version: 12, Image: "busybox:1.36", Processes: map[string]string{"web": "httpd -f"}},
			Status: api.ReleaseStatus{Phase: api.ReleaseFailed, Message: "web: GET /: connection refused"}},
	}
	for _, tc := range []struct {
		name, resource string
		objs           []api.Object
		wide, all      bool
	}{
		{"apps", "apps", apps, false, false},
		{"apps-wide-all", "apps", apps, true, true},
		{"builds", "builds", builds, false, false},
		{"builds-wide-all", "builds", builds, true, true},
		{"releases", "rel", releases, false, false},
		{"releases-wide-all", "releases", releases, true, true},
	} {
		k, ok := api.LookupResource(tc.resource)
		if !ok {
			t.Fatalf("no kind %s", tc.resource)
		}
		var b bytes.Buffer
		table{kind: k, wide: tc.wide, allNamespaces: tc.all, now: now}.print(&b, tc.objs, true)
		golden(t, "table-"+tc.name, b.Bytes())
	}
}

func TestTableDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {0, "0s"}, {1400 * time.Millisecond, "1s"}, {119 * time.Second, "119s"},
		{2 * time.Minute, "2m"}, {150 * time.Second, "2m30s"}, {15 * time.Minute, "15m"}, {179 * time.Minute, "179m"},
		{3 * time.Hour, "3h"}, {200 * time.Minute, "3h20m"}, {30 * time.Hour, "30h"}, {5 * 24 * time.Hour, "5d"},
	} {
		if got := tableDuration(tc.d); got != tc.want {
			t.Errorf("tableDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestTableImage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{testPaasImage, "127.0.0.1:5000/default/shop@sha256:8f434346648f"},
		{"busybox:1.36", "busybox:1.36"},
		{"busybox@sha256:abc", "busybox@sha256:abc"},
		{"busybox:1.36@sha256:8f434346648f6b96df89", "busybox:1.36@sha256:8f434346648f"},
		{"", ""},
	} {
		if got := tableImage(tc.in); got != tc.want {
			t.Errorf("tableImage(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
