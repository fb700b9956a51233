package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/netstack/overlay"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/auth/oidc"
	"github.com/skiffhq/skiff/server/build"
	"github.com/skiffhq/skiff/server/registry"
)

// ServerConfig is everything `skiff server` can be told. The YAML file
// (/etc/skiff/config.yaml), environment variables (SKIFF_<FIELD>) and flags
// only fill it, in that order, later ones winning.
type ServerConfig struct {
	// DataDir holds state.db, pki/ and admin.yaml. Env SKIFF_DATA_DIR.
	DataDir string `json:"dataDir,omitempty"`
	// Listen is the address of the HTTPS API. Env SKIFF_LISTEN.
	Listen string `json:"listen,omitempty"`
	// TLSSANs are extra DNS names or IPs for the serving certificate, for
	// clients that reach the server by a name it cannot see itself.
	TLSSANs []string `json:"tlsSANs,omitempty"`
	// LogLevel is debug, info, warn or error. Env SKIFF_LOG_LEVEL.
	LogLevel string `json:"logLevel,omitempty"`
	// BookmarkSeconds: an idle watch gets a BOOKMARK this often.
	BookmarkSeconds int `json:"bookmarkSeconds,omitempty"`
	// ClusterCIDR is the pod network; each node gets a /24 of it.
	ClusterCIDR string `json:"clusterCIDR,omitempty"`
	// Overlay is how pod traffic crosses between nodes, for the whole
	// cluster (agents take it from the server): host-gw (default; every
	// node on one LAN), vxlan (nodes that reach each other only by IP) or
	// wireguard (nodes joined over the internet; encrypted).
	Overlay string `json:"overlay,omitempty"`
	// CertificateValiditySeconds is how long the serving and node
	// certificates last (default a year); each renews itself, without a
	// restart, after two thirds of it.
	CertificateValiditySeconds int `json:"certificateValiditySeconds,omitempty"`
	// WireGuardPort is the wireguard overlay's UDP port on every node
	// (default 51820; another where that is taken, say by a VPN).
	WireGuardPort int `json:"wireGuardPort,omitempty"`
	// ServiceCIDR is where services' cluster IPs come from (default
	// 10.43.0.0/16; .1 is kept for the API, .10 for cluster DNS).
	ServiceCIDR string `json:"serviceCIDR,omitempty"`
	// ServiceNodePortRange is where NodePort services' ports come from,
	// "low-high" (default 30000-32767, which is also the widest allowed).
	ServiceNodePortRange string `json:"serviceNodePortRange,omitempty"`
	// DisableAgent runs the control plane only, with no pods on this
	// machine. Env SKIFF_DISABLE_AGENT=true.
	DisableAgent bool `json:"disableAgent,omitempty"`
	// NodeNotReadySeconds: a node that has not renewed its lease for this
	// long is NotReady and tainted unreachable (default 20, at least 10:
	// agents renew every 5 s).
	NodeNotReadySeconds int `json:"nodeNotReadySeconds,omitempty"`
	// PodEvictionSeconds: pods of an unreachable node are deleted (and
	// replaced by their controllers) after this long (default 60).
	PodEvictionSeconds int `json:"podEvictionSeconds,omitempty"`
	// OIDC, when set, lets people sign in through an OpenID Connect
	// provider (Google, GitHub through Dex, Keycloak, Authentik...):
	// issuer, clientID, clientSecret (or clientSecretFile), scopes,
	// usernameClaim, groupsClaim, redirectURL. The flags --oidc-* set the
	// same.
	OIDC *OIDCConfig `json:"oidc,omitempty"`
	// AuditMaxFileMB and AuditMaxFiles bound the audit log under
	// <data-dir>/audit (default 10 MB per file, 5 rotated files kept).
	AuditMaxFileMB int `json:"auditMaxFileMB,omitempty"`
	AuditMaxFiles  int `json:"auditMaxFiles,omitempty"`
	// AppsDomain is the domain apps answer under: APP.<appsDomain>, on
	// every node's router (a wildcard DNS record *.<appsDomain> should
	// point at the nodes). Default <node-ip>.sslip.io, which public DNS
	// resolves to the node's address. Env SKIFF_APPS_DOMAIN.
	AppsDomain string `json:"appsDomain,omitempty"`
	// GitSSHListen is the address of git over SSH (default ":2222";
	// "none" turns it off). Env SKIFF_GIT_SSH_LISTEN.
	GitSSHListen string `json:"gitSSHListen,omitempty"`
	// BuildImages replace the base images of apps without a Dockerfile,
	// by kind: static, python, node, goBuild, goRun, procfile (e.g. an
	// image imported on an air-gapped board). --build-image KIND=REF.
	BuildImages map[string]string `json:"buildImages,omitempty"`
	// BuildTimeoutSeconds bounds one build (default 900) and
	// BuildMemoryMB each of its RUN steps (default 1024): a build past
	// either fails, saying so, and the running release stays.
	BuildTimeoutSeconds int `json:"buildTimeoutSeconds,omitempty"`
	BuildMemoryMB       int `json:"buildMemoryMB,omitempty"`
	// Node configures the embedded agent.
	Node NodeConfig `json:"node,omitzero"`
}

