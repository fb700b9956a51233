package app

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
)

func TestDeploymentFor(t *testing.T) {
	rel := func(port int32, procs map[string]string, config string) *api.Release {
		return &api.Release{ObjectMeta: api.ObjectMeta{Name: "shop-v3"},
			Spec: api.ReleaseSpec{App: "shop", Version: 3, Image: "img@sha256:3", Port: port, Processes: procs, Config: config}}
	}
	app := func(f func(a *api.App)) *api.App {
		a := &api.App{ObjectMeta: api.ObjectMeta{Name: "shop", Namespace: "default", UID: "u1"}}
		if f != nil {
			f(a)
		}
		return a
	}
	for _, tc := range []struct {
		name     string
		app      *api.App
		rel      *api.Release
		proc     string
		replicas int32
		port     string
		command  []string
		probe    *api.Probe // nil: none
		drain    int64      // 0: no preStop
		deadline int32
		envFrom  string
	}{
		{name: "web defaults", app: app(nil), rel: rel(0, map[string]string{"web": ""}, ""), proc: "web", replicas: 1, port: "5000",
			probe: probeOf("/", 5000, 2, 1), drain: 5, deadline: 120},
		{name: "image port", app: app(nil), rel: rel(8080, map[string]string{"web": "gunicorn app"}, "release-shop-v3-config"), proc: "web",
			replicas: 1, port: "8080", command: []string{"/bin/sh", "-c", "gunicorn app"},
			probe: probeOf("/", 8080, 2, 1), drain: 5, deadline: 120, envFrom: "release-shop-v3-config"},
		{name: "app settings", app: app(func(a *api.App) {
			a.Spec.Port = 3000
			a.Spec.Scale = map[string]int32{"web": 4}
			a.Spec.HealthCheck = api.AppHealthCheck{Path: "/healthz", Port: 3001, TimeoutSeconds: 5, PeriodSeconds: 3, DeadlineSeconds: 60, DrainSeconds: 20}
		}), rel: rel(8080, map[string]string{"web": ""}, ""), proc: "web", replicas: 4, port: "3000",
			probe: probeOf("/healthz", 3001, 5, 3), drain: 20, deadline: 60},
		{name: "worker defaults to 0", app: app(nil), rel: rel(0, map[string]string{"worker": "rake jobs"}, ""), proc: "worker",
			replicas: 0, port: "5000", command: []string{"/bin/sh", "-c", "rake jobs"}, deadline: 120},
		{name: "scaled worker", app: app(func(a *api.App) { a.Spec.Scale = map[string]int32{"worker": 2} }),
			rel: rel(0, map[string]string{"worker": "rake jobs"}, ""), proc: "worker",
			replicas: 2, port: "5000", command: []string{"/bin/sh", "-c", "rake jobs"}, deadline: 120},
		{name: "idle web", app: app(func(a *api.App) { a.Spec.ScaleToZero = &api.AppScaleToZero{}; a.Status.Idle = true }),
			rel: rel(0, map[string]string{"web": ""}, ""), proc: "web", replicas: 0, port: "5000",
			probe: probeOf("/", 5000, 2, 1), drain: 5, deadline: 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := deploymentFor(tc.app, tc.rel, tc.proc)
			if d.Name != "shop-"+tc.proc || d.Labels[api.LabelApp] != "shop" || d.Labels[api.LabelProcess] != tc.proc {
				t.Errorf("name %s labels %v", d.Name, d.Labels)
			}
			if got := d.Spec.Template.Labels[api.LabelRelease]; got != "shop-v3" {
				t.Errorf("template release label %q, want shop-v3", got)
			}
			if ref := api.ControllerOf(&d.ObjectMeta); ref == nil || ref.UID != "u1" || ref.Kind != "App" {
				t.Errorf("controller %+v, want the app", ref)
			}
			if *d.Spec.Replicas != tc.replicas {
				t.Errorf("replicas %d, want %d", *d.Spec.Replicas, tc.replicas)
			}
			c := d.Spec.Template.Spec.Containers[0]
			if c.Name != tc.proc || c.Image != "img@sha256:3" {
				t.Errorf("container %s %s", c.Name, c.Image)
			}
			if !slices.Equal(c.Command, tc.command) {
				t.Errorf("command %q, want %q", c.Command, tc.command)
			}
			if !slices.Equal(c.Env, []api.EnvVar{{Name: "PORT", Value: tc.port}}) {
				t.Errorf("env %+v, want PORT=%s", c.Env, tc.port)
			}
			gotFrom := ""
			if len(c.EnvFrom) == 1 && c.EnvFrom[0].SecretRef != nil {
				gotFrom = c.EnvFrom[0].SecretRef.Name
			}
			if gotFrom != tc.envFrom {
				t.Errorf("envFrom %+v, want secret %q", c.EnvFrom, tc.envFrom)
			}
			switch {
			case tc.probe == nil && c.ReadinessProbe != nil:
				t.Errorf("readiness probe %+v, want none", c.ReadinessProbe)
			case tc.probe != nil && (c.ReadinessProbe == nil || !reflect.DeepEqual(c.ReadinessProbe.HTTPGet, tc.probe.HTTPGet) ||
				c.ReadinessProbe.TimeoutSeconds != tc.probe.TimeoutSeconds || c.ReadinessProbe.PeriodSeconds != tc.probe.PeriodSeconds):
				t.Errorf("readiness probe %+v, want %+v", c.ReadinessProbe, tc.probe)
			}
			grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
			switch {
			case tc.drain == 0 && (c.Lifecycle != nil || grace != nil):
				t.Errorf("lifecycle %+v grace %v, want none", c.Lifecycle, grace)
			case tc.drain != 0 && (c.Lifecycle == nil || c.Lifecycle.PreStop.Sleep.Seconds != tc.drain || grace == nil || *grace != tc.drain+10):
				t.Errorf("lifecycle %+v grace %v, want sleep %d and grace %d", c.Lifecycle, grace, tc.drain, tc.drain+10)
			}
			ru := d.Spec.Strategy.RollingUpdate
			if d.Spec.Strategy.Type != api.RollingUpdateDeploymentStrategyType || ru == nil || *ru.MaxSurge != api.FromInt(1) || *ru.MaxUnavailable != api.FromInt(0) {
				t.Errorf("strategy %+v, want rolling update with surge 1 and unavailable 0", d.Spec.Strategy)
			}
			wantMinReady := int32(0)
			if tc.proc == api.ProcessWeb {
				wantMinReady = min(3*tc.probe.PeriodSeconds, tc.deadline/4)
				if c.ReadinessProbe.FailureThreshold != 3 {
					t.Errorf("probe failure threshold %d, want 3", c.ReadinessProbe.FailureThreshold)
				}
			}
			if d.Spec.MinReadySeconds != wantMinReady {
				t.Errorf("minReadySeconds %d, want %d: a web pod ready for a moment must not stop an old one", d.Spec.MinReadySeconds, wantMinReady)
			}
			if *d.Spec.ProgressDeadlineSeconds != tc.deadline {
				t.Errorf("progress deadline %d, want %d", *d.Spec.ProgressDeadlineSeconds, tc.deadline)
			}
		})
	}
}

