package deployment

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
	"github.com/skiffhq/skiff/server/controller/replicaset"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// env is a real store and registry in a temporary directory with the
// deployment and replica set controllers running on it, and a "node"
// that marks pods Running and Ready the way agents would.
type env struct {
	t      testing.TB
	ctx    context.Context
	st     *store.Bolt
	reg    *registry.Registry
	deps   *client.Resource[*api.Deployment]
	rsets  *client.Resource[*api.ReplicaSet]
	pods   *client.Resource[*api.Pod]
	events *fakeRecorder
	node   *fakeNode
}

func newEnv(t testing.TB) *env { return newEnvWith(t, nil) }

// newEnvWith runs everything on the clock now (nil: the real one).
func newEnvWith(t testing.TB, now func() time.Time) *env {
	t.Helper()
	reg, st, ctx := controllertest.Registry(t, 120*time.Second)
	e := &env{t: t, ctx: ctx, st: st, reg: reg, events: &fakeRecorder{},
		deps:  client.For[*api.Deployment](reg, "default"),
		rsets: client.For[*api.ReplicaSet](reg, "default"),
		pods:  client.For[*api.Pod](reg, "default")}
	var log *slog.Logger
	if os.Getenv("DEPLOYMENT_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	dc, err := New(Config{Backend: reg, Events: e.events, Now: now, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	rsc, err := replicaset.New(replicaset.Config{Backend: reg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	e.node = newFakeNode(reg, now)
	for _, run := range []func(context.Context) error{dc.Run, rsc.Run, e.node.run} {
		controllertest.Start(t, ctx, run)
	}
	return e
}

// fakeNode marks every new pod Running and Ready after a delay, unless
// its image is "never-ready", as a node's agent would.
type fakeNode struct {
	b     client.Backend
	now   func() time.Time
	mu    sync.Mutex
	delay time.Duration
	// onReady, if set, is called after each pod is marked ready.
	onReady func()
}

func newFakeNode(b client.Backend, now func() time.Time) *fakeNode {
	if now == nil {
		now = time.Now
	}
	return &fakeNode{b: b, now: now}
}

func (n *fakeNode) setDelay(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delay = d
}

func (n *fakeNode) run(ctx context.Context) error {
	inf := client.NewInformer[*api.Pod](n.b, "", api.ListOptions{}, nil)
	work := make(chan *api.Pod, 10000)
	inf.AddHandler(client.HandlerFuncs[*api.Pod]{
		AddFunc: func(p *api.Pod) {
			if p.Spec.Containers[0].Image != "never-ready" && !podstate.Ready(p) {
				work <- p
			}
		},
		UpdateFunc: func(old, p *api.Pod) {
			if p.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
				work <- p // stopped after the delay, then gone
			}
		},
	})
	go inf.Run(ctx)
	for i := 0; i < 4; i++ {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case p := <-work:
					n.mu.Lock()
					delay := n.delay
					n.mu.Unlock()
					if delay > 0 {
						select {
						case <-ctx.Done():
							return
						case <-time.After(delay):
						}
					}
					n.markReady(ctx, p)
				}
			}
		}()
	}
	<-ctx.Done()
	return nil
}

// markReady binds the pod to "node1" (so that deleting it waits for the
// node, as for a real pod) and marks it Running and Ready; a pod being
// deleted it removes for good, as an agent does once the containers
// stopped.
func (n *fakeNode) markReady(ctx context.Context, p *api.Pod) {
	pods := client.For[*api.Pod](n.b, p.Namespace)
	if p.DeletionTimestamp != nil {
		err := controllertest.RemovePod(ctx, pods, p)
		if err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) && ctx.Err() == nil {
			panic(fmt.Sprintf("remove pod %s: %v", p.Name, err))
		}
		return
	}
	err := client.RetryOnConflict(ctx, func() error {
		fresh, err := pods.Get(ctx, p.Name)
		if err != nil {
			return err
		}
		if fresh.Spec.NodeName == "" {
			fresh.Spec.NodeName = "node1"
			if fresh, err = pods.Update(ctx, fresh); err != nil {
				return err
			}
		}
		_, err = controllertest.SetRunningReady(ctx, pods, fresh, n.now())
		return err
	})
	if err == nil {
		n.mu.Lock()
		f := n.onReady
		n.mu.Unlock()
		if f != nil {
			f()
		}
	} else if !errdefs.IsNotFound(err) && ctx.Err() == nil {
		panic(fmt.Sprintf("mark pod %s ready: %v", p.Name, err))
	}
}

// fakeRecorder keeps the Events it is given.
type fakeRecorder struct {
	mu     sync.Mutex
	events []string
}

func (r *fakeRecorder) Eventf(obj api.ObjectReference, typ, reason, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, typ+" "+reason+" "+fmt.Sprintf(format, args...))
}

func (r *fakeRecorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func newDeployment(name string, replicas int32, image string) *api.Deployment {
	d := &api.Deployment{ObjectMeta: api.ObjectMeta{Name: name}}
	d.Spec.Replicas = &replicas
	d.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": name}}
	d.Spec.Template.Labels = map[string]string{"app": name}
	d.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: image}}
	return d
}

// eventually polls cond every 5 ms until it holds or 30 s pass.
func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	controllertest.Eventually(e.t, controllertest.Poll{Within: 30 * time.Second, Every: 5 * time.Millisecond}, what, cond)
}

// readyPods counts the pods of app that are ready and not being deleted,
// and all of them.
func (e *env) readyPods(app string) (ready, total int) {
	e.t.Helper()
	list, _, _, err := e.pods.List(e.ctx, api.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range list {
		if p.DeletionTimestamp != nil {
			continue
		}
		total++
		if podstate.Ready(p) {
			ready++
		}
	}
	return ready, total
}

// replicaSets lists app's replica sets.
func (e *env) replicaSets(app string) []*api.ReplicaSet {
	e.t.Helper()
	list, _, _, err := e.rsets.List(e.ctx, api.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

// waitComplete waits until the deployment's status says every replica
// is updated and available for its current generation.
func (e *env) waitComplete(name string) *api.Deployment {
	e.t.Helper()
	var d *api.Deployment
	e.eventually("deployment "+name+" complete", func() (bool, string) {
		var err error
		d, err = e.deps.Get(e.ctx, name)
		if err != nil {
			return false, err.Error()
		}
		c := getCondition(&d.Status, api.DeploymentProgressing)
		return complete(d, &d.Status) && c != nil && c.Reason == ReasonNewRSAvailable,
			fmt.Sprintf("generation %d status %+v", d.Generation, d.Status)
	})
	return d
}

// update changes a deployment with fn, retrying on conflict.
func (e *env) update(name string, fn func(d *api.Deployment)) {
	e.t.Helper()
	err := client.RetryOnConflict(e.ctx, func() error {
		d, err := e.deps.Get(e.ctx, name)
		if err != nil {
			return err
		}
		fn(d)
		_, err = e.deps.Update(e.ctx, d)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}
