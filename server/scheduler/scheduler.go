package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// Clock is the time the queue's back-offs, the assumed pods' expiry and
// the report throttling go by. Config.Clock nil means the wall clock.
type Clock interface {
	Now() time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// Config configures a Scheduler.
type Config struct {
	Backend client.Backend
	// Informers is the shared informer set to read from (the server's);
	// nil makes one of the scheduler's own over Backend.
	Informers *client.Informers
	Log       *slog.Logger
	// Clock nil means the wall clock.
	Clock Clock
	// BindWorkers is how many bind writes may be in flight at once, so
	// that binding (one store write each) does not hold up scheduling and
	// the store can batch the writes. Default 16.
	BindWorkers int
	// PercentageOfNodesToScore bounds how many fitting nodes are looked
	// for before choosing among them: 0 is adaptive (all in clusters under
	// 100 nodes, about 42 % at 1,000), 100 is every node.
	PercentageOfNodesToScore int
	// Pipeline replaces DefaultPipeline (tests). It must include a bind
	// plugin.
	Pipeline []Stage
	// AssumeTTL is how long a pod whose bind write returned stays counted
	// on its node without the informer showing it bound. Default 30 s.
	AssumeTTL time.Duration
	// FlushInterval is how often pods whose back-off ended move to the
	// active queue. Default 100 ms.
	FlushInterval time.Duration
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	switch {
	case c.Backend == nil:
		return errors.New("scheduler: a backend is required")
	case c.BindWorkers < 0:
		return fmt.Errorf("scheduler: bind workers %d is negative", c.BindWorkers)
	case c.PercentageOfNodesToScore < 0 || c.PercentageOfNodesToScore > 100:
		return fmt.Errorf("scheduler: percentage of nodes to score %d is not in 0-100", c.PercentageOfNodesToScore)
	case c.AssumeTTL < 0 || c.FlushInterval < 0:
		return errors.New("scheduler: assume TTL and flush interval must not be negative")
	}
	return nil
}

// Scheduler binds pending pods to nodes; see the package comment.
type Scheduler struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	fw       *Framework
	cache    *Cache
	queue    *Queue
	reporter *reporter
	snap     *Snapshot

	pods       *client.Informer[*api.Pod]
	nodes      *client.Informer[*api.Node]
	namespaces *client.Informer[*api.Namespace]
	claims     *client.Informer[*api.PersistentVolumeClaim]
	// volumes is told of claims as the informer shows them (its
	// assumptions end there); it is in the default pipeline.
	volumes *VolumeBinding

	binds chan bindJob
	// synced is closed when the informers have loaded and scheduling starts.
	synced chan struct{}

	attempts, bound, unschedulable, failed atomic.Int64
}

type bindJob struct {
	qp    *QueuedPod
	pi    *PodInfo
	node  string
	state *CycleState
	// clearNomination: the pod was nominated to another node; once it is
	// bound its status.nominatedNodeName is cleared.
	clearNomination bool
}

