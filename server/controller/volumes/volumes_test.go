package volumes

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/registry"
)

// env is a real store and registry in a temporary directory with the
// controller running on it.
type env struct {
	t      *testing.T
	ctx    context.Context
	reg    *registry.Registry
	claims *client.Resource[*api.PersistentVolumeClaim]
	pods   *client.Resource[*api.Pod]
}

func newEnv(t *testing.T) *env {
	t.Helper()
	reg, _, ctx := controllertest.Registry(t, 60*time.Second)
	c, err := New(Config{Backend: reg, Log: controllertest.Log(t)})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Start(t, ctx, c.Run)
	return &env{t: t, ctx: ctx, reg: reg,
		claims: client.For[*api.PersistentVolumeClaim](reg, "default"),
		pods:   client.For[*api.Pod](reg, "default")}
}

func (e *env) claim(name string) *api.PersistentVolumeClaim {
	e.t.Helper()
	size, err := api.ParseQuantity("1Gi")
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := e.claims.Create(e.ctx, &api.PersistentVolumeClaim{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.PersistentVolumeClaimSpec{
		AccessModes: []api.PersistentVolumeAccessMode{api.ReadWriteOnce},
		Resources:   api.VolumeResourceRequirements{Requests: api.ResourceList{api.ResourceStorage: size}},
	}})
	if err != nil {
		e.t.Fatal(err)
	}
	if !slices.Contains(c.Finalizers, api.FinalizerPVCProtection) {
		e.t.Fatalf("claim %s created without %s: %v", name, api.FinalizerPVCProtection, c.Finalizers)
	}
	return c
}

// pod creates a pod in ns that uses claim.
// pod makes a pod bound to node n1 that uses claim.
func (e *env) pod(ns, name, claim string) *api.Pod {
	e.t.Helper()
	return e.podOn("n1", ns, name, claim)
}

