package endpoints

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/garbagecollector"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// env is a real store and registry in a temporary directory with the
// controller running on it, writing through a backend that counts its
// writes.
type env struct {
	t        testing.TB
	ctx      context.Context
	reg      *registry.Registry
	st       *store.Bolt
	writes   *countingBackend
	c        *Controller
	stop     func()
	services *client.Resource[*api.Service]
	pods     *client.Resource[*api.Pod]
	eps      *client.Resource[*api.Endpoints]
}

// countingBackend counts the writes made through it.
type countingBackend struct {
	client.Backend
	n atomic.Int64
}

func (b *countingBackend) Create(ctx context.Context, resource, namespace string, obj api.Object) (api.Object, error) {
	b.n.Add(1)
	return b.Backend.Create(ctx, resource, namespace, obj)
}

func (b *countingBackend) Update(ctx context.Context, resource, namespace string, obj api.Object, sub string) (api.Object, error) {
	b.n.Add(1)
	return b.Backend.Update(ctx, resource, namespace, obj, sub)
}

func (b *countingBackend) Delete(ctx context.Context, resource, namespace, name string, opts api.DeleteOptions) (api.Object, error) {
	b.n.Add(1)
	return b.Backend.Delete(ctx, resource, namespace, name, opts)
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := newStoppedEnv(t)
	e.start()
	return e
}

// newStoppedEnv is an env whose controller is not started yet.
func newStoppedEnv(t testing.TB) *env {
	t.Helper()
	reg, st, ctx := controllertest.Registry(t, 120*time.Second)
	e := &env{t: t, ctx: ctx, reg: reg, st: st,
		services: client.For[*api.Service](reg, "default"),
		pods:     client.For[*api.Pod](reg, "default"),
		eps:      client.For[*api.Endpoints](reg, "default")}
	return e
}

// start runs a new controller on the registry.
func (e *env) start() {
	e.t.Helper()
	e.writes = &countingBackend{Backend: e.reg}
	c, err := New(Config{Backend: e.writes, Log: controllertest.Log(e.t)})
	if err != nil {
		e.t.Fatal(err)
	}
	e.c = c
	e.stop = controllertest.Start(e.t, e.ctx, c.Run)
}

// settled waits until the controller's caches have synced and its queue
// has stayed empty for a while.
func (e *env) settled() {
	e.t.Helper()
	quiet := 0
	controllertest.Eventually(e.t, controllertest.Poll{Within: 20 * time.Second, Every: 20 * time.Millisecond}, "the controller to settle", func() (bool, string) {
		if e.c.services.HasSynced() && e.c.pods.HasSynced() && e.c.endpoints.HasSynced() && e.c.queue.Len() == 0 {
			quiet++
		} else {
			quiet = 0
		}
		return quiet >= 10, fmt.Sprintf("queue %d", e.c.queue.Len())
	})
}

func (e *env) service(name string, selector map[string]string, ports ...api.ServicePort) *api.Service {
	e.t.Helper()
	if len(ports) == 0 {
		ports = []api.ServicePort{{Port: 80, TargetPort: api.FromInt(8080)}}
	}
	s, err := e.services.Create(e.ctx, &api.Service{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.ServiceSpec{Selector: selector, Ports: ports}})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// pod creates pod name with labels on node n1, running at ip, ready or
// not, as an agent would report it.
func (e *env) pod(name string, labels map[string]string, ip string, ready bool, opts ...podOpt) *api.Pod {
	e.t.Helper()
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Labels: labels}}
	p.Spec.NodeName = "n1"
	p.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
	for _, o := range opts {
		o(p)
	}
	p, err := e.pods.Create(e.ctx, p)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.setStatus(p, ip, ready)
}

func (e *env) setStatus(p *api.Pod, ip string, ready bool) *api.Pod {
	e.t.Helper()
	next := api.Clone(p)
	next.Status.Phase = api.PodRunning
	next.Status.PodIP = ip
	st := api.ConditionFalse
	if ready {
		st = api.ConditionTrue
	}
	next.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: st}}
	got, err := e.pods.UpdateStatus(e.ctx, next)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

