package oidc

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	good := Config{Issuer: "https://idp.example.com/realms/staff", ClientID: "skiff", RedirectURL: testRedirect}
	tests := []struct {
		name string
		edit func(*Config)
		want []string // substrings; none = valid
	}{
		{"valid", func(*Config) {}, nil},
		{"public client", func(c *Config) { c.ClientSecret = "" }, nil},
		{"http loopback issuer", func(c *Config) { c.Issuer = "http://127.0.0.1:5556/dex" }, nil},
		{"http localhost redirect", func(c *Config) { c.RedirectURL = "http://localhost:8443/cb" }, nil},
		{"http ipv6 loopback", func(c *Config) { c.Issuer = "http://[::1]:5556" }, nil},
		{"empty", func(c *Config) { *c = Config{} }, []string{"oidc issuer: is empty", "oidc clientID: is empty", "oidc redirectURL: is empty"}},
		{"http remote issuer", func(c *Config) { c.Issuer = "http://idp.example.com" }, []string{"http is allowed only for a loopback host"}},
		{"relative redirect", func(c *Config) { c.RedirectURL = "/auth/v1/oidc/callback" }, []string{"oidc redirectURL", "want an absolute URL"}},
		{"ftp issuer", func(c *Config) { c.Issuer = "ftp://idp.example.com" }, []string{`scheme "ftp" is not supported`}},
		{"issuer with query", func(c *Config) { c.Issuer = "https://idp.example.com/?tenant=1" }, []string{"must not have a query"}},
		{"issuer with user", func(c *Config) { c.Issuer = "https://me:pw@idp.example.com" }, []string{"without user info"}},
		{"scope with space", func(c *Config) { c.Scopes = []string{"openid", "a b"} }, []string{`oidc scopes[1] "a b"`}},
		{"claim with spaces", func(c *Config) { c.GroupsClaim = " groups" }, []string{"oidc groupsClaim"}},
		{"missing CA file", func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, []string{`oidc caFile "/nonexistent/ca.pem"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want errors containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigScopes(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{nil, []string{"openid", "profile", "email"}},
		{[]string{"email", "groups"}, []string{"openid", "email", "groups"}},
		{[]string{"groups", "openid", "groups"}, []string{"openid", "groups"}},
	}
	for _, tt := range tests {
		if got := (Config{Scopes: tt.in}).scopes(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("scopes(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCAFileWithoutCertificate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := httpClient(path); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("httpClient with a non-PEM CA file: %v, want an error naming it", err)
	}
}
