package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/netstack/overlay"
	runtimecd "github.com/skiffhq/skiff/runtime/containerd"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/app"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store/atomicfile"
)

// agentCredentials is where a joined agent keeps its client config (server,
// CA, node certificate and key), relative to the data directory.
const agentCredentials = "agent/node.yaml"

func newAgentCommand(io streams) *cobra.Command {
	var server, token, tokenFile, dataDir, logLevel string
	cmd := &cobra.Command{
		Use:   "agent --server URL --token TOKEN",
		Short: "Run a node that joins a skiff server",
		Long: `Run a node agent on this machine and join it to a skiff server. The token is
the one the server printed (it is kept in <data-dir>/node-token there). The
agent first fetches the server's CA and accepts it only if its hash is the one
in the token; only then does it send the token's secret, and it gets a node
certificate in exchange, kept in <data-dir>/agent/node.yaml. Later starts need
neither flag.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				token = os.Getenv("SKIFF_TOKEN")
			}
			if server == "" {
				server = os.Getenv("SKIFF_SERVER")
			}
			if tokenFile != "" {
				data, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				token = strings.TrimSpace(string(data))
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %q must be debug, info, warn or error", logLevel)
			}
			var node NodeConfig
			f := cmd.Flags()
			for flag, dst := range map[string]*string{
				"node-name": &node.NodeName, "node-ip": &node.NodeIP,
				"containerd-socket": &node.ContainerdSocket, "run-dir": &node.RunDir,
				"cgroup-root": &node.CgroupRoot, "bridge": &node.Bridge, "overlay-device": &node.OverlayDevice,
				"ingress-listen": &node.IngressListen, "ingress-https-listen": &node.IngressHTTPSListen, "acme-email": &node.ACMEEmail, "acme-directory": &node.ACMEDirectory,
			} {
				*dst, _ = f.GetString(flag)
			}
			node.AgentPort, _ = f.GetInt("agent-port")
			node.ACMECacheDir = filepath.Join(dataDir, "ingress", "acme")
			// The cluster's network settings come from the server unless
			// given here.
			if f.Changed("cluster-dns") {
				node.ClusterDNS, _ = f.GetString("cluster-dns")
			}
			node.ClusterCIDR, _ = f.GetString("cluster-cidr")
			if v := os.Getenv("SKIFF_CONTAINERD_SOCKET"); v != "" && !f.Changed("containerd-socket") {
				node.ContainerdSocket = v
			}
			log := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: level}))
			return runAgent(cmd.Context(), agentOptions{server: server, token: token, dataDir: dataDir, node: node}, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "the server's URL, e.g. https://192.168.1.10:8443 ($SKIFF_SERVER)")
	f.StringVar(&token, "token", "", "join token printed by the server ($SKIFF_TOKEN)")
	f.StringVar(&tokenFile, "token-file", "", "read the join token from this file")
	f.StringVar(&dataDir, "data-dir", "/var/lib/skiff", "directory for the node's credentials, images, volumes and logs")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	addNodeFlags(f)
	f.String("cluster-cidr", "", "the cluster's pod network (default: the server's --cluster-cidr)")
	return cmd
}

type agentOptions struct {
	server, token, dataDir string
	node                   NodeConfig
}

// runAgent joins (once) and runs the node until ctx ends.
func runAgent(ctx context.Context, o agentOptions, log *slog.Logger) error {
	// The cluster's network settings come from the server unless given.
	givenCIDR, givenDNS := o.node.ClusterCIDR, o.node.ClusterDNS
	o.node.setDefaults()
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	cfg, err := agentConfig(ctx, o, log)
	if err != nil {
		return err
	}
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair([]byte(cfg.ClientCertificate), []byte(cfg.ClientKey))
	if err != nil {
		return fmt.Errorf("node certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(cfg.CA)) {
		return errors.New("node credentials: the CA holds no PEM certificate")
	}
	netw, err := agentNetwork(ctx, c, cfg, o.dataDir, log)
	if err != nil {
		return err
	}
	switch {
	case givenCIDR == "" && netw.ClusterCIDR != "":
		o.node.ClusterCIDR = netw.ClusterCIDR
	case givenCIDR != "" && netw.ClusterCIDR != "" && givenCIDR != netw.ClusterCIDR:
		log.Warn("--cluster-cidr is not the server's: pod traffic to other nodes is masqueraded or misrouted", "given", givenCIDR, "server", netw.ClusterCIDR)
	}
	if givenDNS == "" {
		switch dns, err := registry.ClusterDNSAddress(netw.ServiceCIDR); {
		case netw.ClusterDNS != "":
			o.node.ClusterDNS = netw.ClusterDNS
		case err == nil:
			o.node.ClusterDNS = dns.String()
		}
	}
	o.node.Overlay, o.node.WireGuardPort = netw.Overlay, netw.WireGuardPort
	o.node.AppsDomain = netw.AppsDomain
	log.Info("skiff agent starting", "server", cfg.Server, "node", o.node.NodeName, "overlay", o.node.Overlay,
		"certificate-expires", pair.Leaf.NotAfter.Format(time.DateOnly))
	if left := time.Until(pair.Leaf.NotAfter); left < 30*24*time.Hour {
		log.Warn("the node certificate expires soon; rejoin with --token before then", "in", left.Round(time.Hour))
	}
	var cert atomic.Pointer[tls.Certificate]
	cert.Store(&pair)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		watchNetwork(ctx, c, client.ClusterNetwork{ClusterCIDR: o.node.ClusterCIDR, Overlay: o.node.Overlay,
			ServiceCIDR: netw.ServiceCIDR, ClusterDNS: netw.ClusterDNS}, log)
		return nil
	})
	g.Go(func() error {
		renewNodeCert(ctx, c, cfg, o.dataDir, o.node.NodeName, func(p tls.Certificate) { cert.Store(&p) }, log)
		return nil
	})
	g.Go(func() error {
		return runNode(ctx, o.node, o.dataDir, nodeDeps{backend: c, lease: c, cert: cert.Load, ca: pool,
			mirrors:  []runtimecd.Mirror{appImageMirror(c)},
			activate: func(ctx context.Context, ns, name string) error { return app.Activate(ctx, c, ns, name) },
			touch: func(ctx context.Context, ns, name string) error {
				return app.Touch(ctx, c, ns, name, time.Now())
			}}, version, log)
	})
	return g.Wait()
}

// renewNodeCert renews the node's certificate (POST /join/v1/renew, with
// a fresh key) at two thirds of its lifetime, saves it with the node's
// credentials, and puts it into use — on new requests to the server
// (watches in progress keep their connections and are not dropped) and
// on the agent's endpoint, through use — without a restart. It wakes at
// least hourly to compare against the wall clock (a suspended board, a
// clock stepped by NTP), waits at least a retry interval after each
// renewal (a clock far ahead of the server's would otherwise ask again
// at once), and tries a failed renewal again every retry interval; once
// the certificate has run out, the node must rejoin, and it says so.
func renewNodeCert(ctx context.Context, c *client.HTTP, cfg client.Config, dataDir, node string, use func(tls.Certificate), log *slog.Logger) {
	path := filepath.Join(dataDir, agentCredentials)
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	for {
		pair, err := tls.X509KeyPair([]byte(cfg.ClientCertificate), []byte(cfg.ClientKey))
		if err != nil {
			log.Error("node certificate unreadable; not renewing", "err", err)
			return
		}
		retry := min(time.Minute, pair.Leaf.NotAfter.Sub(pair.Leaf.NotBefore)/20)
		for wait := time.Until(auth.RenewAt(pair.Leaf)); wait > 0; wait = time.Until(auth.RenewAt(pair.Leaf)) {
			if !sleep(min(wait, time.Hour)) {
				return
			}
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		next, err := c.RenewNodeCert(rctx, cfg, node)
		cancel()
		if err == nil {
			err = client.WriteConfig(path, next)
		}
		var np tls.Certificate
		if err == nil {
			np, err = tls.X509KeyPair([]byte(next.ClientCertificate), []byte(next.ClientKey))
		}
		if err == nil {
			c.SetClientCertificate(np)
			use(np)
			cfg = next
			log.Info("renewed the node certificate", "expires", np.Leaf.NotAfter.Format(time.RFC3339))
			if !sleep(retry) {
				return
			}
			continue
		}
		switch {
		case time.Now().After(pair.Leaf.NotAfter):
			log.Error("the node certificate has expired: rejoin this machine with a token made for it (skiff join-token create --node "+node+
				"; then skiff agent --token TOKEN)", "expired", pair.Leaf.NotAfter.Format(time.RFC3339), "err", err)
			retry = 10 * time.Minute
		case errdefs.IsUnauthorized(err) || errdefs.IsForbidden(err):
			log.Error("the server refuses this node's certificate (the node was deleted, or joined again from another machine): "+
				"to bring this machine back, remove "+path+" and start the agent with a token made for it (skiff join-token create --node "+node+")",
				"err", err)
			retry = max(retry, 10*time.Minute)
		case errdefs.IsNotFound(err):
			log.Error("the server does not renew node certificates (it is older than this agent): upgrade the server before this one expires",
				"expires", pair.Leaf.NotAfter.Format(time.RFC3339))
			retry = max(retry, 10*time.Minute)
		default:
			log.Error("renewing the node certificate; trying again", "in", retry, "expires", pair.Leaf.NotAfter.Format(time.RFC3339), "err", err)
		}
		if !sleep(retry) {
			return
		}
	}
}

// agentNetworkFile keeps, under the data directory, the cluster's network
// settings as last read from the server, for starts while it is down.
const agentNetworkFile = "agent/network.json"

// savedNetwork is agentNetworkFile: the settings and the server (its URL
// and CA) that gave them, so that a node joined to another server since
// does not start with the old cluster's.
type savedNetwork struct {
	Server  string                `json:"server"`
	CAHash  string                `json:"caSHA256"`
	Network client.ClusterNetwork `json:"network"`
}

// agentNetwork reads the cluster's network settings from the server and
// keeps a copy (written only when it changes); while the server cannot
// be reached it starts with the copy (the node's pods keep running and
// routed), or, on a first start, waits for the server. A server that
// publishes none (older than the settings) leaves the agent's own:
// host-gw, and its --cluster-cidr or the default.
func agentNetwork(ctx context.Context, c *client.HTTP, cfg client.Config, dataDir string, log *slog.Logger) (client.ClusterNetwork, error) {
	path := filepath.Join(dataDir, agentNetworkFile)
	sum := sha256.Sum256([]byte(cfg.CA))
	me := savedNetwork{Server: cfg.Server, CAHash: hex.EncodeToString(sum[:])}
	var saved savedNetwork
	if data, err := os.ReadFile(path); err == nil {
		if json.Unmarshal(data, &saved) != nil || saved.Server != me.Server || saved.CAHash != me.CAHash {
			saved = savedNetwork{}
		}
	}
	delay := time.Second
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := c.ClusterNetwork(rctx)
		cancel()
		switch {
		case err == nil && (n.ClusterCIDR == "" || n.Overlay == ""):
			return n, fmt.Errorf("the server's network settings lack the cluster CIDR or the overlay (%+v): upgrade the server", n)
		case err == nil:
			if saved.Network != n {
				me.Network = n
				data, _ := json.Marshal(me)
				if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
					log.Warn("cannot keep the cluster's network settings", "path", path, "err", err)
				}
			}
			return n, nil
		case errdefs.IsNotFound(err):
			log.Warn("the server publishes no network settings (GET /cluster/v1/network: not found; it is older than this agent): running host-gw with this agent's --cluster-cidr; upgrade the server", "server", cfg.Server)
			return client.ClusterNetwork{Overlay: string(overlay.HostGW)}, nil
		case errdefs.IsUnauthorized(err) || errdefs.IsForbidden(err):
			return n, fmt.Errorf("the cluster's network settings: %w (rejoin with --token)", err)
		case saved.Network.Overlay != "":
			log.Warn("cannot reach the server; starting with the network settings it last gave", "err", err)
			return saved.Network, nil
		}
		log.Warn("cannot read the cluster's network settings yet; retrying", "in", delay, "err", err)
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// networkRecheck is how often a running agent compares the server's
// network settings with those it runs.
const networkRecheck = time.Minute

// watchNetwork says, once per change, when the server's network settings
// stop being those this agent runs: a node on another overlay or pod
// network cannot reach the others' pods. They take effect at the agent's
// next start (its pods keep running across it).
func watchNetwork(ctx context.Context, c *client.HTTP, running client.ClusterNetwork, log *slog.Logger) {
	said := running
	t := time.NewTicker(networkRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := c.ClusterNetwork(rctx)
		cancel()
		if err != nil || n == said {
			continue
		}
		said = n
		if n.Overlay != running.Overlay || n.ClusterCIDR != running.ClusterCIDR {
			log.Error("the server's network settings changed: restart this agent to follow them (its pods keep running)",
				"overlay", n.Overlay, "running-overlay", running.Overlay, "cluster-cidr", n.ClusterCIDR, "running-cluster-cidr", running.ClusterCIDR)
		}
	}
}

// agentConfig returns the node's saved credentials, joining first when
// there are none, they are for another server, or they expired.
func agentConfig(ctx context.Context, o agentOptions, log *slog.Logger) (client.Config, error) {
	path := filepath.Join(o.dataDir, agentCredentials)
	saved, err := client.LoadConfig(path)
	reason := ""
	switch {
	case errors.Is(err, os.ErrNotExist):
		reason = "not joined yet"
	case err != nil:
		return client.Config{}, fmt.Errorf("%w (remove it and start again with --token to rejoin)", err)
	case o.server != "" && strings.TrimRight(o.server, "/") != saved.Server:
		reason = "joined to " + saved.Server + ", now told " + o.server
	default:
		pair, perr := tls.X509KeyPair([]byte(saved.ClientCertificate), []byte(saved.ClientKey))
		switch {
		case perr != nil:
			return client.Config{}, fmt.Errorf("%s: node certificate: %w (remove it and start again with --token to rejoin)", path, perr)
		case time.Now().After(pair.Leaf.NotAfter):
			reason = "the node certificate expired on " + pair.Leaf.NotAfter.Format(time.DateOnly)
		case pair.Leaf.Subject.CommonName != auth.NodeUserPrefix+o.node.NodeName:
			reason = "the node certificate is for " + pair.Leaf.Subject.CommonName
		default:
			return saved, nil
		}
	}
	if o.server == "" || o.token == "" {
		return client.Config{}, fmt.Errorf("this machine must join a server (%s): give --server and --token (the server prints both)", reason)
	}
	tok, err := auth.ParseJoinToken(o.token)
	if err != nil {
		return client.Config{}, err
	}
	node := client.JoinNode{Name: o.node.NodeName}
	log.Info("joining", "server", o.server, "node", o.node.NodeName, "why", reason)
	cfg, err := joinRetrying(ctx, strings.TrimRight(o.server, "/"), tok, node, log)
	if err != nil {
		return client.Config{}, err
	}
	if err := client.WriteConfig(path, cfg); err != nil {
		return client.Config{}, err
	}
	log.Info("joined; credentials saved", "path", path)
	return cfg, nil
}

// joinRetrying joins, waiting out a server that is not up yet; a refusal
// (a CA that does not match, a bad secret, an invalid name) ends it.
func joinRetrying(ctx context.Context, server string, tok auth.JoinToken, node client.JoinNode, log *slog.Logger) (client.Config, error) {
	delay := time.Second
	for {
		jctx, cancel := context.WithTimeout(ctx, time.Minute)
		cfg, err := client.Join(jctx, server, tok, node)
		cancel()
		var hostErr x509.HostnameError
		switch {
		case errors.As(err, &hostErr):
			return cfg, fmt.Errorf("%w: the server's certificate names %s; use one of those in --server, or add this one to the server's --tls-san",
				err, strings.Join(append(hostErr.Certificate.DNSNames, ipStrings(hostErr.Certificate.IPAddresses)...), ", "))
		case err == nil || ctx.Err() != nil || errors.Is(err, client.ErrCAMismatch) || errdefs.IsUnauthorized(err) ||
			errdefs.IsForbidden(err) || errdefs.IsInvalid(err) || errors.Is(err, errdefs.ErrBadRequest) ||
			errdefs.IsNotFound(err) || errdefs.IsAlreadyExists(err):
			return cfg, err
		}
		log.Warn("cannot join yet; retrying", "in", delay, "err", err)
		select {
		case <-ctx.Done():
			return client.Config{}, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}