func (e *env) setReady(name string, ready bool) *api.Pod {
	e.t.Helper()
	p, err := e.pods.Get(e.ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.setStatus(p, p.Status.PodIP, ready)
}

// rendered is the stored Endpoints of name as render writes them, or
// "absent".
func (e *env) rendered(name string) string {
	ep, err := e.eps.Get(e.ctx, name)
	if errdefs.IsNotFound(err) {
		return "absent"
	}
	if err != nil {
		return err.Error()
	}
	return render(ep.Subsets)
}

func (e *env) want(name, want string) {
	e.t.Helper()
	controllertest.Eventually(e.t, controllertest.Poll{Within: 20 * time.Second, Every: 5 * time.Millisecond}, "endpoints "+name+" "+want, func() (bool, string) {
		got := e.rendered(name)
		return got == want, got
	})
}

var web = map[string]string{"app": "web"}

// TestEndpointsFollowPods: the Endpoints of a service list its pods as
// they come, turn ready and unready, terminate and go, and are
// controlled by the service.
func TestEndpointsFollowPods(t *testing.T) {
	e := newEnv(t)
	svc := e.service("web", web)
	e.want("web", "") // created, empty
	ep, err := e.eps.Get(e.ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if ref := api.ControllerOf(&ep.ObjectMeta); ref == nil || ref.UID != svc.UID || ref.Kind != "Service" {
		t.Errorf("controller of the endpoints: %+v, want service %s", ref, svc.UID)
	}

	e.pod("a", web, "10.42.0.1", true)
	e.pod("b", web, "10.42.0.2", false)
	e.pod("db", map[string]string{"app": "db"}, "10.42.0.3", true)
	e.want("web", "[a | b | =8080/TCP]")

	e.setReady("b", true)
	e.want("web", "[a,b |  | =8080/TCP]")
	e.setReady("a", false)
	e.want("web", "[b | a | =8080/TCP]")

	// A pod being deleted is marked not ready, then goes.
	e.setReady("a", true)
	e.want("web", "[a,b |  | =8080/TCP]")
	b, err := e.pods.Get(e.ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	grace := int64(30)
	if _, err := e.pods.Delete(e.ctx, "b", api.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	e.want("web", "[a | b | =8080/TCP]")
	if err := controllertest.RemovePod(e.ctx, e.pods, b); err != nil {
		t.Fatal(err)
	}
	e.want("web", "[a |  | =8080/TCP]")

	// A pod relabelled away leaves; the service's selector changed
	// brings others in.
	a, err := e.pods.Get(e.ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	a.Labels = map[string]string{"app": "other"}
	if _, err := e.pods.Update(e.ctx, a); err != nil {
		t.Fatal(err)
	}
	e.want("web", "")
	svc, err = e.services.Get(e.ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Selector = map[string]string{"app": "db"}
	if _, err := e.services.Update(e.ctx, svc); err != nil {
		t.Fatal(err)
	}
	e.want("web", "[db |  | =8080/TCP]")
}

// TestNamedTargetPort: a named target port resolves to each pod's port
// of that name; pods without it are left out.
func TestNamedTargetPort(t *testing.T) {
	e := newEnv(t)
	e.service("web", web, api.ServicePort{Name: "http", Port: 80, TargetPort: api.FromString("http")})
	e.pod("v1", web, "10.42.0.1", true, containerPort("http", 8080, api.ProtocolTCP))
	e.pod("v2", web, "10.42.0.2", true, containerPort("http", 9090, api.ProtocolTCP))
	e.pod("bare", web, "10.42.0.3", true)
	e.want("web", "[v1 |  | http=8080/TCP] [v2 |  | http=9090/TCP]")
}

// TestSelectorlessServiceLeftAlone: the Endpoints of a service without a
// selector are its user's; the controller neither writes nor deletes
// them.
func TestSelectorlessServiceLeftAlone(t *testing.T) {
	e := newEnv(t)
	e.service("external", nil)
	node := "n1"
	mine, err := e.eps.Create(e.ctx, &api.Endpoints{ObjectMeta: api.ObjectMeta{Name: "external"}, Subsets: []api.EndpointSubset{{
		Addresses: []api.EndpointAddress{{IP: "192.168.1.50", NodeName: &node}}, Ports: []api.EndpointPort{{Port: 5432}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	e.pod("a", web, "10.42.0.1", true)
	e.service("web", web) // some work for the controller meanwhile
	e.want("web", "[a |  | =8080/TCP]")
	e.settled()
	got, err := e.eps.Get(e.ctx, "external")
	if err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != mine.ResourceVersion || len(got.OwnerReferences) != 0 {
		t.Errorf("user's endpoints were changed: rv %s → %s, owners %v", mine.ResourceVersion, got.ResourceVersion, got.OwnerReferences)
	}
}

// TestEndpointsRestored: Endpoints changed or deleted by hand are put
// back.
func TestEndpointsRestored(t *testing.T) {
	e := newEnv(t)
	e.service("web", web)
	e.pod("a", web, "10.42.0.1", true)
	e.want("web", "[a |  | =8080/TCP]")
	ep, err := e.eps.Get(e.ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	ep.Subsets = nil
	if _, err := e.eps.Update(e.ctx, ep); err != nil {
		t.Fatal(err)
	}
	e.want("web", "[a |  | =8080/TCP]")
	if _, err := e.eps.Delete(e.ctx, "web", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.want("web", "[a |  | =8080/TCP]")
}

// TestEndpointsGoWithService: the garbage collector deletes the
// Endpoints with their service, through the owner reference.
func TestEndpointsGoWithService(t *testing.T) {
	e := newEnv(t)
	gc, err := garbagecollector.New(garbagecollector.Config{Backend: e.reg, Log: controllertest.Log(t)})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Start(t, e.ctx, gc.Run)
	e.service("web", web)
	e.pod("a", web, "10.42.0.1", true)
	e.want("web", "[a |  | =8080/TCP]")
	if _, err := e.services.Delete(e.ctx, "web", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.want("web", "absent")
}

// TestResyncWritesNothing: a controller started again on an unchanged
// cluster reads everything and writes nothing.
func TestResyncWritesNothing(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.service(fmt.Sprintf("s%d", i), map[string]string{"app": fmt.Sprintf("s%d", i)})
		e.pod(fmt.Sprintf("p%d", i), map[string]string{"app": fmt.Sprintf("s%d", i)}, fmt.Sprintf("10.42.0.%d", i+1), i%2 == 0)
	}
	headless, err := e.services.Create(e.ctx, &api.Service{ObjectMeta: api.ObjectMeta{Name: "peers"}, Spec: api.ServiceSpec{Selector: web, ClusterIP: api.ClusterIPNone}})
	if err != nil {
		t.Fatal(err)
	}
	e.pod("w", web, "10.42.0.9", true)
	for i := range 5 {
		want := fmt.Sprintf("[p%d |  | =8080/TCP]", i)
		if i%2 == 1 {
			want = fmt.Sprintf("[ | p%d | =8080/TCP]", i)
		}
		e.want(fmt.Sprintf("s%d", i), want)
	}
	e.want(headless.Name, "[w |  | ]")
	e.settled()
	e.stop()

	commits := e.st.Stats().Commits
	e.start()
	e.settled()
	if n := e.writes.n.Load(); n != 0 {
		t.Errorf("the restarted controller wrote %d times, want 0", n)
	}
	if got := e.st.Stats().Commits; got != commits {
		t.Errorf("store commits %d → %d over a resync, want none", commits, got)
	}
	// A pod status write that changes nothing endpoints show writes no
	// Endpoints.
	p, err := e.pods.Get(e.ctx, "p0")
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Message = "still fine"
	if _, err := e.pods.UpdateStatus(e.ctx, p); err != nil {
		t.Fatal(err)
	}
	e.settled()
	if n := e.writes.n.Load(); n != 0 {
		t.Errorf("after an unrelated pod change the controller wrote %d times, want 0", n)
	}
}

// TestReadinessLatency measures how long a readiness change takes to
// reach the Endpoints (aim: well under a second), over a watch of the
// Endpoints. It prints the figures; a timing never fails the test.
//
//	go test -run ReadinessLatency -v ./server/controller/endpoints/
func TestReadinessLatency(t *testing.T) {
	e := newEnv(t)
	e.service("web", web)
	for i := range 3 {
		e.pod(fmt.Sprintf("p%d", i), web, fmt.Sprintf("10.42.0.%d", i+1), true)
	}
	e.want("web", "[p0,p1,p2 |  | =8080/TCP]")
	var worst, total time.Duration
	const flips = 20
	for i := range flips {
		ready := i%2 == 1
		want := "[p0,p2 | p1 | =8080/TCP]"
		if ready {
			want = "[p0,p1,p2 |  | =8080/TCP]"
		}
		d := e.timeFlip("web", "p1", ready, func(ep *api.Endpoints) bool { return render(ep.Subsets) == want })
		total += d
		worst = max(worst, d)
	}
	t.Logf("readiness change → endpoints updated: mean %v, worst %v over %d flips (aim < 1s)",
		(total / flips).Round(time.Microsecond), worst.Round(time.Microsecond), flips)
}

// timeFlip sets pod's readiness and returns how long until service's
// Endpoints are as done wants them, seen through a watch.
func (e *env) timeFlip(service, pod string, ready bool, done func(*api.Endpoints) bool) time.Duration {
	e.t.Helper()
	cur, err := e.eps.Get(e.ctx, service)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	w, err := e.eps.Watch(ctx, api.ListOptions{ResourceVersion: cur.ResourceVersion, FieldSelector: "metadata.name=" + service})
	if err != nil {
		e.t.Fatal(err)
	}
	defer w.Stop()
	start := time.Now()
	e.setReady(pod, ready)
	for ev := range w.ResultChan() {
		if ep, ok := ev.Object.(*api.Endpoints); ok && ev.Type != api.Bookmark && done(ep) {
			return time.Since(start)
		}
	}
	e.t.Fatalf("endpoints %s never showed pod %s ready=%v", service, pod, ready)
	return 0
}

// TestNoPodsSelectedWarning: a service whose selector matches no pod for
// NoPodsWarningAfter gets one Warning naming the selector; a service
// whose pods come in time gets none.
func TestNoPodsSelectedWarning(t *testing.T) {
	e := newStoppedEnv(t)
	e.writes = &countingBackend{Backend: e.reg}
	c, err := New(Config{Backend: e.writes, NoPodsWarningAfter: 300 * time.Millisecond, Log: controllertest.Log(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	e.service("lonely", map[string]string{"app": "nothing"})
	e.service("web", web)
	e.pod("w", web, "10.42.0.9", true)
	events := client.For[*api.Event](e.reg, "default")
	warnings := func(name string) []*api.Event {
		list, _, _, err := events.List(e.ctx, api.ListOptions{FieldSelector: "involvedObject.name=" + name})
		if err != nil {
			t.Fatal(err)
		}
		var out []*api.Event
		for _, ev := range list {
			if ev.Reason == ReasonNoPodsSelected {
				out = append(out, ev)
			}
		}
		return out
	}
	controllertest.Eventually(t, controllertest.Poll{Within: 10 * time.Second, Every: 20 * time.Millisecond}, "a Warning for lonely", func() (bool, string) {
		return len(warnings("lonely")) == 1, fmt.Sprint(warnings("lonely"))
	})
	ev := warnings("lonely")[0]
	if ev.Type != api.EventTypeWarning || ev.Message != "selector app=nothing matches no pod in namespace default: connections to the service are refused until one does" {
		t.Errorf("warning %s %q", ev.Type, ev.Message)
	}
	time.Sleep(time.Second) // past the grace for both, and a resync
	if n := len(warnings("lonely")); n != 1 || warnings("lonely")[0].Count > 1 {
		t.Errorf("lonely was warned %d times (count %d), want once", n, warnings("lonely")[0].Count)
	}
	if w := warnings("web"); len(w) != 0 {
		t.Errorf("web, whose pod came in time, was warned: %v", w)
	}
}
