package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/netstack/cni"
	"github.com/skiffhq/skiff/runtime/agent"
	"github.com/skiffhq/skiff/runtime/containerd"
	"github.com/skiffhq/skiff/runtime/probe"
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

// runNode runs a node: containerd (its own, or the one given), the pod
// network, the prober and the agent, until ctx ends. Pods keep running
// after it returns.
// nodeDeps are what a node gets from the server it belongs to.
type nodeDeps struct {
	// backend reaches the API: the registry in-process, or HTTPS.
	backend client.Backend
	lease   agent.LeaseRenewer
	// cert is the node's certificate, which the agent's endpoint serves;
	// ca verifies the API server's client certificate on it.
	cert tls.Certificate
	ca   *x509.CertPool
}

func runNode(ctx context.Context, cfg NodeConfig, dataDir string, deps nodeDeps, version string, log *slog.Logger) error {
	cfg.setDefaults()
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
		if err := importImageDir(ctx, c, filepath.Join(dataDir, "images"), log); err != nil {
			return err
		}
		rt, err := containerd.NewRuntime(ctx, containerd.RuntimeConfig{
			Client:  c,
			FIFODir: filepath.Join(cfg.RunDir, "fifo"),
			Log:     log.With("component", "runtime"),
		})
		if err != nil {
			return err
		}
		defer rt.Close()
		network, err := cni.New(cni.Config{
			PluginDirs: cfg.CNIPluginDirs,
			NetNSDir:   filepath.Join(cfg.RunDir, "netns"),
			StateDir:   filepath.Join(cfg.RunDir, "cni"),
			Bridge:     cfg.Bridge,
			Log:        log.With("component", "cni"),
		})
		if err != nil {
			return err
		}
		a, err := agent.New(agent.Config{
			NodeName:   cfg.NodeName,
			NodeIP:     cfg.NodeIP,
			Client:     deps.backend,
			Runtime:    rt,
			Network:    network,
			Prober:     probe.NewManager(probe.Config{Exec: rt, Log: log}),
			DataDir:    dataDir,
			StateDir:   cfg.RunDir,
			CgroupRoot: cfg.CgroupRoot,
			Version:    version,
			Lease:      deps.lease,
			Port:       cfg.AgentPort,
			Log:        log.With("component", "agent"),
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
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{deps.cert},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    deps.ca,
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
// installs, as k3s's agent/images). A tarball is read once: a marker
// file beside it (.NAME.imported) holds its size and mtime, and a changed
// tarball is imported again.
func importImageDir(ctx context.Context, c *containerdclient.Client, dir string, log *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("image directory: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".tar") || strings.HasSuffix(name, ".tar.gz")) {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := e.Info()
		if err != nil {
			return err
		}
		marker := filepath.Join(dir, "."+name+".imported")
		stamp := fmt.Sprintf("%d %d\n", info.Size(), info.ModTime().UnixNano())
		if b, err := os.ReadFile(marker); err == nil && string(b) == stamp {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		imgs, err := containerd.ImportImages(ctx, c, f)
		f.Close()
		if err != nil {
			log.Warn("import image tarball", "file", path, "err", err)
			continue
		}
		log.Info("imported images", "file", path, "images", imgs)
		if err := os.WriteFile(marker, []byte(stamp), 0o600); err != nil {
			return err
		}
	}
	return nil
}
