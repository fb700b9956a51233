package hollow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/skiffhq/skiff/runtime/agent"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// Config says how many hollow nodes to run and what they look like.
type Config struct {
	// Backend reaches the API: the registry in-process, or HTTPS.
	Backend client.Backend
	// Count is how many nodes to run.
	Count int
	// NamePrefix names the nodes: <prefix>0000, <prefix>0001, …
	// (default "hollow-").
	NamePrefix string
	// Dir holds every node's data and state directories (the agent
	// writes each pod's /etc files there), <dir>/<node>/{data,state}.
	Dir string
	// Labels are node i's extra labels (zones, say); nil means none.
	Labels func(i int) map[string]string
	// Taints are node i's taints: its Node is created with them (or,
	// registered before without them, given them once it is ready); nil
	// means none.
	Taints func(i int) []api.Taint
	// Capacity is node i's capacity (cpu, memory, pods; see Resources);
	// its allocatable is the same. Nil means DefaultCapacity. The pods
	// count is also the agent's MaxPods.
	Capacity func(i int) api.ResourceList
	// Lease renews the nodes' leases (the server's lease table); nil
	// means the nodes hold none, so a node lifecycle controller would
	// take them for dead.
	Lease         agent.LeaseRenewer
	LeaseDuration time.Duration
	// Workers is each agent's number of pod workers (default 2).
	Workers int
	// RelistPeriod is each agent's relist period (default the agent's,
	// 10 s).
	RelistPeriod time.Duration
	// ClaimGCPeriod is each agent's period for deleting the volumes of
	// deleted claims (default the agent's, a minute).
	ClaimGCPeriod time.Duration
	// Starting is how many nodes register at once (default 200: the
	// agent polls for its subnet every 200 ms, so fewer wait idle, and
	// all 1,000 at once crowd the store).
	Starting int
	// Log is scoped with component=hollow and the node's name; nil
	// discards.
	Log *slog.Logger
}

// DefaultCapacity is a node's capacity when Config.Capacity is nil: 4
// CPUs, 16 GiB, 110 pods and 100 GiB of ephemeral storage.
func DefaultCapacity(int) api.ResourceList {
	r := Resources(4000, 16<<30, 110)
	r[api.ResourceEphemeralStorage] = api.NewBinaryQuantity(100 << 30)
	return r
}

// Resources is a capacity: milliCPU, memory bytes and pods.
func Resources(milliCPU, memory int64, pods int) api.ResourceList {
	cpu := api.NewQuantity(milliCPU / 1000)
	if milliCPU%1000 != 0 {
		cpu, _ = api.ParseQuantity(fmt.Sprintf("%dm", milliCPU))
	}
	return api.ResourceList{
		api.ResourceCPU:    cpu,
		api.ResourceMemory: api.NewBinaryQuantity(memory),
		api.ResourcePods:   api.NewQuantity(int64(pods)),
	}
}

// Validate says what is missing or wrong.
func (c Config) Validate() error {
	var errs []error
	if c.Backend == nil {
		errs = append(errs, errors.New("hollow: a backend is required"))
	}
	if c.Count < 0 || c.Count > 1<<17-2 {
		errs = append(errs, fmt.Errorf("hollow: count %d: want 0 to %d", c.Count, 1<<17-2))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("hollow: a directory is required (t.TempDir() in a test)"))
	}
	if c.Workers < 0 || c.Starting < 0 {
		errs = append(errs, errors.New("hollow: workers and starting must not be negative"))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.NamePrefix == "" {
		c.NamePrefix = "hollow-"
	}
	if c.Capacity == nil {
		c.Capacity = DefaultCapacity
	}
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.Starting == 0 {
		c.Starting = 200
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Node is one hollow node: a real agent with a hollow Runtime, Network
// and Prober. Its agent can be stopped and started again on the same
// runtime (an agent restart: running containers are re-adopted) or after
// Runtime.Reset (a machine that rebooted).
type Node struct {
	Name    string
	Index   int
	IP      string // its InternalIP, in 198.18.0.0/15 (RFC 2544)
	Runtime *Runtime
	Network *Network

	cfg     agent.Config
	backend client.Backend
	taints  []api.Taint
	parent  context.Context
	mu      sync.Mutex
	agent   *agent.Agent
	cancel  context.CancelFunc
	done    chan struct{} // closed when the agent's Run returns
	runErr  error
	readyCh chan struct{} // closed when the running agent has its subnet
	tainted bool
}

// Agent is the node's current agent.
func (n *Node) Agent() *agent.Agent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.agent
}

// DataDir is the node's data directory (its agent's --data-dir).
func (n *Node) DataDir() string { return n.cfg.DataDir }

// Start starts the node's agent (again): it registers, waits for its pod
// subnet and syncs its pods until Stop or until the context given to
// Cluster's Start ends.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cancel != nil {
		return fmt.Errorf("hollow: node %s: already started", n.Name)
	}
	// Ready is all of: the subnet came (registered), the prober was
	// started (the last thing the agent's Run starts, after its pod
	// informer synced) and the lease was renewed once.
	cidr, running, leased := newSignal(), newSignal(), newSignal()
	cfg := n.cfg
	cfg.Network = &readyNetwork{Network: n.Network, ready: cidr}
	cfg.Prober = &runningProber{Prober: NewProber(n.Runtime), running: running}
	if cfg.Lease != nil {
		cfg.Lease = &leaseSignal{LeaseRenewer: cfg.Lease, renewed: leased}
	} else {
		leased.fire()
	}
	a, err := agent.New(cfg)
	if err != nil {
		return fmt.Errorf("hollow: node %s: %w", n.Name, err)
	}
	ctx, cancel := context.WithCancel(n.parent)
	readyCh := make(chan struct{})
	go func() {
		for _, s := range []*signal{cidr, running, leased} {
			select {
			case <-s.ch:
			case <-ctx.Done():
				return // WaitReady sees the agent stop
			}
		}
		close(readyCh)
	}()
	n.agent, n.cancel, n.readyCh, n.done, n.runErr = a, cancel, readyCh, make(chan struct{}), nil
	done := n.done
	go func() {
		err := a.Run(ctx)
		n.mu.Lock()
		n.runErr = err
		n.mu.Unlock()
		close(done)
	}()
	return nil
}

