package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/probe"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// Agent runs the pods bound to one node.
type Agent struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	// claimsGone holds the claim directories the last claim collection
	// found without a claim; only its goroutine touches it.
	claimsGone map[string]bool

	pods    *client.Informer[*api.Pod]
	queue   *client.Queue[string] // pod UIDs
	cache   *cache
	backoff *backoff
	pulls   *backoff
	status  *statusManager
	events  *recorder

	mu          sync.Mutex
	waiting     map[string]waitReason // "<pod uid>/<container>" → why it is not running
	terminating map[string]bool       // pod UIDs whose containers are being stopped

	// hooks sends lifecycle hooks' HTTP requests: no proxy from the
	// environment, no connection kept between hooks.
	hooks *http.Client
}

// waitReason is why a container is waiting, for its status.
type waitReason struct{ reason, message string }

const indexUID = "uid"

// New checks cfg and builds an agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log.With("node", cfg.NodeName)
	a := &Agent{
		cfg:         cfg,
		log:         log,
		now:         time.Now,
		queue:       client.NewQueue[string](nil),
		cache:       newCache(),
		waiting:     map[string]waitReason{},
		terminating: map[string]bool{},
		hooks:       &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}
	a.backoff = newBackoff(a.now)
	a.pulls = newBackoff(a.now)
	a.pods = client.NewInformer[*api.Pod](cfg.Client, "", api.ListOptions{FieldSelector: "spec.nodeName=" + cfg.NodeName}, log.With("informer", "pods"))
	a.pods.AddIndex(indexUID, func(p *api.Pod) []string { return []string{p.UID} })
	a.status = newStatusManager(cfg.Client, log)
	a.status.retry = func(uid string) { a.queue.AddAfter(uid, time.Second) }
	a.events = newRecorder(cfg.Client, cfg.NodeName, a.now, log)
	return a, nil
}

// Run registers the node, re-adopts what runs on it, and syncs pods until
// ctx ends. Containers keep running when it returns: stopping skiff is
// not stopping its pods.
func (a *Agent) Run(ctx context.Context) error {
	node, err := a.registerRetrying(ctx)
	if err != nil {
		return err
	}
	if err := a.cfg.Network.SetPodCIDR(node.Spec.PodCIDR); err != nil {
		return fmt.Errorf("agent: pod network: %w", err)
	}
	if err := a.relist(ctx); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.events.run(ctx) })
	g.Go(func() error { return a.status.run(ctx) })
	g.Go(func() error { return a.pods.Run(ctx) })
	if !a.pods.WaitForSync(ctx) {
		return g.Wait()
	}
	a.pods.AddHandler(client.HandlerFuncs[*api.Pod]{
		AddFunc:    func(p *api.Pod) { a.queue.Add(p.UID) },
		UpdateFunc: func(_, p *api.Pod) { a.queue.Add(p.UID) },
		DeleteFunc: func(p *api.Pod) { a.queue.Add(p.UID) },
	})
	a.cleanupOrphans(ctx)
	for _, uid := range a.cache.podUIDs() {
		a.queue.Add(uid)
	}
	for _, p := range a.pods.List() {
		a.queue.Add(p.UID)
	}
	a.log.Info("agent running", "pod-cidr", node.Spec.PodCIDR, "containers", len(a.cache.podUIDs()))

	g.Go(func() error { <-ctx.Done(); a.queue.ShutDown(); return nil })
	for range a.cfg.Workers {
		g.Go(func() error { a.work(ctx); return nil })
	}
	g.Go(func() error { return a.relistLoop(ctx) })
	g.Go(func() error { a.claimGCLoop(ctx); return nil })
	g.Go(func() error { return a.eventLoop(ctx) })
	g.Go(func() error { return a.probeLoop(ctx) })
	g.Go(func() error { return a.nodeStatusLoop(ctx) })
	g.Go(func() error { return a.leaseLoop(ctx) })
	g.Go(func() error { return a.cfg.Prober.Run(ctx) })
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// work takes pods off the queue and syncs them.
func (a *Agent) work(ctx context.Context) {
	for {
		uid, ok := a.queue.Get()
		if !ok {
			return
		}
		err := a.syncPod(ctx, uid)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Warn("sync pod", "uid", uid, "err", err)
			a.queue.AddRateLimited(uid)
		default:
			a.queue.Forget(uid)
		}
		a.queue.Done(uid)
	}
}

