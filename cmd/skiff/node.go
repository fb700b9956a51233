package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	containerdclient "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/netstack/cni"
	"github.com/skiffhq/skiff/netstack/overlay"
	"github.com/skiffhq/skiff/runtime/agent"
	"github.com/skiffhq/skiff/runtime/containerd"
	"github.com/skiffhq/skiff/runtime/gc"
	"github.com/skiffhq/skiff/runtime/probe"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// NodeConfig is what the node agent (embedded in `skiff server`, or
// `skiff agent`) is told.
type NodeConfig struct {
	// NodeName is this node's name; default the hostname, lowercased.
	NodeName string `json:"nodeName,omitempty"`
	// NodeIP is the node's address for other nodes; default the address
	// of the interface of the default route.
	NodeIP string `json:"nodeIP,omitempty"`
	// ContainerdSocket is an existing containerd to use; empty means skiff
	// runs its own (root in <data-dir>/containerd, socket in <run-dir>).
	ContainerdSocket string `json:"containerdSocket,omitempty"`
	// RunDir holds runtime state that dies with the machine: sockets,
	// pinned network namespaces, CNI allocations. Default /run/skiff.
	RunDir string `json:"runDir,omitempty"`
	// CNIPluginDirs are searched for the CNI plugins.
	CNIPluginDirs []string `json:"cniPluginDirs,omitempty"`
	// CgroupRoot is the parent cgroup of every pod (default /skiff).
	CgroupRoot string `json:"cgroupRoot,omitempty"`
	// Bridge is the pods' bridge (default skiff0).
	Bridge string `json:"bridge,omitempty"`
	// AgentPort is the agent's HTTPS port, which the API server reaches
	// for logs and exec (default 10250).
	AgentPort int `json:"agentPort,omitempty"`
	// ClusterDNS is the cluster DNS address (the service network's .10,
	// default 10.43.0.10): the node serves it on a dummy interface and
	// gives it to its pods; "none" turns cluster DNS off (pods get the
	// node's resolver file).
	ClusterDNS string `json:"clusterDNS,omitempty"`
	// ClusterCIDR is the cluster's pod network (the server's; default
	// 10.42.0.0/16): pods reach it with their own addresses, unmasqueraded.
	ClusterCIDR string `json:"clusterCIDR,omitempty"`
	// Overlay is how pod traffic crosses to other nodes: the server's
	// --overlay (a cluster setting, not the node's own: not in the config
	// file's node section); host-gw, vxlan or wireguard.
	Overlay string `json:"-"`
	// WireGuardPort is the wireguard overlay's UDP port, the server's
	// --wireguard-port (0: 51820).
	WireGuardPort int `json:"-"`
	// OverlayDevice names the tunnel device of vxlan or wireguard
	// (default skiff.vxlan, skiff.wg). Userspace WireGuard (wireguard-go,
	// where the kernel has none) keeps its sockets machine-wide, so nodes
	// that share one machine, as in tests, each need their own.
	OverlayDevice string `json:"overlayDevice,omitempty"`
	// IngressListen is the address of the node's app router (default
	// ":80"; "none" runs no router on this node).
	IngressListen string `json:"ingressListen,omitempty"`
	// IngressAccessLog logs every request the app router answers (off by
	// default: on a board's flash, a busy app's log is many writes).
	IngressAccessLog bool `json:"ingressAccessLog,omitempty"`
	// IngressHTTPSListen is the address of the app router's HTTPS
	// (default ":443"; "none": HTTP only, and no host is redirected).
	IngressHTTPSListen string `json:"ingressHTTPSListen,omitempty"`
	// ACMEEmail turns ACME on: certificates for the apps' custom domains
	// (spec.domains) from ACMEDirectory, with this contact address;
	// giving it accepts the CA's terms of service. Empty: no ACME, since
	// a node the CA cannot reach on :80 or :443 could never pass a
	// challenge.
	ACMEEmail string `json:"acmeEmail,omitempty"`
	// ACMEDirectory is the ACME directory URL (default Let's Encrypt
	// production).
	ACMEDirectory string `json:"acmeDirectory,omitempty"`
	// ACMECacheDir keeps the ACME account key and certificates:
	// <data-dir>/ingress/acme, set by the command.
	ACMECacheDir string `json:"-"`
	// AppsDomain is the server's appsDomain (a cluster setting).
	AppsDomain string `json:"-"`
}