// OIDCConfig is the provider's settings as the config file spells them:
// oidc.Config, with the client secret optionally in a file of its own
// (kept out of a config file others may read).
type OIDCConfig struct {
	oidc.Config      `json:",inline"`
	ClientSecretFile string `json:"clientSecretFile,omitempty"`
}

// provider is the provider's settings with the secret read from its file.
func (c *OIDCConfig) provider() (oidc.Config, error) {
	pc := c.Config
	if c.ClientSecretFile != "" {
		if pc.ClientSecret != "" {
			return pc, errors.New("oidc: give clientSecret or clientSecretFile, not both")
		}
		b, err := os.ReadFile(c.ClientSecretFile)
		if err != nil {
			return pc, fmt.Errorf("oidc.clientSecretFile: %w", err)
		}
		pc.ClientSecret = strings.TrimSpace(string(b))
	}
	return pc, nil
}

func defaultServerConfig() ServerConfig {
	return ServerConfig{DataDir: "/var/lib/skiff", Listen: ":8443", LogLevel: "info", BookmarkSeconds: 30, ClusterCIDR: "10.42.0.0/16",
		Overlay: string(overlay.HostGW), WireGuardPort: overlay.DefaultWireGuardPort,
		ServiceCIDR: registry.DefaultServiceCIDR, ServiceNodePortRange: registry.DefaultNodePortRange,
		NodeNotReadySeconds: 20, PodEvictionSeconds: 60, GitSSHListen: ":2222",
		BuildTimeoutSeconds: 900, BuildMemoryMB: 1024}
}

// recipes are the build recipes with BuildImages laid over the defaults.
func (c ServerConfig) recipes() (build.Recipes, error) {
	r := build.DefaultRecipes()
	fields := map[string]*string{"static": &r.StaticImage, "python": &r.PythonImage, "node": &r.NodeImage,
		"goBuild": &r.GoBuildImage, "goRun": &r.GoRunImage, "procfile": &r.ProcfileImage}
	for kind, ref := range c.BuildImages {
		f, ok := fields[kind]
		if !ok {
			return r, fmt.Errorf("buildImages: unknown kind %q; known: static, python, node, goBuild, goRun, procfile", kind)
		}
		*f = ref
	}
	return r, r.Validate()
}

