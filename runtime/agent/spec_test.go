package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestImageNonRoot(t *testing.T) {
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"}}
	c := &api.Container{Name: "app"}
	tests := []struct {
		user string
		want string // "" for no error
	}{
		{"", "container has runAsNonRoot and image will run as root (pod: \"web_default(u1)\", container: app)"},
		{"0", "image will run as root"},
		{"0:1000", "image will run as root"},
		{"root", "image has non-numeric user (root), cannot verify user is non-root"},
		{"app:app", "image has non-numeric user (app)"},
		{"1000", ""},
		{"65534:65534", ""},
	}
	for _, tt := range tests {
		err := imageNonRoot(pod, c, tt.user)
		var ce *configError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("USER %q: got %v, want no error", tt.user, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("USER %q: got %v, want %q", tt.user, err, tt.want)
		case err != nil && !errors.As(err, &ce):
			t.Errorf("USER %q: got %T, want a configError (CreateContainerConfigError)", tt.user, err)
		}
	}
}

func TestSecurityEscalation(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name string
		sc   *api.SecurityContext
		want bool // AllowPrivilegeEscalation, that is no no_new_privs
	}{
		{"no context", nil, false},
		{"unset", &api.SecurityContext{}, false},
		{"explicit true", &api.SecurityContext{AllowPrivilegeEscalation: &yes}, true},
		{"explicit false", &api.SecurityContext{AllowPrivilegeEscalation: &no}, false},
		{"privileged", &api.SecurityContext{Privileged: &yes}, true},
		{"adds SYS_ADMIN", &api.SecurityContext{Capabilities: &api.Capabilities{Add: []api.Capability{"CAP_SYS_ADMIN"}}}, true},
		{"adds NET_ADMIN", &api.SecurityContext{Capabilities: &api.Capabilities{Add: []api.Capability{"NET_ADMIN"}}}, false},
	}
	for _, tt := range tests {
		s, _, err := security(&api.Pod{}, &api.Container{Name: "c", SecurityContext: tt.sc})
		if err != nil || s.AllowPrivilegeEscalation != tt.want {
			t.Errorf("%s: got escalation %v (err %v), want %v", tt.name, s.AllowPrivilegeEscalation, err, tt.want)
		}
	}
}

func TestSecurityMerge(t *testing.T) {
	podUID, cUID, gid, fs := int64(1000), int64(2000), int64(3000), int64(4000)
	yes := true
	pod := &api.Pod{Spec: api.PodSpec{SecurityContext: &api.PodSecurityContext{
		RunAsUser: &podUID, RunAsGroup: &gid, RunAsNonRoot: &yes, SupplementalGroups: []int64{5}, FSGroup: &fs}}}
	s, nonRoot, err := security(pod, &api.Container{Name: "c", SecurityContext: &api.SecurityContext{RunAsUser: &cUID}})
	if err != nil || !nonRoot || *s.User != 2000 || *s.Group != 3000 || len(s.SupplementalGroups) != 2 || s.SupplementalGroups[1] != 4000 {
		t.Errorf("merged = %+v nonRoot %v err %v, want user 2000 (container's), group 3000, groups [5 4000], nonRoot", s, nonRoot, err)
	}
}

// imageRuntime is a runtime that holds one image; the rest of
// container.Runtime is not there (nil: a call panics).
type imageRuntime struct {
	container.Runtime
	ref  string
	user string
}

func (r imageRuntime) GetImage(_ context.Context, ref string) (container.Image, error) {
	if ref != r.ref {
		return container.Image{}, fmt.Errorf("image %s: %w", ref, errdefs.ErrNotFound)
	}
	return container.Image{Ref: ref, Config: container.ImageConfig{User: r.user}}, nil
}

// TestCheckImageNonRoot: runAsNonRoot without runAsUser reads the image's
// USER, as kubelet does, and refuses root with its message.
func TestCheckImageNonRoot(t *testing.T) {
	yes := true
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"}}
	c := &api.Container{Name: "app", Image: "busybox", SecurityContext: &api.SecurityContext{RunAsNonRoot: &yes}}
	src := newSources(context.Background(), nil, "default")
	for _, tt := range []struct{ user, want string }{
		{"", "container has runAsNonRoot and image will run as root"},
		{"1000", ""},
	} {
		a := &Agent{cfg: Config{Runtime: imageRuntime{ref: "docker.io/library/busybox:latest", user: tt.user}}}
		err := a.checkImageNonRoot(run{pod: pod, c: c, src: src})
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("USER %q: got %v, want %q", tt.user, err, tt.want)
		}
	}
	a := &Agent{cfg: Config{Runtime: imageRuntime{ref: "other"}}}
	if err := a.checkImageNonRoot(run{pod: pod, c: c, src: src}); !errdefs.IsNotFound(err) {
		t.Errorf("absent image: got %v, want not found", err)
	}
}
