package cni

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestConfListGolden(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		cidr string
	}{
		{"ipv4", Config{NetNSDir: "/run/skiff/netns", StateDir: "/run/skiff/cni"}, "10.42.3.0/24"},
		{"ipv6-mtu-bridge", Config{NetNSDir: "/run/skiff/netns", StateDir: "/run/skiff/cni", Bridge: "pods0", MTU: 1450}, "fd00:42:3::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parsePodCIDR(tt.cidr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := renderConfList(tt.cfg.withDefaults(), s)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.name+".conflist.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestConfListGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("conflist for %s:\ngot:\n%s\nwant (%s):\n%s", tt.cidr, got, golden, want)
			}
			list, err := libcni.NetworkConfFromBytes(got)
			if err != nil {
				t.Fatalf("libcni cannot parse the conflist: %v", err)
			}
			var types []string
			for _, p := range list.Plugins {
				types = append(types, p.Network.Type)
			}
			if got, want := strings.Join(types, ","), "bridge,portmap"; got != want {
				t.Errorf("plugins %s, want %s", got, want)
			}
		})
	}
}

func TestManagerConfList(t *testing.T) {
	m := newTestManager(t, "")
	if got := m.ConfList(); got != nil {
		t.Errorf("ConfList before SetPodCIDR: %s, want nil", got)
	}
	requireNode(t) // SetPodCIDR may enable forwarding: only in the test node
	if err := m.SetPodCIDR("10.42.3.0/24"); err != nil {
		t.Fatal(err)
	}
	s, _ := parsePodCIDR("10.42.3.0/24")
	want, _ := renderConfList(m.cfg, s)
	if got := m.ConfList(); !bytes.Equal(got, want) {
		t.Errorf("ConfList:\n%s\nwant:\n%s", got, want)
	}
	b, err := os.ReadFile(ipv4Forward)
	if err != nil || string(bytes.TrimSpace(b)) != "1" {
		t.Errorf("%s after SetPodCIDR: %q, %v; want 1", ipv4Forward, b, err)
	}
}

func TestParsePodCIDR(t *testing.T) {
	tests := []struct {
		cidr    string
		wantErr string // substring; empty: no error
		gateway string
		first   string
	}{
		{cidr: "10.42.3.0/24", gateway: "10.42.3.1", first: "10.42.3.2"},
		{cidr: "10.42.0.0/16", gateway: "10.42.0.1", first: "10.42.0.2"},
		{cidr: "10.42.3.4/30", gateway: "10.42.3.5", first: "10.42.3.6"},
		{cidr: "fd00:1::/64", gateway: "fd00:1::1", first: "fd00:1::2"},
		{cidr: "10.42.3.5/24", wantErr: `pod cidr "10.42.3.5/24": host bits set, use 10.42.3.0/24`},
		{cidr: "banana", wantErr: `pod cidr "banana": not a CIDR`},
		{cidr: "", wantErr: `pod cidr "": not a CIDR`},
		{cidr: "10.42.3.0", wantErr: `pod cidr "10.42.3.0": not a CIDR`},
		{cidr: "10.42.3.0/31", wantErr: `pod cidr "10.42.3.0/31": too small`},
		{cidr: "fd00::/127", wantErr: `pod cidr "fd00::/127": too small`},
	}
	for _, tt := range tests {
		s, err := parsePodCIDR(tt.cidr)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.IsInvalid(err) {
				t.Errorf("parsePodCIDR(%q): error %v, want an invalid error containing %q", tt.cidr, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parsePodCIDR(%q): %v", tt.cidr, err)
			continue
		}
		if got := s.gateway.String(); got != tt.gateway {
			t.Errorf("parsePodCIDR(%q): gateway %s, want %s", tt.cidr, got, tt.gateway)
		}
		if got := s.first.String(); got != tt.first {
			t.Errorf("parsePodCIDR(%q): first pod address %s, want %s", tt.cidr, got, tt.first)
		}
	}
}