// Validate says what is wrong, naming the setting.
func (c ServerConfig) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("dataDir: required"))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %q is not host:port: %v", c.Listen, err))
	}
	if _, err := c.level(); err != nil {
		errs = append(errs, err)
	}
	if c.OIDC != nil {
		if err := c.OIDC.Config.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("oidc: %w", err))
		}
	}
	if _, err := c.recipes(); err != nil {
		errs = append(errs, err)
	}
	if c.BuildTimeoutSeconds < 10 || c.BuildMemoryMB < 64 {
		errs = append(errs, fmt.Errorf("buildTimeoutSeconds %d, buildMemoryMB %d: at least 10 s and 64 MB", c.BuildTimeoutSeconds, c.BuildMemoryMB))
	}
	if c.AuditMaxFileMB < 0 || c.AuditMaxFiles < 0 {
		errs = append(errs, errors.New("auditMaxFileMB/auditMaxFiles: must not be negative"))
	}
	if _, err := netip.ParsePrefix(c.ClusterCIDR); err != nil {
		errs = append(errs, fmt.Errorf("clusterCIDR: %q is not a CIDR: %v", c.ClusterCIDR, err))
	}
	switch overlay.Backend(c.Overlay) {
	case overlay.HostGW, overlay.VXLAN, overlay.WireGuard:
	default:
		errs = append(errs, fmt.Errorf("overlay: %q: want %s, %s or %s", c.Overlay, overlay.HostGW, overlay.VXLAN, overlay.WireGuard))
	}
	if err := (registry.Config{ServiceCIDR: c.ServiceCIDR, NodePortRange: c.ServiceNodePortRange}).ValidateServiceRanges(); err != nil {
		errs = append(errs, fmt.Errorf("serviceCIDR/serviceNodePortRange: %w", err))
	}
	if v := time.Duration(c.CertificateValiditySeconds) * time.Second; c.CertificateValiditySeconds != 0 && v < auth.MinCertValidity {
		errs = append(errs, fmt.Errorf("certificateValiditySeconds: %d must be 0 (a year) or at least %d", c.CertificateValiditySeconds, int(auth.MinCertValidity/time.Second)))
	}
	if c.WireGuardPort < 1 || c.WireGuardPort > 65535 {
		errs = append(errs, fmt.Errorf("wireGuardPort: %d is not a port", c.WireGuardPort))
	}
	if d := c.Node.ClusterDNS; d != "" && d != "none" {
		ip, err := netip.ParseAddr(d)
		svc, perr := netip.ParsePrefix(c.ServiceCIDR)
		if err != nil || !ip.Is4() || (perr == nil && !svc.Contains(ip)) {
			errs = append(errs, fmt.Errorf("node.clusterDNS: %q must be an IPv4 address in the service range %s (or \"none\")", d, c.ServiceCIDR))
		}
	}
	if c.NodeNotReadySeconds < 10 {
		// Agents renew their lease every 5 s: less would flap live nodes.
		errs = append(errs, fmt.Errorf("nodeNotReadySeconds: %d must be at least 10 (agents renew every 5 s)", c.NodeNotReadySeconds))
	}
	if c.PodEvictionSeconds < 0 {
		errs = append(errs, fmt.Errorf("podEvictionSeconds: %d may not be negative", c.PodEvictionSeconds))
	}
	if c.Node.AgentPort < 0 || c.Node.AgentPort > 65535 {
		errs = append(errs, fmt.Errorf("node.agentPort: %d is not a port", c.Node.AgentPort))
	}
	if c.BookmarkSeconds < 1 {
		errs = append(errs, fmt.Errorf("bookmarkSeconds: %d must be at least 1", c.BookmarkSeconds))
	}
	return errors.Join(errs...)
}

// clusterDNS is the cluster DNS address the server tells every node: its
// own node's, or the service range's tenth when its own node serves none.
func (c ServerConfig) clusterDNS() string {
	if c.Node.ClusterDNS != "" && c.Node.ClusterDNS != "none" {
		return c.Node.ClusterDNS
	}
	if ip, err := registry.ClusterDNSAddress(c.ServiceCIDR); err == nil {
		return ip.String()
	}
	return ""
}

func (c ServerConfig) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("logLevel: %q must be debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// loadConfigFile fills c from a YAML file. A missing file is fine unless
// required (named explicitly); an unknown key is an error naming it.
func (c *ServerConfig) loadConfigFile(path string, required bool) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !required {
		return nil
	}
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// loadEnv fills c from SKIFF_* variables.
func (c *ServerConfig) loadEnv(getenv func(string) string) {
	if v := getenv("SKIFF_DATA_DIR"); v != "" {
		c.DataDir = v
	}
	if v := getenv("SKIFF_LISTEN"); v != "" {
		c.Listen = v
	}
	if v := getenv("SKIFF_LOG_LEVEL"); v != "" {
		c.LogLevel = v
	}
	if v := getenv("SKIFF_TLS_SANS"); v != "" {
		c.TLSSANs = strings.Split(v, ",")
	}
	if v := getenv("SKIFF_DISABLE_AGENT"); v == "true" || v == "1" {
		c.DisableAgent = true
	}
	if v := getenv("SKIFF_CONTAINERD_SOCKET"); v != "" {
		c.Node.ContainerdSocket = v
	}
	if v := getenv("SKIFF_APPS_DOMAIN"); v != "" {
		c.AppsDomain = v
	}
	if v := getenv("SKIFF_GIT_SSH_LISTEN"); v != "" {
		c.GitSSHListen = v
	}
}