// podByUID is the desired pod, if the API still has it.
func (a *Agent) podByUID(uid string) (*api.Pod, bool) {
	ps := a.pods.ByIndex(indexUID, uid)
	if len(ps) == 0 {
		return nil, false
	}
	return ps[0], true
}

// relist reads every container from the runtime and queues the pods
// whose containers changed.
func (a *Agent) relist(ctx context.Context) error {
	all, err := a.cfg.Runtime.List(ctx)
	if err != nil {
		return fmt.Errorf("agent: list containers: %w", err)
	}
	for _, uid := range a.cache.replace(all) {
		a.queue.Add(uid)
	}
	return nil
}

func (a *Agent) relistLoop(ctx context.Context) error {
	t := time.NewTicker(a.cfg.RelistPeriod)
	defer t.Stop()
	lastResync := a.now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := a.relist(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("relist", "err", err)
		}
		// Every minute, every pod once more: configMap and secret
		// volumes follow their sources, and nothing waits on an event
		// that was lost.
		if a.now().Sub(lastResync) >= time.Minute {
			lastResync = a.now()
			for _, p := range a.pods.List() {
				a.queue.Add(p.UID)
			}
		}
	}
}

// eventLoop turns container events into syncs of their pods, and
// resubscribes (after a relist) when the stream breaks.
func (a *Agent) eventLoop(ctx context.Context) error {
	delay := time.Second
	for ctx.Err() == nil {
		ch, err := a.cfg.Runtime.Events(ctx)
		if err != nil {
			a.log.Warn("container events", "err", err, "retry-in", delay)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
			delay = min(delay*2, 30*time.Second)
			continue
		}
		delay = time.Second
		if err := a.relist(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("relist", "err", err)
		}
		for ev := range ch {
			a.onEvent(ctx, ev)
		}
	}
	return nil
}

func (a *Agent) onEvent(ctx context.Context, ev container.Event) {
	uid := ev.PodUID
	if uid == "" {
		uid, _ = a.cache.podOf(ev.ContainerID)
	}
	if ev.Type == container.EventDeleted {
		if uid != "" {
			a.cache.remove(uid, ev.ContainerID)
		}
	} else if s, err := a.cfg.Runtime.Inspect(ctx, ev.ContainerID); err == nil {
		a.cache.set(s)
		uid = s.Pod.UID
	}
	if uid != "" {
		a.queue.Add(uid)
	}
}

// probeLoop queues a pod whenever one of its probe results flips.
func (a *Agent) probeLoop(ctx context.Context) error {
	ch, failures := a.cfg.Prober.Updates(), a.cfg.Prober.Failures()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u := <-ch:
			a.queue.Add(u.PodUID)
		case u := <-failures:
			// As kubelet: every failed probe is an Unhealthy event (the
			// recorder counts repeats and writes them at most every 30 s).
			if pod, ok := a.podByUID(u.PodUID); ok {
				a.events.warn(pod, "Unhealthy", fmt.Sprintf("%s probe failed: %s", probeName(u.Kind), u.Message))
			}
		}
	}
}

// probeName is a probe kind as a message starts with it: "Readiness".
func probeName(k probe.Kind) string {
	s := string(k)
	if s == "" {
		return "Probe"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (a *Agent) setWaiting(uid, name, reason, message string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.waiting[uid+"/"+name] = waitReason{reason, message}
}

func (a *Agent) clearWaiting(uid, name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.waiting, uid+"/"+name)
}

func (a *Agent) waitingFor(uid, name string) (waitReason, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w, ok := a.waiting[uid+"/"+name]
	return w, ok
}

func (a *Agent) forgetPod(uid string) {
	a.mu.Lock()
	for k := range a.waiting {
		if len(k) > len(uid) && k[:len(uid)] == uid {
			delete(a.waiting, k)
		}
	}
	delete(a.terminating, uid)
	a.mu.Unlock()
	a.backoff.forget(uid)
	a.pulls.forget(uid)
	a.status.forget(uid)
	a.events.forget(uid)
	a.cfg.Prober.RemovePod(uid)
}