// New checks cfg and builds a scheduler; Run starts it.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	if cfg.BindWorkers == 0 {
		cfg.BindWorkers = 16
	}
	if cfg.AssumeTTL == 0 {
		cfg.AssumeTTL = 30 * time.Second
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 100 * time.Millisecond
	}
	rep := newReporter(cfg.Backend, cfg.Clock.Now, cfg.Log)
	if cfg.Informers == nil {
		cfg.Informers = client.NewInformers(cfg.Backend, cfg.Log)
	}
	claims := client.Shared[*api.PersistentVolumeClaim](cfg.Informers, "", api.ListOptions{})
	volumes := NewVolumeBinding(claims, cfg.Backend)
	if cfg.Pipeline == nil {
		cfg.Pipeline = DefaultPipeline(NewDefaultBinder(cfg.Backend), NewAPIEvictor(cfg.Backend, rep, cfg.Clock.Now), volumes)
	}
	fw, err := NewFramework(cfg.Pipeline, cfg.PercentageOfNodesToScore, rand.IntN)
	if err != nil {
		return nil, err
	}
	now := cfg.Clock.Now
	s := &Scheduler{
		cfg: cfg, log: cfg.Log, now: now, fw: fw,
		cache:    NewCache(now, cfg.AssumeTTL),
		queue:    NewQueue(now, eventInterests(cfg.Pipeline)),
		reporter: rep,
		snap:     NewSnapshot(),
		binds:    make(chan bindJob, cfg.BindWorkers),
		synced:   make(chan struct{}),
		claims:   claims,
		volumes:  volumes,
	}
	s.pods = client.Shared[*api.Pod](cfg.Informers, "", api.ListOptions{})
	s.nodes = client.Shared[*api.Node](cfg.Informers, "", api.ListOptions{})
	s.namespaces = client.Shared[*api.Namespace](cfg.Informers, "", api.ListOptions{})
	s.pods.AddHandler(client.HandlerFuncs[*api.Pod]{AddFunc: s.onPodAdd, UpdateFunc: s.onPodUpdate, DeleteFunc: s.onPodDelete})
	s.nodes.AddHandler(client.HandlerFuncs[*api.Node]{AddFunc: s.onNodeAdd, UpdateFunc: s.onNodeUpdate, DeleteFunc: s.onNodeDelete})
	s.namespaces.AddHandler(client.HandlerFuncs[*api.Namespace]{
		AddFunc: func(n *api.Namespace) {
			s.cache.SetNamespace(n.Name, n.Labels, false)
			s.queue.MoveAll(NamespaceChange)
		},
		UpdateFunc: func(o, n *api.Namespace) {
			s.cache.SetNamespace(n.Name, n.Labels, false)
			if !reflect.DeepEqual(o.Labels, n.Labels) {
				s.queue.MoveAll(NamespaceChange)
			}
		},
		DeleteFunc: func(n *api.Namespace) { s.cache.SetNamespace(n.Name, nil, true) },
	})
	s.claims.AddHandler(client.HandlerFuncs[*api.PersistentVolumeClaim]{AddFunc: s.onClaimAdd, UpdateFunc: s.onClaimUpdate, DeleteFunc: s.onClaimDelete})
	return s, nil
}

// Run schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.pods.Run(ctx) })
	g.Go(func() error { return s.nodes.Run(ctx) })
	g.Go(func() error { return s.namespaces.Run(ctx) })
	g.Go(func() error { return s.claims.Run(ctx) })
	g.Go(func() error { <-ctx.Done(); s.queue.Close(); return nil })
	if !s.pods.WaitForSync(ctx) || !s.nodes.WaitForSync(ctx) || !s.namespaces.WaitForSync(ctx) || !s.claims.WaitForSync(ctx) {
		return g.Wait()
	}
	close(s.synced)
	s.log.Info("scheduler started", "nodes", len(s.nodes.List()), "pending", s.queue.Lengths().Active)
	g.Go(func() error { return s.reporter.run(ctx) })
	g.Go(func() error { s.housekeep(ctx); return nil })
	for range s.cfg.BindWorkers {
		g.Go(func() error { s.bindWorker(ctx); return nil })
	}
	g.Go(func() error {
		for {
			qp, ok := s.queue.Pop()
			if !ok {
				return nil
			}
			s.scheduleOne(ctx, qp)
		}
	})
	return g.Wait()
}

// housekeep moves pods whose back-off ended, and expires assumed pods
// the informer never confirmed.
func (s *Scheduler) housekeep(ctx context.Context) {
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	lastExpire := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.queue.Flush()
		if time.Since(lastExpire) < time.Second {
			continue
		}
		lastExpire = time.Now()
		for _, key := range s.cache.Expire() {
			s.log.Warn("assumed pod expired: its binding never showed up", "pod", key)
			ns, name := splitKey(key)
			if p, ok := s.pods.Get(ns, name); ok && p.Spec.NodeName == "" && s.responsible(p) {
				s.queue.Add(p)
			}
			s.queue.MoveAll(AssignedPodDelete)
		}
	}
}

func splitKey(key string) (ns, name string) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}

