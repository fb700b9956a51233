package cni

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// requiredPlugins are the plugin binaries the conflist runs. Loopback is
// not among them: lo is brought up with netlink, which saves an exec.
func requiredPlugins() []string { return []string{"bridge", "host-local", "portmap"} }

// Manager sets up and tears down the network of the pods on one node.
// Its methods are safe for concurrent use; calls for the same pod uid are
// serialised.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	cni    *libcni.CNIConfig
	noMasq []netip.Prefix // parsed cfg.NoMasquerade
	locks  uidLocks

	setMu sync.Mutex // serialises SetPodCIDR: node settings, then fields

	mu     sync.Mutex
	subnet podSubnet
	conf   []byte                    // rendered conflist, nil before SetPodCIDR
	list   *libcni.NetworkConfigList // parsed conf
}

// New checks cfg and that the plugins exist and speak CNIVersion, and
// creates the state directories. It does not touch the network.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	noMasq, err := parseNoMasquerade(cfg.NoMasquerade)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, p := range requiredPlugins() {
		if _, err := invoke.FindInPath(p, cfg.PluginDirs); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("cni plugins %q not found in %q: install the Debian package containernetworking-plugins or set PluginDirs: %w",
			missing, cfg.PluginDirs, errdefs.ErrNotFound)
	}
	for _, dir := range []string{cfg.NetNSDir, cfg.ipamDir(), cfg.cacheDir()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("cni: create state dir %q: %w", dir, err)
		}
	}
	m := &Manager{
		cfg:    cfg,
		log:    cfg.Log.With("component", "cni"),
		cni:    libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, cfg.cacheDir(), nil),
		noMasq: noMasq,
	}
	if err := m.checkVersions(context.Background()); err != nil {
		return nil, err
	}
	return m, nil
}

// checkVersions asks each plugin for the spec versions it speaks.
func (m *Manager) checkVersions(ctx context.Context) error {
	for _, p := range requiredPlugins() {
		info, err := m.cni.GetVersionInfo(ctx, p)
		if err != nil {
			return fmt.Errorf("cni plugin %q in %q: version query: %w", p, m.cfg.PluginDirs, err)
		}
		if !slices.Contains(info.SupportedVersions(), CNIVersion) {
			return fmt.Errorf("cni plugin %q in %q speaks %q, not %s: install containernetworking-plugins 1.0 or later: %w",
				p, m.cfg.PluginDirs, info.SupportedVersions(), CNIVersion, errdefs.ErrUnavailable)
		}
	}
	return nil
}

// SetPodCIDR sets the node's pod subnet, e.g. "10.42.3.0/24" (gateway .1 on
// the bridge, pods from .2), regenerates the conflist and makes sure the
// node forwards IP packets and masquerades what pods send beyond the subnet
// (one rule in nftables table MasqTable, rewritten only when it differs, so
// a call also repairs a rule changed by hand). It must be called before
// Setup. Pods set up under an earlier subnet keep theirs until torn down:
// DEL uses the conflist cached with each pod.
func (m *Manager) SetPodCIDR(cidr string) error {
	s, err := parsePodCIDR(cidr)
	if err != nil {
		return err
	}
	conf, err := renderConfList(m.cfg, s)
	if err != nil {
		return err
	}
	list, err := libcni.NetworkConfFromBytes(conf)
	if err != nil {
		return fmt.Errorf("pod cidr %q: parse generated conflist: %w", cidr, err)
	}
	m.setMu.Lock()
	defer m.setMu.Unlock()
	if err := ensureForwarding(m.log, s.prefix.Addr().Is6()); err != nil {
		return err
	}
	if err := m.ensureMasquerade(s); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conf != nil && m.subnet.prefix != s.prefix {
		m.log.Info("pod cidr changed", "from", m.subnet.prefix.String(), "to", s.prefix.String())
	}
	m.subnet, m.conf, m.list = s, conf, list
	return nil
}

// ensureMasquerade programs the masquerade rule of pod subnet s.
func (m *Manager) ensureMasquerade(s podSubnet) error {
	r := newMasquerade(s, m.noMasq)
	wrote, err := programMasquerade(r)
	if err != nil {
		return fmt.Errorf("pod cidr %s: masquerade pod egress: %w", s.prefix, err)
	}
	if wrote {
		m.log.Info("programmed pod egress masquerade", "table", familyName(r.table().Family)+" "+MasqTable, "rule", r.String())
	}
	return nil
}

// ConfList returns the generated conflist JSON, or nil before SetPodCIDR.
func (m *Manager) ConfList() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.conf)
}

// confList returns the parsed conflist, or nil before SetPodCIDR.
func (m *Manager) confList() *libcni.NetworkConfigList {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.list
}
