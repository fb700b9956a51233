package statefulset

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/registry"
)

// env is a real store and registry in a temporary directory with the
// controller running on it. No scheduler or agent runs: fakeNodes does
// their part.
type env struct {
	t      testing.TB
	ctx    context.Context
	reg    *registry.Registry
	sets   *client.Resource[*api.StatefulSet]
	pods   *client.Resource[*api.Pod]
	claims *client.Resource[*api.PersistentVolumeClaim]
	nodes  *client.Resource[*api.Node]
	stop   func() // stops the controller
}

func newEnv(t testing.TB, nodes ...string) *env {
	t.Helper()
	reg, _, ctx := controllertest.Registry(t, 120*time.Second)
	e := &env{t: t, ctx: ctx, reg: reg,
		sets:   client.For[*api.StatefulSet](reg, "default"),
		pods:   client.For[*api.Pod](reg, "default"),
		claims: client.For[*api.PersistentVolumeClaim](reg, "default"),
		nodes:  client.For[*api.Node](reg, "")}
	for _, n := range nodes {
		if _, err := e.nodes.Create(ctx, controllertest.ReadyNode(n, nil)); err != nil {
			t.Fatal(err)
		}
	}
	e.startController()
	return e
}

// startController runs a controller (a new one, with an empty memory).
func (e *env) startController() { e.startControllerOn(e.reg) }

// startControllerOn runs a controller over b.
func (e *env) startControllerOn(b client.Backend) {
	c, err := New(Config{Backend: b, Log: controllertest.Log(e.t)})
	if err != nil {
		e.t.Fatal(err)
	}
	e.stop = controllertest.Start(e.t, e.ctx, c.Run)
}

// fakeNodes plays scheduler and agent: it binds a pod to the node its
// claims' volumes are on (api.AnnotationSelectedNode), or else to the
// next node in turn, and writes that node on its claims; it leaves a pod
// unbound while a claim of its is missing or being deleted, as the
// scheduler does. It marks a bound pod Running and Ready (if autoReady),
// and finishes a deletion unless the pod is held.
type fakeNodes struct {
	e         *env
	nodes     []string
	mu        sync.Mutex
	autoReady bool
	noBind    bool            // leave binding to a real scheduler
	held      map[string]bool // pod names whose deletion waits
	next      int
}

func (e *env) startNodes(autoReady bool, nodes ...string) *fakeNodes {
	return e.startFakeNodes(&fakeNodes{e: e, nodes: nodes, autoReady: autoReady, held: map[string]bool{}})
}

func (e *env) startFakeNodes(f *fakeNodes) *fakeNodes {
	controllertest.Every(e.t, e.ctx, 5*time.Millisecond, f.step)
	return f
}

func (f *fakeNodes) hold(name string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held[name] = on
}

func (f *fakeNodes) step(ctx context.Context) {
	pods, _, _, err := f.e.pods.List(ctx, api.ListOptions{})
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range pods {
		switch {
		case p.DeletionTimestamp != nil:
			if f.held[p.Name] {
				continue
			}
			controllertest.RemovePod(ctx, f.e.pods, p)
		case p.Spec.NodeName == "" && f.noBind:
		case p.Spec.NodeName == "":
			node, ok := f.claimsNode(ctx, p)
			if !ok {
				continue
			}
			if node == "" {
				node = f.nodes[f.next%len(f.nodes)]
				f.next++
			}
			if !f.selectNode(ctx, p, node) {
				continue
			}
			p.Spec.NodeName = node
			f.e.pods.Update(ctx, p)
		case p.Status.Phase != api.PodRunning && f.autoReady:
			f.setReady(ctx, p)
		}
	}
}

func (f *fakeNodes) setReady(ctx context.Context, p *api.Pod) {
	controllertest.SetRunningReady(ctx, f.e.pods, p, time.Now())
}

// ready marks the bound pod name Running and Ready.
func (e *env) ready(name string) {
	e.t.Helper()
	e.eventually(name+" bound", func() (bool, string) {
		p, err := e.pods.Get(e.ctx, name)
		if err != nil {
			return false, err.Error()
		}
		if p.Spec.NodeName == "" {
			return false, "unbound"
		}
		_, err = controllertest.SetRunningReady(e.ctx, e.pods, p, time.Now())
		return err == nil, fmt.Sprint(err)
	})
}

// claimsNode is the node p's claims name ("" if none does), and whether
// p can be bound: each claim exists and is not being deleted.
func (f *fakeNodes) claimsNode(ctx context.Context, p *api.Pod) (string, bool) {
	node := ""
	for _, cl := range podClaims(p) {
		c, err := f.e.claims.Get(ctx, cl)
		if err != nil || c.DeletionTimestamp != nil {
			return "", false
		}
		if n := c.Annotations[api.AnnotationSelectedNode]; n != "" {
			node = n
		}
	}
	return node, true
}