// scheduleOne runs one scheduling cycle: snapshot, filter, score, assume,
// reserve, and hands the binding to a bind worker.
func (s *Scheduler) scheduleOne(ctx context.Context, qp *QueuedPod) {
	pi := qp.PodInfo
	s.attempts.Add(1)
	s.cache.UpdateSnapshot(s.snap)
	state := NewCycleState()
	state.Write(snapshotStateKey, s.snap)
	node, err := s.fw.Schedule(ctx, state, pi, s.snap)
	if err != nil {
		var fe *FitError
		if !errors.As(err, &fe) {
			s.failed.Add(1)
			s.log.Error("schedule pod", "pod", pi.Key, "err", err)
			s.queue.AddBackoff(qp)
			return
		}
		// Preemption: a PostFilter plugin may make room and nominate a
		// node; the pod then waits for the victims to go (nominate.go).
		nominated, st := s.fw.PostFilter(ctx, state, pi, s.snap, fe.Diagnosis.Nodes)
		s.afterPostFilter(pi, nominated, st)
		s.unschedulable.Add(1)
		msg := fe.Error()
		s.log.Debug("pod unschedulable", "pod", pi.Key, "message", msg)
		s.queue.AddUnschedulable(qp, fe.Diagnosis.Plugins)
		s.reporter.report(pi.Pod, msg)
		return
	}
	clearNomination := s.nominationToClear(pi, node)
	assumed := *pi.Pod // shallow: only spec.nodeName differs
	assumed.Spec.NodeName = node
	assumedInfo := *pi
	assumedInfo.Pod = &assumed
	s.cache.AssumePod(&assumedInfo, node)
	if st := s.fw.Reserve(ctx, state, pi, node); !st.IsSuccess() {
		s.cache.ForgetPod(pi.Key)
		s.failed.Add(1)
		s.log.Warn("reserve", "pod", pi.Key, "node", node, "plugin", st.Plugin, "err", st.Error())
		s.queue.AddBackoff(qp)
		return
	}
	select {
	case s.binds <- bindJob{qp: qp, pi: pi, node: node, state: state, clearNomination: clearNomination}:
	case <-ctx.Done():
		s.cache.ForgetPod(pi.Key)
	}
}