// addNodeFlags declares the flags that fill a NodeConfig (read back by
// name, so that only flags given override the config file).
func addNodeFlags(f *pflag.FlagSet) {
	f.String("node-name", "", "this node's name (default: the hostname)")
	f.String("node-ip", "", "this node's address for other nodes (default: that of the default route)")
	f.String("containerd-socket", "", "use this containerd instead of starting one")
	f.String("run-dir", "/run/skiff", "runtime state: sockets, network namespaces, CNI allocations")
	f.String("cgroup-root", "/skiff", "parent cgroup of every pod")
	f.String("bridge", "skiff0", "the pods' bridge")
	f.Int("agent-port", 10250, "the agent's HTTPS port, for the API server's log and exec requests")
	f.String("cluster-dns", "", `the cluster DNS address this node serves and gives its pods ("none": off; default the service range's .10, 10.43.0.10, or on an agent the server's)`)
	f.String("overlay-device", "", "the overlay's tunnel device (default skiff.vxlan or skiff.wg)")
	f.String("ingress-listen", ":80", `the address of this node's app router ("none": no router here)`)
	f.String("ingress-https-listen", ":443", `the address of this node's app router's HTTPS ("none": HTTP only)`)
	f.String("acme-email", "", "turn ACME certificates on for the apps' custom domains, with this contact address (accepts the CA's terms of service)")
	f.String("acme-directory", "", "the ACME directory URL (default Let's Encrypt production)")
}

func (c *NodeConfig) setDefaults() {
	if c.NodeName == "" {
		h, _ := os.Hostname()
		c.NodeName = strings.ToLower(h)
	}
	if c.NodeIP == "" {
		c.NodeIP = defaultNodeIP()
	}
	if c.RunDir == "" {
		c.RunDir = "/run/skiff"
	}
	if c.AgentPort == 0 {
		c.AgentPort = 10250
	}
	if c.ClusterDNS == "" {
		c.ClusterDNS = "10.43.0.10"
	}
	if c.ClusterCIDR == "" {
		c.ClusterCIDR = "10.42.0.0/16"
	}
	if c.Overlay == "" {
		c.Overlay = string(overlay.HostGW)
	}
	if c.IngressListen == "" {
		c.IngressListen = ":80"
	}
}

// keepRunning runs run until ctx ends, starting it again 10 s after it
// stops with an error.
func keepRunning(ctx context.Context, what string, log *slog.Logger, run func() error) {
	for {
		err := run()
		if ctx.Err() != nil {
			return
		}
		log.Error(what+" stopped; starting it again in 10 s", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Second):
		}
	}
}

// clusterDNSOf is the nameserver list the node's pods get: the cluster
// DNS address, or none (the node's own resolvers) when it is off.
func clusterDNSOf(c NodeConfig) []string {
	if c.ClusterDNS == "none" {
		return nil
	}
	return []string{c.ClusterDNS}
}