// selectNode writes node on p's claims that name none.
func (f *fakeNodes) selectNode(ctx context.Context, p *api.Pod, node string) bool {
	for _, cl := range podClaims(p) {
		c, err := f.e.claims.Get(ctx, cl)
		if err != nil {
			return false
		}
		if c.Annotations[api.AnnotationSelectedNode] != "" {
			continue
		}
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[api.AnnotationSelectedNode] = node
		if _, err := f.e.claims.Update(ctx, c); err != nil {
			return false
		}
	}
	return true
}

// podClaims are the claims p's volumes name.
func podClaims(p *api.Pod) []string {
	var out []string
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		}
	}
	return out
}

// eventually polls cond every 10 ms until it holds or 30 s pass.
func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	controllertest.Eventually(e.t, controllertest.Poll{Within: 30 * time.Second, Every: 10 * time.Millisecond}, what, cond)
}

// never checks that cond stays false for d.
func (e *env) never(what string, d time.Duration, cond func() (bool, string)) {
	e.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if ok, state := cond(); ok {
			e.t.Fatalf("%s: %s", what, state)
		}
	}
}

// podSet describes the pods: "web-0 web-1(T)" (T: terminating).
func (e *env) podSet() string {
	pods, _, _, err := e.pods.List(e.ctx, api.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, p := range pods {
		s := p.Name
		if p.DeletionTimestamp != nil {
			s += "(T)"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func (e *env) wantPods(want string) {
	e.t.Helper()
	e.eventually("pods "+want, func() (bool, string) {
		got := e.podSet()
		return got == want, got
	})
}

func newSet(name string, n int32) *api.StatefulSet {
	s := &api.StatefulSet{ObjectMeta: api.ObjectMeta{Name: name}}
	s.Spec.Replicas = &n
	s.Spec.ServiceName = name
	s.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": name}}
	s.Spec.Template.Labels = map[string]string{"app": name}
	s.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
	return s
}

func (e *env) updateSet(name string, fn func(*api.StatefulSet)) {
	e.t.Helper()
	err := client.RetryOnConflict(e.ctx, func() error {
		s, err := e.sets.Get(e.ctx, name)
		if err != nil {
			return err
		}
		fn(s)
		_, err = e.sets.Update(e.ctx, s)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// claimSet is a set of n whose pods mount claim template "data".
func claimSet(t testing.TB, name string, n int32) *api.StatefulSet {
	t.Helper()
	s := newSet(name, n)
	size, err := api.ParseQuantity("1Gi")
	if err != nil {
		t.Fatal(err)
	}
	s.Spec.VolumeClaimTemplates = []api.PersistentVolumeClaim{{
		ObjectMeta: api.ObjectMeta{Name: "data", Labels: map[string]string{"tier": "db", "app": "overridden"}},
		Spec: api.PersistentVolumeClaimSpec{
			AccessModes: []api.PersistentVolumeAccessMode{api.ReadWriteOnce},
			Resources:   api.VolumeResourceRequirements{Requests: api.ResourceList{api.ResourceStorage: size}},
		},
	}}
	s.Spec.Template.Spec.Containers[0].VolumeMounts = []api.VolumeMount{{Name: "data", MountPath: "/data"}}
	return s
}

// checkClaim checks that claim name of set s (as stored, defaulted)
// exists as the controller makes it: the template's spec, the template's
// labels with the selector's over them, and no owner.
func (e *env) checkClaim(s *api.StatefulSet, name string) *api.PersistentVolumeClaim {
	e.t.Helper()
	c, err := e.claims.Get(e.ctx, name)
	if err != nil {
		e.t.Fatalf("claim %s: %v", name, err)
	}
	t := s.Spec.VolumeClaimTemplates[0]
	if c.Namespace != s.Namespace || len(c.OwnerReferences) != 0 {
		e.t.Errorf("claim %s: namespace %q owners %v; want %q and no owner", name, c.Namespace, c.OwnerReferences, s.Namespace)
	}
	want := map[string]string{}
	maps.Copy(want, t.Labels)
	maps.Copy(want, s.Spec.Selector.MatchLabels)
	if !reflect.DeepEqual(c.Labels, want) {
		e.t.Errorf("claim %s labels = %v, want %v", name, c.Labels, want)
	}
	if !reflect.DeepEqual(c.Spec, t.Spec) {
		e.t.Errorf("claim %s spec = %+v, want the template's %+v", name, c.Spec, t.Spec)
	}
	return c
}

// claimNames lists the claims: "data-web-0 data-web-1".
func (e *env) claimNames() string {
	e.t.Helper()
	cs, _, _, err := e.claims.List(e.ctx, api.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// events lists the controller's Events about sets: "Reason: message; …".
func (e *env) events() string {
	evs, _, _, err := client.For[*api.Event](e.reg, "default").List(e.ctx, api.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var msgs []string
	for _, ev := range evs {
		if ev.InvolvedObject.Kind == "StatefulSet" && ev.Source.Component == "statefulset-controller" {
			msgs = append(msgs, ev.Reason+": "+ev.Message)
		}
	}
	return strings.Join(msgs, "; ")
}
