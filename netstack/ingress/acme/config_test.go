package acme_test

import (
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netstack/ingress/acme"
	"github.com/skiffhq/skiff/server/client"
)

func TestConfigValidate(t *testing.T) {
	inf := client.NewInformers(nil, nil)
	ok := acme.Config{Informers: inf, AppsDomain: appsDomain}
	tests := []struct {
		name string
		edit func(*acme.Config)
		want string // in the error; "" means valid
	}{
		{"ACME off", func(*acme.Config) {}, ""},
		{"ACME on", func(c *acme.Config) { c.Email, c.CacheDir = "ops@example.com", "/var/lib/skiff/ingress/acme" }, ""},
		{"pebble directory", func(c *acme.Config) { c.DirectoryURL = "https://127.0.0.1:14000/dir" }, ""},
		{"no informers", func(c *acme.Config) { c.Informers = nil }, "informers are required"},
		{"no apps domain", func(c *acme.Config) { c.AppsDomain = "" }, "apps domain"},
		{"email without cache", func(c *acme.Config) { c.Email = "ops@example.com" }, "cache directory is required"},
		{"email with a name", func(c *acme.Config) { c.Email, c.CacheDir = "Ops <ops@example.com>", "/tmp/x" }, "plain address"},
		{"not an email", func(c *acme.Config) { c.Email, c.CacheDir = "ops", "/tmp/x" }, "plain address"},
		{"plain-HTTP directory", func(c *acme.Config) { c.DirectoryURL = "http://ca.example.com/dir" }, "must be an https URL"},
		{"negative retry", func(c *acme.Config) { c.RetryAfter = -time.Second }, "retry after"},
		{"secret path", func(c *acme.Config) { c.SecretName = "skiff-system/tls" }, "secret name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}
