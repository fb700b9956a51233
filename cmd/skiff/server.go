package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/server/accounts"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/apiserver"
	"github.com/skiffhq/skiff/server/audit"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/auth/oidc"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/app"
	"github.com/skiffhq/skiff/server/controller/manager"
	"github.com/skiffhq/skiff/server/nodelease"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
	"github.com/skiffhq/skiff/server/store/encrypt"
)

func newServerCommand(io streams) *cobra.Command {
	cfg := defaultServerConfig()
	var configPath string
	var certValidity time.Duration
	var oc OIDCConfig
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: API server and state store",
		Long: `Run the skiff control plane. On a fresh machine it needs no flags: it creates
its data directory, certificate authority, admin credentials and state
database, and serves the API over HTTPS. The admin client config is written
to <data-dir>/admin.yaml.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			final := defaultServerConfig()
			if err := final.loadConfigFile(configPath, cmd.Flags().Changed("config")); err != nil {
				return err
			}
			final.loadEnv(os.Getenv)
			f := cmd.Flags()
			if f.Changed("data-dir") {
				final.DataDir = cfg.DataDir
			}
			if f.Changed("listen") {
				final.Listen = cfg.Listen
			}
			if f.Changed("tls-san") {
				final.TLSSANs = cfg.TLSSANs
			}
			if f.Changed("log-level") {
				final.LogLevel = cfg.LogLevel
			}
			if f.Changed("bookmark-seconds") {
				final.BookmarkSeconds = cfg.BookmarkSeconds
			}
			if f.Changed("cluster-cidr") {
				final.ClusterCIDR = cfg.ClusterCIDR
			}
			if f.Changed("overlay") {
				final.Overlay = cfg.Overlay
			}
			if f.Changed("certificate-validity") {
				if certValidity < auth.MinCertValidity {
					return fmt.Errorf("--certificate-validity %s: at least %s", certValidity, auth.MinCertValidity)
				}
				final.CertificateValiditySeconds = int(certValidity / time.Second)
			}
			if f.Changed("wireguard-port") {
				final.WireGuardPort = cfg.WireGuardPort
			}
			if f.Changed("service-cidr") {
				final.ServiceCIDR = cfg.ServiceCIDR
			}
			if f.Changed("service-node-port-range") {
				final.ServiceNodePortRange = cfg.ServiceNodePortRange
			}
			if oc.Issuer != "" {
				final.OIDC = &oc
			} else if f.Changed("oidc-client-id") || f.Changed("oidc-groups-claim") || f.Changed("oidc-redirect-url") || f.Changed("oidc-client-secret-file") {
				return errors.New("--oidc-client-id, --oidc-groups-claim, --oidc-redirect-url and --oidc-client-secret-file need --oidc-issuer")
			}
			if f.Changed("disable-agent") {
				final.DisableAgent = cfg.DisableAgent
			}
			for flag, dst := range map[string]*string{
				"node-name": &final.Node.NodeName, "node-ip": &final.Node.NodeIP,
				"containerd-socket": &final.Node.ContainerdSocket, "run-dir": &final.Node.RunDir,
				"cgroup-root": &final.Node.CgroupRoot, "bridge": &final.Node.Bridge, "cluster-dns": &final.Node.ClusterDNS,
				"overlay-device": &final.Node.OverlayDevice, "ingress-listen": &final.Node.IngressListen,
				"ingress-https-listen": &final.Node.IngressHTTPSListen, "acme-email": &final.Node.ACMEEmail, "acme-directory": &final.Node.ACMEDirectory,
				"apps-domain": &final.AppsDomain, "git-ssh-listen": &final.GitSSHListen,
			} {
				if f.Changed(flag) {
					v, _ := f.GetString(flag)
					*dst = v
				}
			}
			if f.Changed("build-image") {
				final.BuildImages, _ = f.GetStringToString("build-image")
			}
			if f.Changed("node-not-ready-seconds") {
				final.NodeNotReadySeconds = cfg.NodeNotReadySeconds
			}
			if f.Changed("pod-eviction-seconds") {
				final.PodEvictionSeconds = cfg.PodEvictionSeconds
			}
			if f.Changed("agent-port") {
				final.Node.AgentPort, _ = f.GetInt("agent-port")
			}
			final.Node.ClusterCIDR = final.ClusterCIDR
			final.Node.ACMECacheDir = filepath.Join(final.DataDir, "ingress", "acme")
			final.Node.Overlay, final.Node.WireGuardPort = final.Overlay, final.WireGuardPort
			if final.AppsDomain == "" {
				ip := final.Node.NodeIP
				if ip == "" {
					ip = defaultNodeIP()
				}
				if ip == "" {
					ip = "127.0.0.1"
				}
				final.AppsDomain = strings.ReplaceAll(ip, ":", "-") + ".sslip.io"
			}
			final.Node.AppsDomain = final.AppsDomain
			if final.Node.ClusterDNS == "" {
				// The service range's tenth, kept for it.
				if dns, err := registry.ClusterDNSAddress(final.ServiceCIDR); err == nil {
					final.Node.ClusterDNS = dns.String()
				}
			}
			if err := final.Validate(); err != nil {
				return fmt.Errorf("server config: %w", err)
			}
			return runServer(cmd.Context(), final, io)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "/etc/skiff/config.yaml", "server config file (YAML)")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for state, certificates and admin.yaml")
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "HTTPS address of the API")
	f.StringSliceVar(&cfg.TLSSANs, "tls-san", nil, "extra DNS name or IP for the serving certificate (repeatable)")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	f.IntVar(&cfg.BookmarkSeconds, "bookmark-seconds", cfg.BookmarkSeconds, "seconds between BOOKMARK events on an idle watch")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", cfg.ClusterCIDR, "pod network; each node gets a /24 of it")
	f.StringVar(&cfg.Overlay, "overlay", cfg.Overlay, "how pod traffic crosses between nodes: host-gw (one LAN), vxlan (routed) or wireguard (over the internet)")
	f.DurationVar(&certValidity, "certificate-validity", auth.DefaultCertValidity, "how long the serving and node certificates last; each renews itself, without a restart, after two thirds of it")
	f.IntVar(&cfg.WireGuardPort, "wireguard-port", cfg.WireGuardPort, "the wireguard overlay's UDP port on every node")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", cfg.ServiceCIDR, "services' cluster IPs (.1 kept for the API, .10 for DNS)")
	f.StringVar(&cfg.ServiceNodePortRange, "service-node-port-range", cfg.ServiceNodePortRange, "NodePort services' ports, low-high within 30000-32767")
	f.BoolVar(&cfg.DisableAgent, "disable-agent", false, "run the control plane only, no pods on this machine")
	f.IntVar(&cfg.NodeNotReadySeconds, "node-not-ready-seconds", cfg.NodeNotReadySeconds, "a node silent this long is NotReady and tainted unreachable")
	f.IntVar(&cfg.PodEvictionSeconds, "pod-eviction-seconds", cfg.PodEvictionSeconds, "pods of an unreachable node are deleted after this long")
	f.StringVar(&oc.Issuer, "oidc-issuer", "", "sign people in through this OpenID Connect provider (its issuer URL)")
	f.StringVar(&oc.ClientID, "oidc-client-id", "", "the client ID skiff is registered as at the provider")
	f.StringVar(&oc.ClientSecretFile, "oidc-client-secret-file", "", "a file holding the client's secret (none: a public client with PKCE)")
	f.StringVar(&oc.GroupsClaim, "oidc-groups-claim", "", "the ID-token claim with the user's groups (bind them as oidc:<group>)")
	f.StringVar(&oc.UsernameClaim, "oidc-username-claim", "", "the ID-token claim that becomes the user name (default preferred_username, else email's local part)")
	f.StringVar(&oc.RedirectURL, "oidc-redirect-url", "", "this server's callback as registered at the provider: https://HOST:8443/auth/v1/oidc/callback")
	f.StringToString("build-image", nil, "base image of apps without a Dockerfile, KIND=REF (kinds: static, python, node, goBuild, goRun, procfile)")
	f.String("git-ssh-listen", ":2222", `the address of git push over SSH ("none": off)`)
	f.String("apps-domain", "", "apps answer at APP.<apps-domain> on every node's router (default <node-ip>.sslip.io)")
	addNodeFlags(f)
	cmd.AddCommand(newSecretsKeyCommand(io))
	return cmd
}

// runServer brings the control plane up and runs it until ctx ends.
func runServer(ctx context.Context, cfg ServerConfig, io streams) error {
	start := time.Now()
	level, _ := cfg.level()
	log := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: level}))
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}

	pkiDir := filepath.Join(cfg.DataDir, "pki")
	pki, err := auth.EnsurePKI(pkiDir, auth.PKIConfig{ExtraSANs: cfg.TLSSANs, CertValidity: time.Duration(cfg.CertificateValiditySeconds) * time.Second},
		log.With("component", "pki"))
	if err != nil {
		return err
	}
	token, created, err := auth.EnsureAdminToken(pkiDir)
	if err != nil {
		return err
	}
	hash, err := auth.LoadTokenHash(pkiDir)
	if err != nil {
		return err
	}
	joinToken, err := auth.EnsureJoinToken(cfg.DataDir, pki.CAHash())
	if err != nil {
		return err
	}
	leases := nodelease.New(nil)

	// Secrets are sealed at rest with the key ring under pki/ (made at
	// the first start; see server/store/encrypt).
	st, _, err := encrypt.Open(filepath.Join(pkiDir, encrypt.KeyFile),
		store.Config{Path: filepath.Join(cfg.DataDir, "state.db"), Log: log.With("component", "store")})
	if err != nil {
		return err
	}
	defer st.Close()
	reg, err := registry.New(registry.Config{
		Store:            st,
		BookmarkInterval: time.Duration(cfg.BookmarkSeconds) * time.Second,
		ServiceCIDR:      cfg.ServiceCIDR,
		NodePortRange:    cfg.ServiceNodePortRange,
		Log:              log.With("component", "registry"),
	})
	if err != nil {
		return err
	}
	if err := reg.EnsureNamespaces(ctx); err != nil {
		return err
	}
	if err := reg.EnsurePriorityClasses(ctx); err != nil {
		return err
	}

	// The API server's client certificate (for agents) and the embedded
	// agent's are made at every start, kept in memory only, and renewed
	// in place when due.
	apiClient, err := auth.NewRenewingPair(pki.APIServerClientPair, log.With("component", "pki"))
	if err != nil {
		return err
	}
	var nodeCert *auth.RenewingPair
	if !cfg.DisableAgent {
		cfg.Node.setDefaults()
		name := cfg.Node.NodeName
		if nodeCert, err = auth.NewRenewingPair(func() (tls.Certificate, error) { return pki.NodeKeyPair(name) }, log.With("component", "pki")); err != nil {
			return err
		}
	}
	// People: users, sessions, API tokens and roles, kept in the store.
	accts, err := accounts.New(accounts.Config{
		Backend: reg, KeyDir: pkiDir,
		AdminToken: auth.NewStaticToken(hash, auth.Identity{Name: "admin", Groups: []string{auth.GroupAdmins}}),
		Log:        log.With("component", "accounts"),
	})
	if err != nil {
		return err
	}
	reg.SetAuthorizer(accts) // roles may allow privileged pods (pods/privileged)
	var provider *oidc.Provider
	if cfg.OIDC != nil {
		pc, err := cfg.OIDC.provider()
		if err != nil {
			return err
		}
		if provider, err = oidc.New(ctx, pc, log.With("component", "oidc")); err != nil {
			return err
		}
	}
	auditLog, err := audit.Open(filepath.Join(cfg.DataDir, "audit"), audit.Options{
		MaxFileBytes: int64(cfg.AuditMaxFileMB) << 20, MaxFiles: cfg.AuditMaxFiles})
	if err != nil {
		return err
	}
	defer auditLog.Close()
	agents := apiserver.AgentProxyConfig{ClientCert: apiClient.Get, CAs: pki.CAPool()}
	appSvc, repos, slot, err := newAppService(cfg, reg, agents, log)
	if err != nil {
		return err
	}
	api, err := apiserver.New(apiserver.Config{
		Backend:  reg,
		Auth:     accts,
		Accounts: accts,
		OIDC:     provider,
		Audit:    auditLog,
		Join: &apiserver.JoinConfig{CAPEM: pki.CAPEM(), Issuer: pki,
			Tokens: auth.NewJoinTokens(joinToken.Secret, func(ctx context.Context, name string) (*api.Secret, error) {
				return client.For[*api.Secret](reg, auth.JoinTokenNamespace).Get(ctx, name)
			})},
		Apps:    appsConfig(cfg, appSvc, repos, slot),
		Leases:  leases,
		Agents:  &agents,
		Version: apiserver.VersionInfo{Version: version, Commit: commit},
		Network: &client.ClusterNetwork{ClusterCIDR: cfg.ClusterCIDR, ServiceCIDR: cfg.ServiceCIDR,
			ClusterDNS: cfg.clusterDNS(), Overlay: cfg.Overlay, WireGuardPort: cfg.WireGuardPort, AppsDomain: cfg.AppsDomain},
		Log: log.With("component", "apiserver"),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	adminPath := filepath.Join(cfg.DataDir, "admin.yaml")
	if err := writeAdminConfig(adminPath, serverURL(ln.Addr()), string(pki.CAPEM()), token, created); err != nil {
		ln.Close()
		return err
	}
	log.Info("skiff server ready", "url", serverURL(ln.Addr()), "admin-config", adminPath, "ca-sha256", pki.CAHash(),
		"revision", st.Revision(), "startup", time.Since(start).Round(time.Millisecond).String())
	joinURL := serverURL(ln.Addr())
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		if ip := defaultNodeIP(); ip != "" {
			joinURL = "https://" + net.JoinHostPort(ip, fmt.Sprint(tcp.Port))
		}
	}
	// The token goes in the environment, not on the command line, where
	// every user of that machine could read it in /proc.
	fmt.Fprintf(io.err, "To add a node, run on it (as root):\n  SKIFF_TOKEN=%s skiff agent --server %s\n(the token is kept in %s; --token and --token-file work too)\n",
		joinToken, joinURL, filepath.Join(cfg.DataDir, auth.NodeTokenFile))

	loops, err := manager.New(manager.Config{
		Backend: reg, Leases: leases, ClusterCIDR: cfg.ClusterCIDR,
		NodeNotReadyAfter: time.Duration(cfg.NodeNotReadySeconds) * time.Second,
		EvictAfter:        time.Duration(cfg.PodEvictionSeconds) * time.Second,
		AppsDomain:        cfg.AppsDomain,
		Log:               log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return accts.Run(ctx) })
	if !accts.WaitForSync(ctx) {
		ln.Close()
		return g.Wait()
	}
	if err := appSvc.Recover(ctx); err != nil {
		log.Warn("could not end the builds a stopped server left running", "err", err)
	}
	g.Go(func() error { return api.Serve(ctx, ln, pki.ServerTLSConfig()) })
	g.Go(func() error { return loops.Run(ctx) })
	gc := &appImageGC{backend: reg, slot: slot, log: log.With("component", "app-gc")}
	g.Go(func() error { return gc.Run(ctx) })
	if cfg.GitSSHListen != "none" {
		g.Go(func() error {
			sshLog := log.With("component", "git-ssh")
			keepRunning(ctx, "git over SSH", sshLog, func() error {
				srv, err := api.GitSSH(cfg.GitSSHListen, filepath.Join(pkiDir, "ssh_host_ed25519_key"))
				if err != nil {
					return err
				}
				return srv.Run(ctx)
			})
			return nil
		})
	}
	g.Go(func() error { return pki.RunRenewal(ctx, log.With("component", "pki")) })
	if !cfg.DisableAgent {
		g.Go(func() error {
			return runNode(ctx, cfg.Node, cfg.DataDir, nodeDeps{backend: reg, lease: localLease{leases}, cert: nodeCert.Get, ca: pki.CAPool(),
				containerd: slot.set, server: true,
				activate: func(ctx context.Context, ns, name string) error { return app.Activate(ctx, reg, ns, name) },
				touch: func(ctx context.Context, ns, name string) error {
					return app.Touch(ctx, reg, ns, name, time.Now())
				}}, version, log)
		})
	}
	err = g.Wait()
	log.Info("skiff server stopped")
	return err
}

// localLease renews the embedded agent's lease straight in the table.
type localLease struct{ t *nodelease.Table }

func (l localLease) RenewLease(_ context.Context, node string, d time.Duration) error {
	l.t.Renew(node, auth.NodeUserPrefix+node, d)
	return nil
}

// serverURL is the URL a client on this machine uses to reach addr.
func serverURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "https://" + addr.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}

// writeAdminConfig writes admin.yaml when the admin token was just made,
// and afterwards only rewrites it when the server URL or CA changed. The
// token exists in plain text only there: if admin.yaml is lost, the token
// cannot be recovered from the server's hash.
func writeAdminConfig(path, url, ca, token string, created bool) error {
	if created {
		return client.WriteConfig(path, client.Config{Server: url, CA: ca, Token: token})
	}
	old, err := client.LoadConfig(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s is missing and the admin token is stored only as a hash; remove %s to make a new admin token",
			path, filepath.Join(filepath.Dir(path), "pki", "admin-token.sha256"))
	}
	if err != nil {
		return err
	}
	if old.Server == url && old.CA == ca {
		return nil
	}
	old.Server, old.CA = url, ca
	return client.WriteConfig(path, old)
}