// defaultNodeIP is the source address of the default route, or "".
func defaultNodeIP() string {
	conn, err := net.Dial("udp", "192.0.2.1:9") // no packet is sent
	if err != nil {
		return ""
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP.String()
}

// gcKeep is what the node's image collector must leave: an image from
// <data-dir>/images (not imported again once its tarball's marker is
// written), and on the server's node apps' images, the copies the other
// nodes fetch: the app GC, which knows every node's pods and the
// releases, removes those.
func gcKeep(imported map[string]bool, server bool) func(string) bool {
	return func(ref string) bool {
		return imported[ref] || (server && strings.HasPrefix(ref, appImagePrefix))
	}
}

// nodeDeps are what a node gets from the server it belongs to.
type nodeDeps struct {
	// backend reaches the API: the registry in-process, or HTTPS.
	backend client.Backend
	lease   agent.LeaseRenewer
	// cert is the node's certificate, which the agent's endpoint serves
	// (read per handshake: it is renewed while the node runs); ca
	// verifies the API server's client certificate on it.
	cert func() *tls.Certificate
	ca   *x509.CertPool
	// containerd, when set, is given the node's containerd client once
	// connected (the server's builds use it).
	containerd func(*containerdclient.Client)
	// activate starts an app scaled to zero and touch records an app's
	// last request, for the node's app router (nil: apps are not scaled
	// to zero from this node).
	activate, touch func(ctx context.Context, namespace, app string) error
	// mirrors are registries whose images come from elsewhere: a joined
	// node's apps' images, from its server.
	mirrors []containerd.Mirror
	// server is set for the server's own node, whose backend is the
	// registry itself (it reads what joined nodes may not).
	server bool
}

// runNode runs a node: containerd (its own, or the one given), the pod
// network, the prober, the agent and the garbage collector, until ctx
// ends. Pods keep running after it returns.
func runNode(ctx context.Context, cfg NodeConfig, dataDir string, deps nodeDeps, version string, log *slog.Logger) error {
	cfg.setDefaults()
	// Paths go to containerd and into container specs, and the garbage
	// collector takes only absolute ones: --data-dir may be relative.
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	g, ctx := errgroup.WithContext(ctx)
	address := cfg.ContainerdSocket
	if address == "" {
		sup, err := containerd.NewSupervisor(containerd.SupervisorConfig{
			RootDir:  filepath.Join(dataDir, "containerd"),
			StateDir: filepath.Join(cfg.RunDir, "containerd"),
			Log:      log.With("component", "containerd"),
		})
		if err != nil {
			return err
		}
		g.Go(func() error { return sup.Run(ctx) })
		address = sup.Address()
	}
	g.Go(func() error {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		c, err := containerd.Connect(cctx, address)
		cancel()
		if err != nil {
			return err
		}
		defer c.Close()
		imported, err := importImageDir(ctx, c, filepath.Join(dataDir, "images"), log)
		if err != nil {
			return err
		}
		cleanUpBuilds(ctx, c, log.With("component", "build"))
		if deps.containerd != nil {
			deps.containerd(c)
		}
		imageFS := filepath.Join(dataDir, "containerd") // the root of skiff's own containerd
		if cfg.ContainerdSocket != "" {
			imageFS = externalContainerdRoot(ctx, c, log)
		}
		rt, err := containerd.NewRuntime(ctx, containerd.RuntimeConfig{
			Client:  c,
			FIFODir: filepath.Join(cfg.RunDir, "fifo"),
			Mirrors: deps.mirrors,
			Log:     log.With("component", "runtime"),
		})
		if err != nil {
			return err
		}
		defer rt.Close()
		routes, err := newPodRoutes(cfg, dataDir, log.With("component", "routes"))
		if err != nil {
			return err
		}
		network, err := cni.New(cni.Config{
			PluginDirs: cfg.CNIPluginDirs,
			NetNSDir:   filepath.Join(cfg.RunDir, "netns"),
			StateDir:   filepath.Join(cfg.RunDir, "cni"),
			Bridge:     cfg.Bridge,
			// Pod to pod across nodes keeps the pods' addresses.
			NoMasquerade: []string{cfg.ClusterCIDR},
			// Room for the tunnel's headers, if any.
			MTU: routes.podMTU,
			Log: log.With("component", "cni"),
		})
		if err != nil {
			return err
		}
		builds, err := builderRoutes(c, cfg, dataDir, log.With("component", "build"))
		if err != nil {
			return err
		}
		a, err := agent.New(agent.Config{
			NodeName:    cfg.NodeName,
			NodeIP:      cfg.NodeIP,
			Annotations: routes.annotations,
			Client:      deps.backend,
			Runtime:     rt,
			Network:     network,
			Prober:      probe.NewManager(probe.Config{Exec: rt, Log: log}),
			DataDir:     dataDir,
			StateDir:    cfg.RunDir,
			CgroupRoot:  cfg.CgroupRoot,
			Version:     version,
			Lease:       deps.lease,
			Port:        cfg.AgentPort,
			ClusterDNS:  clusterDNSOf(cfg),
			Routes:      builds,
			Log:         log.With("component", "agent"),
		})
		if err != nil {
			return err
		}
		keep := make(map[string]bool, len(imported))
		for _, ref := range imported {
			keep[ref] = true
		}
		collector, err := gc.New(gc.Config{
			Runtime:  rt,
			ImageFS:  imageFS,
			LogDir:   filepath.Join(dataDir, "pods"),
			KnownPod: a.KnownPod,
			Keep:     gcKeep(keep, deps.server),
			Log:      log, // gc.New adds component=gc
		})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.AgentPort)))
		if err != nil {
			return fmt.Errorf("agent endpoint: %w", err)
		}
		ag, ctx := errgroup.WithContext(ctx)
		ag.Go(func() error { return serveAgent(ctx, ln, a.Handler(), deps, log) })
		ag.Go(func() error { return a.Run(ctx) })
		ag.Go(func() error { return collector.Run(ctx) })
		if !deps.server {
			ag.Go(func() error { pruneBuildCache(ctx, c, log.With("component", "build")); return nil })
		}
		// The node's network parts, over one set of informers: one
		// that cannot start (port 53 taken, say) is said and tried
		// again; the node runs on.
		netInf := client.NewInformers(deps.backend, log.With("component", "informers"))
		skip := ""
		if dns := clusterDNSOf(cfg); dns != nil {
			skip = dns[0]
			ag.Go(func() error {
				dlog := log.With("component", "dns")
				keepRunning(ctx, "cluster DNS", dlog, func() error {
					return runClusterDNS(ctx, dns[0], "", "", netInf, dlog)
				})
				return nil
			})
		}
		if cfg.IngressListen != "none" {
			ag.Go(func() error {
				ilog := log.With("component", "ingress")
				keepRunning(ctx, "app router", ilog, func() error {
					return runIngress(ctx, cfg, netInf, deps, ilog)
				})
				return nil
			})
		}
		ag.Go(func() error {
			rlog := log.With("component", "routes")
			keepRunning(ctx, "pod routes", rlog, func() error { return routes.run(ctx, netInf, cfg.NodeName, rlog) })
			return nil
		})
		ag.Go(func() error {
			plog := log.With("component", "proxy")
			keepRunning(ctx, "service proxy", plog, func() error {
				return runServiceProxy(ctx, netInf, cfg.NodeIP, skip, plog)
			})
			return nil
		})
		return ag.Wait()
	})
	return g.Wait()
}