// Stop stops the agent and waits for it, as a killed skiff agent: the
// node's containers keep "running" in its Runtime, and its lease stops
// being renewed.
func (n *Node) Stop() error {
	n.mu.Lock()
	cancel, done := n.cancel, n.done
	n.cancel = nil
	n.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	n.mu.Lock()
	defer n.mu.Unlock()
	if errors.Is(n.runErr, context.Canceled) {
		return nil // stopped while it registered
	}
	return n.runErr
}

// WaitReady waits until the running agent has registered, got its pod
// subnet, synced its pods, renewed its lease (if it has one) and the
// node's taints are set.
func (n *Node) WaitReady(ctx context.Context) error {
	n.mu.Lock()
	ready, done := n.readyCh, n.done
	n.mu.Unlock()
	if ready == nil {
		return fmt.Errorf("hollow: node %s: not started", n.Name)
	}
	select {
	case <-ready:
	case <-done:
		n.mu.Lock()
		err := n.runErr
		n.mu.Unlock()
		return fmt.Errorf("hollow: node %s: agent stopped before it was ready: %v", n.Name, err)
	case <-ctx.Done():
		return fmt.Errorf("hollow: node %s: not ready: %w", n.Name, ctx.Err())
	}
	return n.setTaints(ctx)
}

// setTaints puts the configured taints on a node that lacks them: one
// registered before (a node is created with them).
func (n *Node) setTaints(ctx context.Context) error {
	n.mu.Lock()
	done := n.tainted || len(n.taints) == 0
	n.mu.Unlock()
	if done {
		return nil
	}
	nodes := client.For[*api.Node](n.backend, "")
	err := client.RetryOnConflict(ctx, func() error {
		node, err := nodes.Get(ctx, n.Name)
		if err != nil {
			return err
		}
		if hasTaints(node.Spec.Taints, n.taints) {
			return nil
		}
		node = api.Clone(node)
		node.Spec.Taints = append(node.Spec.Taints, missingTaints(node.Spec.Taints, n.taints)...)
		_, err = nodes.Update(ctx, node)
		return err
	})
	if err != nil {
		return fmt.Errorf("hollow: taint node %s: %w", n.Name, err)
	}
	n.mu.Lock()
	n.tainted = true
	n.mu.Unlock()
	return nil
}

func hasTaints(have, want []api.Taint) bool { return len(missingTaints(have, want)) == 0 }

// missingTaints are the taints of want that have lacks (by key and effect).
func missingTaints(have, want []api.Taint) []api.Taint {
	var out []api.Taint
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || (h.Key == w.Key && h.Effect == w.Effect)
		}
		if !found {
			out = append(out, w)
		}
	}
	return out
}

// signal is closed once.
type signal struct {
	once sync.Once
	ch   chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }
func (s *signal) fire()  { s.once.Do(func() { close(s.ch) }) }

// readyNetwork tells one run of an agent that it got its subnet.
type readyNetwork struct {
	*Network
	ready *signal
}

func (r *readyNetwork) SetPodCIDR(cidr string) error {
	err := r.Network.SetPodCIDR(cidr)
	if err == nil {
		r.ready.fire()
	}
	return err
}

// runningProber tells one run of an agent that its sync loop runs.
type runningProber struct {
	Prober
	running *signal
}

func (p *runningProber) Run(ctx context.Context) error {
	p.running.fire()
	return p.Prober.Run(ctx)
}

// leaseSignal tells one run of an agent that its lease was renewed.
type leaseSignal struct {
	agent.LeaseRenewer
	renewed *signal
}

func (l *leaseSignal) RenewLease(ctx context.Context, node string, d time.Duration) error {
	err := l.LeaseRenewer.RenewLease(ctx, node, d)
	if err == nil {
		l.renewed.fire()
	}
	return err
}

// Cluster is a set of hollow nodes.
type Cluster struct {
	Nodes  []*Node
	log    *slog.Logger
	start  time.Time
	cancel context.CancelFunc // stops every agent at once

	ready    chan struct{} // closed when every node is ready, or one failed
	readyErr error
	readyIn  time.Duration
}

