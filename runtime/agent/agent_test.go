package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "two"}
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"$(A)", "1"},
		{"x$(A)y$(B)z", "x1ytwoz"},
		{"$(C)", "$(C)"},
		{"$$(A)", "$(A)"},
		{"$(A", "$(A"},
		{"cost $5", "cost $5"},
		{"end$", "end$"},
	} {
		if got := expand(c.in, vars); got != c.want {
			t.Errorf("expand(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPullPolicy(t *testing.T) {
	for _, c := range []struct {
		image  string
		policy api.PullPolicy
		want   api.PullPolicy
	}{
		{"busybox", "", api.PullAlways},
		{"busybox:latest", "", api.PullAlways},
		{"busybox:1.36", "", api.PullIfNotPresent},
		{"localhost:5000/app", "", api.PullAlways},
		{"localhost:5000/app:v1", "", api.PullIfNotPresent},
		{"busybox@sha256:" + strings.Repeat("a", 64), "", api.PullIfNotPresent},
		{"busybox", api.PullNever, api.PullNever},
	} {
		if got := pullPolicy(&api.Container{Image: c.image, ImagePullPolicy: c.policy}); got != c.want {
			t.Errorf("pullPolicy(%q, %q) = %q, want %q", c.image, c.policy, got, c.want)
		}
	}
}

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                 "docker.io/library/busybox:latest",
		"skiff.test/httpd:latest": "skiff.test/httpd:latest",
		"localhost:5000/a/b:v2":   "localhost:5000/a/b:v2",
		"ghcr.io/org/app":         "ghcr.io/org/app:latest",
	} {
		if got, err := normalizeRef(in); err != nil || got != want {
			t.Errorf("normalizeRef(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := normalizeRef("UPPER/Case"); err == nil {
		t.Error("an invalid reference was accepted")
	}
}

func TestDockerConfigAuth(t *testing.T) {
	doc := []byte(`{"auths":{"https://registry.example:5000/v2/":{"auth":"dXNlcjpwYXNz"},"index.docker.io":{"username":"u","password":"p"}}}`)
	if a, ok := dockerConfigAuth(doc, "registry.example:5000"); !ok || a.Username != "user" || a.Password != "pass" {
		t.Errorf("registry.example:5000: %+v %v", a, ok)
	}
	if a, ok := dockerConfigAuth(doc, "docker.io"); !ok || a.Username != "u" {
		t.Errorf("docker.io: %+v %v", a, ok)
	}
	if _, ok := dockerConfigAuth(doc, "other.example"); ok {
		t.Error("a credential for another registry was used")
	}
	if _, ok := dockerConfigAuth([]byte("not json"), "x"); ok {
		t.Error("a malformed document gave a credential")
	}
}

func TestResources(t *testing.T) {
	a := &Agent{cfg: Config{PodPidsLimit: 100}}
	q := func(s string) api.Quantity {
		v, err := api.ParseQuantity(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c := &api.Container{Resources: api.ResourceRequirements{
		Limits:   api.ResourceList{api.ResourceMemory: q("64Mi"), api.ResourceCPU: q("500m")},
		Requests: api.ResourceList{api.ResourceCPU: q("250m")},
	}}
	got := a.resources(c)
	want := container.Resources{MemoryLimit: 64 << 20, CPUShares: 256, CPUQuota: 50000, CPUPeriod: 100000, PidsLimit: 100}
	if got != want {
		t.Errorf("resources = %+v, want %+v", got, want)
	}
	if got := a.resources(&api.Container{}); got.CPUShares != 2 || got.MemoryLimit != 0 || got.CPUQuota != 0 {
		t.Errorf("best effort = %+v, want shares 2 and no limits", got)
	}
}

func TestSecurity(t *testing.T) {
	uid, zero := int64(1000), int64(0)
	yes := true
	pod := &api.Pod{Spec: api.PodSpec{SecurityContext: &api.PodSecurityContext{RunAsUser: &uid, SupplementalGroups: []int64{5}}}}
	c := &api.Container{Name: "c", SecurityContext: &api.SecurityContext{
		ReadOnlyRootFilesystem: &yes, Capabilities: &api.Capabilities{Add: []api.Capability{"NET_ADMIN"}, Drop: []api.Capability{"ALL"}}}}
	s, _, err := security(pod, c)
	if err != nil || *s.User != 1000 || !s.ReadOnlyRootFS || s.AllowPrivilegeEscalation || s.CapAdd[0] != "NET_ADMIN" || s.CapDrop[0] != "ALL" || s.SupplementalGroups[0] != 5 {
		t.Errorf("security = %+v, %v", s, err)
	}
	c.SecurityContext = &api.SecurityContext{RunAsNonRoot: &yes, RunAsUser: &zero}
	if _, _, err := security(pod, c); err == nil || !strings.Contains(err.Error(), "runAsUser breaks non-root policy") {
		t.Errorf("runAsNonRoot with uid 0: %v", err)
	}
	// Without a runAsUser the image's user decides: see TestImageNonRoot.
	if _, nonRoot, err := security(&api.Pod{}, &api.Container{Name: "c", SecurityContext: &api.SecurityContext{RunAsNonRoot: &yes}}); err != nil || !nonRoot {
		t.Errorf("runAsNonRoot without a user: nonRoot %v, err %v; want true and no error yet", nonRoot, err)
	}
}

func TestBackoff(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBackoff(func() time.Time { return now })
	if w := b.wait("p/c", time.Second); w != 0 {
		t.Errorf("first restart waits %s, want at once", w)
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second}
	for i, d := range want {
		b.restarted("p/c")
		if w := b.wait("p/c", time.Second); w != d {
			t.Errorf("after restart %d: wait %s, want %s", i+1, w, d)
		}
		now = now.Add(d)
		if w := b.wait("p/c", time.Second); w != 0 {
			t.Errorf("after restart %d and its delay: wait %s", i+1, w)
		}
	}
	if w := b.wait("p/c", 11*time.Minute); w != 0 || b.delay("p/c") != 0 {
		t.Error("a run of 11 minutes did not reset the back-off")
	}
	b.restarted("p/c")
	b.restarted("p/d")
	b.restarted("q/c")
	b.reset("p/d")
	if b.delay("p/d") != 0 || b.delay("p/c") == 0 {
		t.Error("reset removed the wrong entries")
	}
	b.forget("p")
	if b.delay("p/c") != 0 || b.delay("q/c") == 0 {
		t.Error("forget removed the wrong entries")
	}
}

func TestSettle(t *testing.T) {
	lost := settle(container.Status{State: container.StateUnknown})
	if lost.State != container.StateExited || lost.ExitCode != exitLost {
		t.Errorf("a lost run settles as %s/%d, want Exited/%d", lost.State, lost.ExitCode, exitLost)
	}
	if got := settle(container.Status{State: container.StateUnknown, ExitCode: 3}); got.ExitCode != 3 {
		t.Errorf("a lost run's recorded exit code became %d", got.ExitCode)
	}
	if got := settle(container.Status{State: container.StateRunning, PID: 7}); got.State != container.StateRunning || got.PID != 7 {
		t.Errorf("a running container changed: %+v", got)
	}
}

func TestContainerIDStable(t *testing.T) {
	a, b := containerID("uid", "web", 0), containerID("uid", "web", 0)
	if a != b || len(a) != 32 || a == containerID("uid", "web", 1) || a == containerID("uid2", "web", 0) {
		t.Errorf("containerID not stable and distinct: %s %s", a, b)
	}
}

func TestPodField(t *testing.T) {
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "ns", UID: "u", Labels: map[string]string{"app": "web"}}, Spec: api.PodSpec{NodeName: "n1"}}
	for path, want := range map[string]string{
		"metadata.name": "p", "metadata.namespace": "ns", "metadata.uid": "u",
		"metadata.labels['app']": "web", "spec.nodeName": "n1", "status.podIP": "10.0.0.2", "status.hostIP": "192.0.2.1",
	} {
		if got, err := podField(pod, path, "10.0.0.2", "192.0.2.1"); err != nil || got != want {
			t.Errorf("podField(%s) = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := podField(pod, "spec.nope", "", ""); err == nil {
		t.Error("unknown field path accepted")
	}
}