// serveAgent serves the agent's endpoint over TLS with the node's
// certificate until ctx ends. Clients may connect without a certificate
// (for /healthz); the handler answers nothing else to anyone but the API
// server.
func serveAgent(ctx context.Context, ln net.Listener, h http.Handler, deps nodeDeps, log *slog.Logger) error {
	srv := &http.Server{
		Handler: h,
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return deps.cert(), nil
			},
			ClientAuth: tls.VerifyClientCertIfGiven,
			ClientCAs:  deps.ca,
			// A certificate, if given, must be the API server's: other
			// nodes' certificates are of the same CA.
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) > 0 && cs.PeerCertificates[0].Subject.CommonName != api.UserAPIServer {
					return fmt.Errorf("agent endpoint: %q may not connect; only the API server may", cs.PeerCertificates[0].Subject.CommonName)
				}
				return nil
			},
		},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("agent endpoint: %w", err)
	case <-ctx.Done():
	}
	// Open log follows and exec sessions end with the agent.
	srv.Close()
	<-errc
	return nil
}

// importImageDir imports every image tarball dropped in dir (air-gapped
// installs, as k3s's agent/images), plain or gzipped, each all or
// nothing (containerd.ImportImages). A tarball is read once: a marker
// file beside it (.NAME.imported) holds its size and mtime and then the
// references of the images it holds, one a line; a changed tarball is
// imported again, and one that fails to import is tried again at the
// next start. It returns the references of the images of every tarball
// in dir, imported now or at an earlier start, which the node keeps
// whatever its disk usage: they would not be imported again.
func importImageDir(ctx context.Context, c *containerdclient.Client, dir string, log *slog.Logger) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image directory: %w", err)
	}
	var refs []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".tar") || strings.HasSuffix(name, ".tar.gz")) {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		marker := filepath.Join(dir, "."+name+".imported")
		stamp := fmt.Sprintf("%d %d", info.Size(), info.ModTime().UnixNano())
		if imgs, ok := readImportMarker(marker, stamp); ok {
			refs = append(refs, imgs...)
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		imgs, err := containerd.ImportImages(ctx, c, f)
		f.Close()
		if err != nil {
			log.Warn("import image tarball", "file", path, "err", err)
			continue
		}
		log.Info("imported images", "file", path, "images", imgs)
		refs = append(refs, imgs...)
		if err := writeImportMarker(marker, stamp, imgs); err != nil {
			return nil, err
		}
	}
	return refs, nil
}