func probeOf(path string, port, timeout, period int32) *api.Probe {
	return &api.Probe{ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Path: path, Port: api.FromInt(port)}},
		TimeoutSeconds: timeout, PeriodSeconds: period}
}

func TestSpecHashIgnoresReplicas(t *testing.T) {
	a := &api.App{ObjectMeta: api.ObjectMeta{Name: "shop", UID: "u1"}}
	r := &api.Release{ObjectMeta: api.ObjectMeta{Name: "shop-v1"}, Spec: api.ReleaseSpec{Image: "i", Processes: map[string]string{"web": ""}}}
	one := deploymentFor(a, r, "web")
	a.Spec.Scale = map[string]int32{"web": 5}
	five := deploymentFor(a, r, "web")
	if one.Annotations[templateHashAnnotation] != five.Annotations[templateHashAnnotation] {
		t.Error("the template hash changed with the scale")
	}
	r.Spec.Image = "j"
	if deploymentFor(a, r, "web").Annotations[templateHashAnnotation] == one.Annotations[templateHashAnnotation] {
		t.Error("the template hash did not change with the image")
	}
}

func TestPodState(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  api.Pod
		want []string
	}{
		{"unscheduled", api.Pod{Status: api.PodStatus{Phase: api.PodPending, Conditions: []api.PodCondition{
			{Type: api.PodScheduled, Status: api.ConditionFalse, Message: "0/3 nodes have enough memory"}}}},
			[]string{"not scheduled: 0/3 nodes have enough memory"}},
		{"image pull", api.Pod{Spec: api.PodSpec{NodeName: "n1"}, Status: api.PodStatus{Phase: api.PodPending,
			ContainerStatuses: []api.ContainerStatus{{Name: "web", State: api.ContainerState{Waiting: &api.ContainerStateWaiting{
				Reason: "ImagePullBackOff", Message: "manifest unknown"}}}}}},
			[]string{"phase Pending", "container web waiting: ImagePullBackOff: manifest unknown"}},
		{"crash loop", api.Pod{Spec: api.PodSpec{NodeName: "n1"}, Status: api.PodStatus{Phase: api.PodRunning,
			ContainerStatuses: []api.ContainerStatus{{Name: "web", RestartCount: 3,
				State:                api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}}}}},
			[]string{"container web waiting: CrashLoopBackOff", "container web restarted 3 times, last exit code 1 (Error)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := podState(&tc.pod)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("podState = %q, want it to say %q", got, w)
				}
			}
		})
	}
}