// bindWorker runs the pre-bind plugins and writes bindings until ctx
// ends.
func (s *Scheduler) bindWorker(ctx context.Context) {
	for {
		var job bindJob
		select {
		case <-ctx.Done():
			return
		case job = <-s.binds:
		}
		key := job.pi.Key
		st := s.fw.PreBind(ctx, job.state, job.pi, job.node)
		preBound := st.IsSuccess()
		if preBound {
			st = s.fw.Bind(ctx, job.state, job.pi, job.node)
		}
		if st.IsSuccess() {
			s.cache.FinishBinding(key)
			s.queue.Done(key)
			s.reporter.forget(key)
			s.bound.Add(1)
			if job.clearNomination {
				s.reporter.nominate(job.pi.Pod, "")
			}
			continue
		}
		s.fw.Unreserve(ctx, job.state, job.pi, job.node)
		s.cache.ForgetPod(key)
		s.queue.MoveAll(AssignedPodDelete) // what it held is free again
		// A binder's "already bound" or "not found" is about the pod: it
		// is someone else's now. A pre-bind failure never drops it.
		if preBound && (errors.Is(st.Err, ErrAlreadyBound) || errdefs.IsNotFound(st.Err)) {
			s.queue.Delete(key)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		s.failed.Add(1)
		s.log.Warn("bind pod", "pod", key, "node", job.node, "plugin", st.Plugin, "err", st.Error())
		s.queue.AddBackoff(job.qp)
	}
}

// Stats are the scheduler's counters, for metrics and benchmarks.
type Stats struct {
	// Attempts counts scheduling cycles; Bound successful binds;
	// Unschedulable cycles that found no node; Failed errors (of plugins
	// or binds).
	Attempts, Bound, Unschedulable, Failed int64
	Queue                                  QueueLengths
	// CachedPods counts the pods on nodes, bound or assumed.
	CachedPods int
}

// Stats returns the counters.
func (s *Scheduler) Stats() Stats {
	return Stats{
		Attempts: s.attempts.Load(), Bound: s.bound.Load(), Unschedulable: s.unschedulable.Load(), Failed: s.failed.Load(),
		Queue: s.queue.Lengths(), CachedPods: s.cache.PodCount(),
	}
}

// responsible reports whether the pod is this scheduler's to place: its
// spec.schedulerName is "", "default-scheduler" or "skiff". Pods naming
// another scheduler are left alone.
func (s *Scheduler) responsible(p *api.Pod) bool {
	return servesSchedulerName(p.Spec.SchedulerName)
}

func servesSchedulerName(name string) bool {
	switch name {
	case "", "default-scheduler", "skiff":
		return true
	}
	return false
}

func assigned(p *api.Pod) bool { return p.Spec.NodeName != "" }

func terminal(p *api.Pod) bool {
	return p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
}

func podKey(p *api.Pod) string { return p.Namespace + "/" + p.Name }

func (s *Scheduler) onPodAdd(p *api.Pod) {
	switch {
	case assigned(p):
		if !terminal(p) {
			s.cache.AddPod(p)
			s.queue.MoveAll(AssignedPodAdd)
		}
	case p.DeletionTimestamp == nil && !terminal(p) && s.responsible(p):
		s.queue.Add(p)
		s.trackNomination(nil, p)
	}
}

func (s *Scheduler) onPodUpdate(old, p *api.Pod) {
	key := podKey(p)
	switch {
	case assigned(old):
		if terminal(p) {
			s.cache.RemovePod(key)
			s.queue.MoveAll(AssignedPodDelete)
			return
		}
		s.cache.AddPod(p)
		if !reflect.DeepEqual(old.Labels, p.Labels) {
			s.queue.MoveAll(AssignedPodUpdate)
		}
	case assigned(p):
		// Bound (by us, or by someone else): out of the queue, onto its node.
		s.queue.Delete(key)
		s.reporter.forget(key)
		s.cache.Unnominate(key)
		if !terminal(p) {
			s.cache.AddPod(p)
			s.queue.MoveAll(AssignedPodAdd)
		}
	case p.DeletionTimestamp != nil || terminal(p) || !s.responsible(p):
		s.queue.Delete(key)
		s.reporter.forget(key)
		s.cache.Unnominate(key)
	default:
		s.queue.Add(p)
		s.trackNomination(old, p)
	}
}

func (s *Scheduler) onPodDelete(p *api.Pod) {
	key := podKey(p)
	s.queue.Delete(key)
	s.reporter.forget(key)
	s.cache.Unnominate(key)
	if assigned(p) || s.cache.IsAssumed(key) {
		s.cache.RemovePod(key)
		s.queue.MoveAll(AssignedPodDelete)
	}
}

func claimKey(c *api.PersistentVolumeClaim) string { return c.Namespace + "/" + c.Name }

func (s *Scheduler) onClaimAdd(c *api.PersistentVolumeClaim) {
	s.volumes.ClaimObserved(claimKey(c), c)
	s.queue.MoveAll(ClaimChange)
}

func (s *Scheduler) onClaimUpdate(old, c *api.PersistentVolumeClaim) {
	s.volumes.ClaimObserved(claimKey(c), c)
	if claimSchedulingChanged(old, c) {
		s.queue.MoveAll(ClaimChange)
	}
}

func (s *Scheduler) onClaimDelete(c *api.PersistentVolumeClaim) {
	s.volumes.ClaimObserved(claimKey(c), nil)
	s.queue.MoveAll(ClaimChange)
}

// claimSchedulingChanged reports whether a claim changed in a way that
// can make a pod fit: its node or its deletion, not its status.
func claimSchedulingChanged(a, b *api.PersistentVolumeClaim) bool {
	return a.UID != b.UID ||
		a.Annotations[api.AnnotationSelectedNode] != b.Annotations[api.AnnotationSelectedNode] ||
		(a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil)
}

func (s *Scheduler) onNodeAdd(n *api.Node) {
	s.cache.AddNode(n)
	s.queue.MoveAll(NodeAdd)
}

func (s *Scheduler) onNodeUpdate(old, n *api.Node) {
	s.cache.AddNode(n)
	if nodeSchedulingChanged(old, n) {
		s.queue.MoveAll(NodeUpdate)
	}
}

func (s *Scheduler) onNodeDelete(n *api.Node) {
	s.cache.RemoveNode(n.Name)
}

// nodeSchedulingChanged reports whether a node changed in a way that can
// make a pod fit it: not heartbeats and conditions.
func nodeSchedulingChanged(a, b *api.Node) bool {
	return a.Spec.Unschedulable != b.Spec.Unschedulable ||
		!reflect.DeepEqual(a.Labels, b.Labels) ||
		!reflect.DeepEqual(a.Spec.Taints, b.Spec.Taints) ||
		!reflect.DeepEqual(a.Status.Allocatable, b.Status.Allocatable) ||
		!reflect.DeepEqual(a.Status.Images, b.Status.Images)
}