// readImportMarker returns the references a tarball's marker records, if
// the marker is of the tarball as it is now (stamp). A marker written by
// an older skiff holds the stamp alone: it does not count, so that the
// tarball is imported again and its references are learnt.
func readImportMarker(path, stamp string) ([]string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if lines[0] != stamp || len(lines) < 2 {
		return nil, false
	}
	var refs []string
	for _, l := range lines[1:] {
		if l != "" {
			refs = append(refs, l)
		}
	}
	return refs, len(refs) > 0
}

// writeImportMarker writes a tarball's marker through a temporary file,
// so that a crash never leaves one that lists only some of its images.
func writeImportMarker(path, stamp string, refs []string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("image import marker: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(stamp + "\n" + strings.Join(refs, "\n") + "\n")
	if err = errors.Join(err, tmp.Close()); err != nil {
		return fmt.Errorf("image import marker: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("image import marker: %w", err)
	}
	return nil
}

// defaultContainerdRoot is containerd's root directory when its config
// names none.
const defaultContainerdRoot = "/var/lib/containerd"

// externalContainerdRoot is the root directory of a containerd skiff
// does not run (--containerd-socket), whose file system the image
// collector watches: what containerd says it is, else its default.
func externalContainerdRoot(ctx context.Context, c *containerdclient.Client, log *slog.Logger) string {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	root, err := containerdRoot(cctx, c)
	if err == nil {
		_, err = os.Stat(root)
	}
	if err != nil {
		log.Warn("containerd's root directory unknown; image garbage collection watches the disk of the default",
			"dir", defaultContainerdRoot, "err", err)
		return defaultContainerdRoot
	}
	return root
}

// containerdRoot asks containerd for its root directory. Its
// introspection service does not report it as such, but the content
// store plugin exports its own directory, which is
// <root>/io.containerd.content.v1.content.
func containerdRoot(ctx context.Context, c *containerdclient.Client) (string, error) {
	resp, err := c.IntrospectionService().Plugins(ctx)
	if err != nil {
		return "", fmt.Errorf("containerd plugins: %w", err)
	}
	for _, p := range resp.Plugins {
		if p.Type != string(plugins.ContentPlugin) {
			continue
		}
		if dir := p.Exports["root"]; filepath.IsAbs(dir) {
			return filepath.Dir(dir), nil
		}
	}
	return "", errors.New("containerd's content plugin exports no root directory")
}

// cgroupRoot is the parent cgroup of the node's pods (and builds).
func (c NodeConfig) cgroupRoot() string {
	if c.CgroupRoot == "" {
		return "/skiff"
	}
	return c.CgroupRoot
}
