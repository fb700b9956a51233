package cni

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// DefaultPluginDirs returns where Debian's containernetworking-plugins
// (/usr/lib/cni) and the upstream tarball (/opt/cni/bin) put the plugins.
func DefaultPluginDirs() []string { return []string{"/usr/lib/cni", "/opt/cni/bin"} }

const (
	// DefaultBridge is the name of the node's pod bridge.
	DefaultBridge = "skiff0"
	// NetworkName is the name of the generated conflist; it prefixes
	// libcni's cache files and names host-local's directory.
	NetworkName = "skiff"
	// CNIVersion is the spec version of the generated conflist. Debian 12
	// ships plugins v1.1.1, which speak up to 1.0.0.
	CNIVersion = "1.0.0"
	// IfName is the pod's interface inside its namespace.
	IfName = "eth0"
)

// Config configures the pod network of one node.
type Config struct {
	// PluginDirs are searched in order for the CNI plugin binaries.
	// Default: DefaultPluginDirs().
	PluginDirs []string
	// NetNSDir is where pod network namespaces are pinned, one file per pod
	// uid, e.g. /run/skiff/netns. Required, absolute.
	NetNSDir string
	// StateDir holds host-local's allocations and libcni's result cache,
	// e.g. /run/skiff/cni. Required, absolute, on tmpfs.
	StateDir string
	// Bridge is the Linux bridge pods are attached to. Default: skiff0.
	Bridge string
	// MTU of the bridge and the pods' veths; 0 leaves the plugin default.
	MTU int
	// NoMasquerade lists destination networks that pods reach with their
	// own address, e.g. the cluster's pod CIDR 10.42.0.0/16 so that
	// pod-to-pod traffic across nodes keeps its source. Traffic from the
	// pod subnet to anywhere else but the pod subnet itself and multicast
	// leaves with the node's address. Entries are network addresses
	// ("10.42.0.0/16", not "10.42.0.1/16"); those of the other address
	// family than the pod subnet do not apply to it.
	NoMasquerade []string
	// Log receives what the package does to the node; nil discards.
	Log *slog.Logger
}

// withDefaults returns c with its zero values filled in.
func (c Config) withDefaults() Config {
	if len(c.PluginDirs) == 0 {
		c.PluginDirs = DefaultPluginDirs()
	}
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first field of c that cannot work, naming the field
// and the fix. Zero values that have defaults are fine.
func (c Config) Validate() error {
	c = c.withDefaults()
	for _, d := range c.PluginDirs {
		if !filepath.IsAbs(d) {
			return fmt.Errorf("cni config: PluginDirs entry %q: must be an absolute path: %w", d, errdefs.ErrInvalid)
		}
	}
	if c.NetNSDir == "" || !filepath.IsAbs(c.NetNSDir) {
		return fmt.Errorf("cni config: NetNSDir %q: must be an absolute path such as /run/skiff/netns: %w", c.NetNSDir, errdefs.ErrInvalid)
	}
	if c.StateDir == "" || !filepath.IsAbs(c.StateDir) {
		return fmt.Errorf("cni config: StateDir %q: must be an absolute path such as /run/skiff/cni: %w", c.StateDir, errdefs.ErrInvalid)
	}
	if filepath.Clean(c.NetNSDir) == filepath.Clean(c.StateDir) {
		return fmt.Errorf("cni config: NetNSDir and StateDir are both %q: use two directories: %w", c.NetNSDir, errdefs.ErrInvalid)
	}
	if len(c.Bridge) > 15 || strings.ContainsAny(c.Bridge, "/: \t\n") {
		return fmt.Errorf("cni config: Bridge %q: must be an interface name of at most 15 characters without '/', ':' or spaces: %w", c.Bridge, errdefs.ErrInvalid)
	}
	if c.MTU != 0 && (c.MTU < 1280 || c.MTU > 65535) {
		return fmt.Errorf("cni config: MTU %d: must be 0 (plugin default) or between 1280 and 65535: %w", c.MTU, errdefs.ErrInvalid)
	}
	if _, err := parseNoMasquerade(c.NoMasquerade); err != nil {
		return err
	}
	return nil
}

// ipamDir is host-local's dataDir; host-local keeps NetworkName/ below it.
func (c Config) ipamDir() string { return filepath.Join(c.StateDir, "ipam") }

// cacheDir is libcni's cache dir; results live in cacheDir/results.
func (c Config) cacheDir() string { return filepath.Join(c.StateDir, "cache") }