// podOn makes a pod on node ("" = not scheduled) that uses claim.
func (e *env) podOn(node, ns, name, claim string) *api.Pod {
	e.t.Helper()
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns}, Spec: api.PodSpec{NodeName: node,
		Containers: []api.Container{{Name: "c", Image: "busybox", VolumeMounts: []api.VolumeMount{{Name: "data", MountPath: "/data"}}}},
		Volumes: []api.Volume{{Name: "data", VolumeSource: api.VolumeSource{
			PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
	}}
	p, err := client.For[*api.Pod](e.reg, ns).Create(e.ctx, p)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) deleteClaim(name string) {
	e.t.Helper()
	if _, err := e.claims.Delete(e.ctx, name, api.DeleteOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// state is "gone", "terminating" or "live".
func (e *env) state(name string) string {
	c, err := e.claims.Get(e.ctx, name)
	switch {
	case errdefs.IsNotFound(err):
		return "gone"
	case err != nil:
		return err.Error()
	case c.DeletionTimestamp != nil:
		return "terminating"
	}
	return "live"
}

func (e *env) want(name, state string) {
	e.t.Helper()
	controllertest.Eventually(e.t, controllertest.Poll{Within: 20 * time.Second, Every: 10 * time.Millisecond}, name+" "+state, func() (bool, string) {
		got := e.state(name)
		return got == state, got
	})
}

func (e *env) stays(name, state string, d time.Duration) {
	e.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if got := e.state(name); got != state {
			e.t.Fatalf("claim %s is %s, want it to stay %s", name, got, state)
		}
	}
}

func removePod(t *testing.T, e *env, p *api.Pod) {
	t.Helper()
	if err := controllertest.RemovePod(e.ctx, client.For[*api.Pod](e.reg, p.Namespace), p); err != nil {
		t.Fatal(err)
	}
}

// TestClaimInUseWaitsForPod: a claim a pod uses stays Terminating until
// the pod is gone, then goes.
func TestClaimInUseWaitsForPod(t *testing.T) {
	e := newEnv(t)
	e.claim("data")
	p := e.pod("default", "db", "data")
	e.deleteClaim("data")
	e.stays("data", "terminating", 300*time.Millisecond)
	removePod(t, e, p)
	e.want("data", "gone")
}

// TestUnusedClaimGoesAtOnce: no pod, or only pods that do not hold it
// (another namespace, a finished pod, another claim), and the claim goes.
func TestUnusedClaimGoesAtOnce(t *testing.T) {
	e := newEnv(t)
	e.claim("data")
	e.pod("skiff-system", "elsewhere", "data") // same name, another namespace
	e.pod("default", "other", "logs")
	done := e.pod("default", "done", "data")
	done.Status.Phase = api.PodSucceeded
	if _, err := e.pods.UpdateStatus(e.ctx, done); err != nil {
		t.Fatal(err)
	}
	e.claim("free")
	e.deleteClaim("free")
	e.want("free", "gone")
	e.deleteClaim("data")
	e.want("data", "gone")
}

// TestPodFinishingFreesClaim: a pod that finishes stops holding the
// claim, without being deleted.
func TestPodFinishingFreesClaim(t *testing.T) {
	e := newEnv(t)
	e.claim("data")
	p := e.pod("default", "job", "data")
	e.deleteClaim("data")
	e.stays("data", "terminating", 200*time.Millisecond)
	p.Status.Phase = api.PodFailed
	if _, err := e.pods.UpdateStatus(e.ctx, p); err != nil {
		t.Fatal(err)
	}
	e.want("data", "gone")
}

// TestClaimNotDeletedKeepsFinalizer: a live claim keeps its finalizer,
// used or not.
func TestClaimNotDeletedKeepsFinalizer(t *testing.T) {
	e := newEnv(t)
	e.claim("used")
	e.claim("unused")
	p := e.pod("default", "db", "used")
	removePod(t, e, p) // queues "used"
	time.Sleep(300 * time.Millisecond)
	for _, name := range []string{"used", "unused"} {
		c, err := e.claims.Get(e.ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(c.Finalizers, api.FinalizerPVCProtection) {
			t.Errorf("claim %s lost its finalizer: %v", name, c.Finalizers)
		}
	}
}

// TestOtherFinalizersStay: only the pvc-protection finalizer is removed;
// a claim held by another stays Terminating.
func TestOtherFinalizersStay(t *testing.T) {
	e := newEnv(t)
	c := e.claim("data")
	c.Finalizers = append(c.Finalizers, "example.com/backup")
	if _, err := e.claims.Update(e.ctx, c); err != nil {
		t.Fatal(err)
	}
	e.deleteClaim("data")
	controllertest.Eventually(t, controllertest.Poll{Within: 20 * time.Second, Every: 10 * time.Millisecond}, "pvc-protection removed", func() (bool, string) {
		c, err := e.claims.Get(e.ctx, "data")
		if err != nil {
			return false, err.Error()
		}
		return c.DeletionTimestamp != nil && fmt.Sprint(c.Finalizers) == "[example.com/backup]", fmt.Sprint(c.Finalizers)
	})
}

// TestLiveCheck: a pod the cache does not show yet still holds the
// claim. Only the claim informer runs here, so the pod cache is empty.
func TestLiveCheck(t *testing.T) {
	reg, _, ctx := controllertest.Registry(t, 30*time.Second)
	e := &env{t: t, ctx: ctx, reg: reg,
		claims: client.For[*api.PersistentVolumeClaim](reg, "default"),
		pods:   client.For[*api.Pod](reg, "default")}
	e.claim("data")
	p := e.pod("default", "db", "data")
	e.deleteClaim("data")
	c, err := New(Config{Backend: reg})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Start(t, ctx, c.claims.Run)
	if !c.claims.WaitForSync(ctx) {
		t.Fatal("claim cache never synced")
	}
	if err := c.sync(ctx, "default/data"); err != nil {
		t.Fatal(err)
	}
	if got := e.state("data"); got != "terminating" {
		t.Fatalf("claim used by a pod missing from the cache is %s, want terminating", got)
	}
	removePod(t, e, p)
	if err := c.sync(ctx, "default/data"); err != nil {
		t.Fatal(err)
	}
	if got := e.state("data"); got != "gone" {
		t.Errorf("unused claim is %s, want gone", got)
	}
}

func TestUses(t *testing.T) {
	pod := func(ns string, phase api.PodPhase, claims ...string) *api.Pod {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: ns}, Spec: api.PodSpec{NodeName: "n1"}}
		p.Status.Phase = phase
		for _, c := range claims {
			p.Spec.Volumes = append(p.Spec.Volumes, api.Volume{Name: c, VolumeSource: api.VolumeSource{
				PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
		}
		p.Spec.Volumes = append(p.Spec.Volumes, api.Volume{Name: "tmp", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}})
		return p
	}
	tests := []struct {
		name string
		pod  *api.Pod
		want bool
	}{
		{"pending", pod("default", api.PodPending, "data"), true},
		{"no phase yet", pod("default", "", "data"), true},
		{"running, two claims", pod("default", api.PodRunning, "logs", "data"), true},
		{"succeeded", pod("default", api.PodSucceeded, "data"), false},
		{"failed", pod("default", api.PodFailed, "data"), false},
		{"other namespace", pod("other", api.PodRunning, "data"), false},
		{"other claim", pod("default", api.PodRunning, "logs"), false},
		{"not scheduled", func() *api.Pod { p := pod("default", api.PodPending, "data"); p.Spec.NodeName = ""; return p }(), false},
	}
	for _, tt := range tests {
		if got := uses(tt.pod, "default", "data"); got != tt.want {
			t.Errorf("%s: uses = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := fmt.Sprint(owner.ClaimIndex(pod("ns", api.PodRunning, "a", "b"))); got != "[ns/a ns/b]" {
		t.Errorf("ClaimIndex = %s, want [ns/a ns/b]", got)
	}
}

// A pod that was never scheduled does not hold its claim: the scheduler
// will not place it while the claim is being deleted, so the two would
// wait on each other for ever. (Found in review.)
func TestUnscheduledPodDoesNotHoldClaim(t *testing.T) {
	e := newEnv(t)
	e.claim("data")
	e.podOn("", "default", "web-0", "data") // never scheduled
	e.deleteClaim("data")
	e.want("data", "gone")
}
