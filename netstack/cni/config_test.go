package cni

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{NetNSDir: "/run/skiff/netns", StateDir: "/run/skiff/cni"}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"mtu", func(c *Config) { c.MTU = 1450 }, ""},
		{"no netns dir", func(c *Config) { c.NetNSDir = "" }, `NetNSDir ""`},
		{"relative state dir", func(c *Config) { c.StateDir = "run/cni" }, `StateDir "run/cni": must be an absolute path`},
		{"same dirs", func(c *Config) { c.StateDir = c.NetNSDir + "/" }, "use two directories"},
		{"relative plugin dir", func(c *Config) { c.PluginDirs = []string{"bin"} }, `PluginDirs entry "bin"`},
		{"long bridge", func(c *Config) { c.Bridge = "a-very-long-bridge-name" }, `Bridge "a-very-long-bridge-name"`},
		{"small mtu", func(c *Config) { c.MTU = 100 }, "MTU 100"},
		{"no masquerade", func(c *Config) { c.NoMasquerade = []string{"10.42.0.0/16", "fd00:42::/48"} }, ""},
		{"no masquerade host bits", func(c *Config) { c.NoMasquerade = []string{"10.42.0.0/16", "10.43.0.10/16"} },
			`NoMasquerade entry "10.43.0.10/16": host bits set, use 10.43.0.0/16`},
	}
	for _, tt := range tests {
		c := ok
		tt.edit(&c)
		err := c.Validate()
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%s: Validate: %v, want nil", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.IsInvalid(err) {
			t.Errorf("%s: Validate: %v, want an invalid error containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestNewMissingPlugins(t *testing.T) {
	dir := t.TempDir()
	_, err := New(Config{PluginDirs: []string{dir + "/bin"}, NetNSDir: dir + "/netns", StateDir: dir + "/cni"})
	if err == nil {
		t.Fatalf("New with an empty plugin dir: nil error")
	}
	for _, want := range []string{`"bridge" "host-local" "portmap"`, dir + "/bin", "containernetworking-plugins"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New error %q, want it to contain %q", err, want)
		}
	}
	if !errdefs.IsNotFound(err) {
		t.Errorf("New error %v, want class not found", err)
	}
}

func TestSetupInputErrors(t *testing.T) {
	m := newTestManager(t, "")
	tests := []struct {
		name    string
		pod     PodNetwork
		wantErr string
		class   error
	}{
		{"no pod cidr", PodNetwork{UID: "u1", Namespace: "default", Name: "web"}, "call SetPodCIDR first", errdefs.ErrUnavailable},
		{"empty uid", PodNetwork{Namespace: "default", Name: "web"}, `pod uid ""`, errdefs.ErrInvalid},
		{"path in uid", PodNetwork{UID: "../etc", Namespace: "default", Name: "web"}, `pod uid "../etc"`, errdefs.ErrInvalid},
		{"bad protocol", PodNetwork{UID: "u1", Namespace: "default", Name: "web",
			Ports: []PortMapping{{HostPort: 80, ContainerPort: 80, Protocol: "icmp"}}}, `protocol "icmp"`, errdefs.ErrInvalid},
		{"bad host port", PodNetwork{UID: "u1", Namespace: "default", Name: "web",
			Ports: []PortMapping{{HostPort: 0, ContainerPort: 80}}}, "hostPort 0", errdefs.ErrInvalid},
		{"bad host ip", PodNetwork{UID: "u1", Namespace: "default", Name: "web",
			Ports: []PortMapping{{HostPort: 80, ContainerPort: 80, HostIP: "node"}}}, `hostIP "node"`, errdefs.ErrInvalid},
	}
	for _, tt := range tests {
		_, err := m.Setup(context.Background(), tt.pod)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, tt.class) {
			t.Errorf("%s: Setup: %v, want %v error containing %q", tt.name, err, tt.class, tt.wantErr)
		}
	}
	if err := m.SetPodCIDR("10.42.3.5/24"); err == nil || !strings.Contains(err.Error(), `"10.42.3.5/24"`) {
		t.Errorf("SetPodCIDR(10.42.3.5/24): %v, want an error naming it", err)
	}
	if uids, err := m.List(); err != nil || len(uids) != 0 {
		t.Errorf("List after failed Setups: %v, %v; want none", uids, err)
	}
	if err := m.Teardown(context.Background(), "never-set-up"); err != nil {
		t.Errorf("Teardown of an unknown pod before SetPodCIDR: %v, want nil", err)
	}
}
