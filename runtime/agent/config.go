package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/skiffhq/skiff/netstack/cni"
	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/probe"
	"github.com/skiffhq/skiff/server/client"
)

// Network gives pods their network namespaces; netstack/cni's Manager is
// one.
type Network interface {
	SetPodCIDR(cidr string) error
	Setup(ctx context.Context, pod cni.PodNetwork) (cni.Sandbox, error)
	Get(uid string) (cni.Sandbox, bool)
	Teardown(ctx context.Context, uid string) error
	CleanupOrphans(ctx context.Context, keep func(uid string) bool) ([]string, error)
}

var _ Network = (*cni.Manager)(nil)

// Prober runs containers' probes; runtime/probe's Manager is one.
type Prober interface {
	Run(ctx context.Context) error
	Sync(targets []probe.Target, podUID string)
	RemovePod(podUID string)
	Result(podUID, container string, k probe.Kind) probe.Result
	Updates() <-chan probe.Update
	Failures() <-chan probe.Update
}

var _ Prober = (*probe.Manager)(nil)

// Config is what an agent is given.
type Config struct {
	// NodeName is this node's name in the API (default: the hostname).
	NodeName string
	// Client reaches the API: the registry in-process, or HTTPS.
	Client  client.Backend
	Runtime container.Runtime
	Network Network
	Prober  Prober
	// DataDir holds what must survive a reboot: emptyDir and local
	// volumes, logs (<data-dir>/pods, <data-dir>/volumes).
	DataDir string
	// StateDir holds what dies with the machine: /etc files and
	// configMap/secret volumes of pods (tmpfs, e.g. /run/skiff).
	StateDir string
	// ClusterDNS are the nameservers of ClusterFirst pods; empty means
	// the node's own resolv.conf until cluster DNS runs.
	ClusterDNS    []string
	ClusterDomain string
	// HostResolvConf is the node's resolver file (default /etc/resolv.conf).
	HostResolvConf string
	// NodeIP is the address reported for the node and used as hostIP.
	NodeIP string
	// Labels are extra node labels.
	Labels map[string]string
	// Annotations are node annotations the agent sets at every start
	// (what other nodes must know of this one, such as its overlay key);
	// others on the node are left alone.
	Annotations map[string]string
	// CgroupRoot is the parent of every pod's cgroup (default /skiff).
	CgroupRoot string
	// PodPidsLimit caps the processes of each container (default 4096).
	PodPidsLimit int64
	// MaxPods the node takes (default 110).
	MaxPods int
	// RelistPeriod is how often actual state is re-read in full, in case
	// an event was missed (default 10s).
	RelistPeriod time.Duration
	// ClaimGCPeriod is how often the volumes of deleted claims are looked
	// for and deleted (default a minute).
	ClaimGCPeriod time.Duration
	// Workers is how many pods are synced at once (default 4).
	Workers int
	// Version is the agent's version, shown in the node's info.
	Version string
	// Lease renews the node's liveness lease on the server; nil means no
	// lease (tests).
	Lease LeaseRenewer
	// LeaseDuration is how long one renewal keeps the node alive (default
	// 20 s); the agent renews every quarter of it.
	LeaseDuration time.Duration
	// Port is the agent's HTTPS port (logs, exec), published in the node's
	// status; 0 means the agent serves none.
	Port int
	// Routes are more routes of the endpoint (pattern → handler, as
	// http.ServeMux takes them), answered, as the others, to the API
	// server only: what the server's builds use on a builder node.
	Routes map[string]http.Handler
	Log    *slog.Logger
}

func (c *Config) setDefaults() {
	if c.ClusterDomain == "" {
		c.ClusterDomain = "skiff.local"
	}
	if c.HostResolvConf == "" {
		c.HostResolvConf = "/etc/resolv.conf"
	}
	if c.CgroupRoot == "" {
		c.CgroupRoot = "/skiff"
	}
	if c.PodPidsLimit == 0 {
		c.PodPidsLimit = 4096
	}
	if c.MaxPods == 0 {
		c.MaxPods = 110
	}
	if c.ClaimGCPeriod == 0 {
		c.ClaimGCPeriod = time.Minute
	}
	if c.RelistPeriod == 0 {
		c.RelistPeriod = 10 * time.Second
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = 20 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// LeaseRenewer renews a node's lease: the HTTPS client, or the server's
// lease table for the embedded agent.
type LeaseRenewer interface {
	RenewLease(ctx context.Context, node string, d time.Duration) error
}

// Validate says what is missing.
func (c Config) Validate() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("agent: node name is required"))
	}
	if c.Client == nil {
		errs = append(errs, errors.New("agent: an API client is required"))
	}
	if c.Runtime == nil {
		errs = append(errs, errors.New("agent: a container runtime is required"))
	}
	if c.Network == nil {
		errs = append(errs, errors.New("agent: a pod network is required"))
	}
	if c.Prober == nil {
		errs = append(errs, errors.New("agent: a prober is required"))
	}
	if c.DataDir == "" || c.StateDir == "" {
		errs = append(errs, errors.New("agent: data and state directories are required"))
	}
	return errors.Join(errs...)
}