// Start makes cfg.Count hollow nodes and starts their agents, at most
// cfg.Starting registering at once. It returns at once; WaitReady waits
// for them. The agents run until ctx ends or Stop.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log.With("component", "hollow")
	resolv := filepath.Join(cfg.Dir, "resolv.conf")
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("hollow: %w", err)
	}
	if err := os.WriteFile(resolv, []byte("nameserver 198.18.255.254\nsearch hollow.test\n"), 0o644); err != nil {
		return nil, fmt.Errorf("hollow: %w", err)
	}
	// A cgroup root that exists nowhere: the agent looks for its pods'
	// cgroups under it, and must never find a real agent's.
	b := make([]byte, 6)
	rand.Read(b)
	cgroupRoot := "/skiff-hollow-" + hex.EncodeToString(b)

	ctx, cancel := context.WithCancel(ctx)
	c := &Cluster{log: log, start: time.Now(), cancel: cancel, ready: make(chan struct{})}
	for i := range cfg.Count {
		name := fmt.Sprintf("%s%04d", cfg.NamePrefix, i)
		ip := nodeIP(i)
		capacity := cfg.Capacity(i)
		maxPods := 110
		if p, ok := capacity[api.ResourcePods]; ok {
			maxPods = int(p.Value())
		}
		var taints []api.Taint
		if cfg.Taints != nil {
			taints = cfg.Taints(i)
		}
		view := newNodeView(cfg.Backend, name, ip, capacity, capacity, taints)
		var labels map[string]string
		if cfg.Labels != nil {
			labels = cfg.Labels(i)
		}
		// The agent measures its data directory (statfs) from its first
		// status on; it must exist by then, as on a real node.
		dataDir, stateDir := filepath.Join(cfg.Dir, name, "data"), filepath.Join(cfg.Dir, name, "state")
		for _, d := range []string{dataDir, stateDir} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				cancel()
				return nil, fmt.Errorf("hollow: %w", err)
			}
		}
		rt := NewRuntime()
		n := &Node{
			Name: name, Index: i, IP: ip, Runtime: rt, Network: NewNetwork(),
			backend: cfg.Backend, taints: taints, parent: ctx,
			cfg: agent.Config{
				NodeName:       name,
				Client:         view,
				Runtime:        rt,
				DataDir:        dataDir,
				StateDir:       stateDir,
				ClusterDNS:     []string{"10.43.0.10"},
				HostResolvConf: resolv,
				NodeIP:         ip,
				Labels:         labels,
				CgroupRoot:     cgroupRoot + "/" + name,
				MaxPods:        maxPods,
				RelistPeriod:   cfg.RelistPeriod,
				ClaimGCPeriod:  cfg.ClaimGCPeriod,
				Workers:        cfg.Workers,
				Version:        "hollow",
				Lease:          cfg.Lease,
				LeaseDuration:  cfg.LeaseDuration,
				Log:            log.With("node", name),
			},
		}
		c.Nodes = append(c.Nodes, n)
	}
	go c.startAll(ctx, cfg.Starting)
	return c, nil
}

// startAll starts the agents, at most starting waiting for their subnet
// at once, and closes c.ready when all are ready.
func (c *Cluster) startAll(ctx context.Context, starting int) {
	sem := make(chan struct{}, starting)
	var wg sync.WaitGroup
	var once sync.Once
	fail := func(err error) {
		once.Do(func() { c.readyErr = err })
	}
	for _, n := range c.Nodes {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			fail(ctx.Err())
		}
		if ctx.Err() != nil {
			break
		}
		if err := n.Start(); err != nil {
			fail(err)
			<-sem
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := n.WaitReady(ctx); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	c.readyIn = time.Since(c.start)
	if c.readyErr == nil {
		c.log.Info("hollow nodes ready", "nodes", len(c.Nodes), "in", c.readyIn.Round(time.Millisecond).String())
	}
	close(c.ready)
}

// WaitReady waits until every node has registered and got its subnet
// (the agent writes its Ready condition before), and returns how long
// that took from Start.
func (c *Cluster) WaitReady(ctx context.Context) (time.Duration, error) {
	select {
	case <-c.ready:
		return c.readyIn, c.readyErr
	case <-ctx.Done():
		return 0, fmt.Errorf("hollow: nodes not ready: %w", ctx.Err())
	}
}

// Node returns the node of that name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Stop stops every agent and waits for them.
func (c *Cluster) Stop() error {
	c.cancel()
	<-c.ready
	var errs []error
	for _, n := range c.Nodes {
		if err := n.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Run starts cfg.Count hollow nodes, logs when all are ready, and runs
// them until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	c, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	if _, err := c.WaitReady(ctx); err != nil && ctx.Err() == nil {
		c.Stop()
		return err
	}
	<-ctx.Done()
	return c.Stop()
}

// nodeIP is node i's address in 198.18.0.0/15, the benchmarking range.
func nodeIP(i int) string {
	a := netip.MustParseAddr("198.18.0.0").As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(i) + 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}