func TestURLs(t *testing.T) {
	a := &api.App{ObjectMeta: api.ObjectMeta{Name: "shop"}, Spec: api.AppSpec{Domains: []string{"shop.example.com"}}}
	for _, tc := range []struct {
		https bool
		want  []string
	}{
		{false, []string{"http://shop.apps.skiff.local", "http://shop.example.com"}},
		{true, []string{"https://shop.apps.skiff.local", "https://shop.example.com"}},
	} {
		c := &Controller{cfg: Config{AppsDomain: "apps.skiff.local", HTTPS: tc.https}}
		if got := c.urls(a); !slices.Equal(got, tc.want) {
			t.Errorf("https %v: urls %q, want %q", tc.https, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	reg, _, _ := controllertest.Registry(t, 10*time.Second)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" valid
	}{
		{"no backend", Config{AppsDomain: "apps.skiff.local"}, "a backend is required"},
		{"no domain", Config{Backend: reg}, "an apps domain is required"},
		{"bad domain", Config{Backend: reg, AppsDomain: "Apps_Skiff"}, `apps domain "Apps_Skiff"`},
		{"negative workers", Config{Backend: reg, AppsDomain: "apps.skiff.local", Workers: -1}, "workers may not be negative"},
		{"valid", Config{Backend: reg, AppsDomain: "apps.skiff.local"}, ""},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestForeignErrorSaysWhatToDo(t *testing.T) {
	a := &api.App{ObjectMeta: api.ObjectMeta{Name: "shop", Namespace: "default", UID: "new"}}
	earlier := &api.App{ObjectMeta: api.ObjectMeta{Name: "shop", Namespace: "default", UID: "old"}}
	for _, tc := range []struct {
		name string
		refs []api.OwnerReference
		want string
	}{
		{"another's", nil, "service default/shop exists and is not app shop's: delete or rename it"},
		{"a deleted namesake's", controllerRef(earlier), "service default/shop is still there from an earlier app shop, deleted: it goes by itself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &api.ObjectMeta{Name: "shop", Namespace: "default", OwnerReferences: tc.refs}
			if got := newForeignError("service", m, a).Error(); !strings.HasPrefix(got, tc.want) {
				t.Errorf("message %q, want it to start %q", got, tc.want)
			}
		})
	}
}

// A built image is fetched from the server by the node a pod lands on:
// the pods are not tied to the node that built it, only to its
// architecture.
func TestPodsRunOnAnyNodeOfTheArch(t *testing.T) {
	a := &api.App{ObjectMeta: api.ObjectMeta{Name: "shop", Namespace: "default"}}
	r := &api.Release{ObjectMeta: api.ObjectMeta{Name: "shop-v1", Annotations: map[string]string{api.AnnotationImageNode: "pi-1", api.AnnotationImageArch: "arm64"}},
		Spec: api.ReleaseSpec{App: "shop", Version: 1, Image: "skiff.local/apps/shop@sha256:" + strings.Repeat("a", 64), Processes: map[string]string{"web": ""}}}
	if got := deploymentFor(a, r, "web").Spec.Template.Spec.NodeSelector; !maps.Equal(got, map[string]string{"kubernetes.io/arch": "arm64"}) {
		t.Errorf("node selector of a built image's pods = %v, want kubernetes.io/arch=arm64 only", got)
	}
	// A release from before images were shared stays where it was built.
	delete(r.Annotations, api.AnnotationImageArch)
	if got := deploymentFor(a, r, "web").Spec.Template.Spec.NodeSelector; !maps.Equal(got, map[string]string{"kubernetes.io/hostname": "pi-1"}) {
		t.Errorf("node selector of an older release's pods = %v, want kubernetes.io/hostname=pi-1 only", got)
	}
	r.Annotations = nil
	if got := deploymentFor(a, r, "web").Spec.Template.Spec.NodeSelector; got != nil {
		t.Errorf("node selector of a registry image's pods = %v, want none", got)
	}
}
