package oidc

import (
	"testing"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// TestAllowLists: with allowedEmailDomains only verified addresses in
// those domains sign in; with allowedGroups only members of one.
func TestAllowLists(t *testing.T) {
	cfg := Config{AllowedEmailDomains: []string{"example.com"}, AllowedGroups: []string{"staff", "ops"}}
	tests := []struct {
		name string
		c    Claims
		ok   bool
	}{
		{"verified, in a group", Claims{Username: "a", Email: "a@Example.com", EmailVerified: true, Groups: []string{"ops"}}, true},
		{"unverified e-mail", Claims{Username: "a", Email: "a@example.com", Groups: []string{"ops"}}, false},
		{"other domain", Claims{Username: "a", Email: "a@evil.example", EmailVerified: true, Groups: []string{"ops"}}, false},
		{"a subdomain is another domain", Claims{Username: "a", Email: "a@x.example.com", EmailVerified: true, Groups: []string{"ops"}}, false},
		{"in no allowed group", Claims{Username: "a", Email: "a@example.com", EmailVerified: true, Groups: []string{"guests"}}, false},
		{"no e-mail", Claims{Username: "a", Groups: []string{"ops"}}, false},
	}
	for _, tt := range tests {
		err := cfg.admits(tt.c)
		if tt.ok != (err == nil) || (err != nil && !errdefs.IsForbidden(err)) {
			t.Errorf("%s: %v, want ok=%t (Forbidden when refused)", tt.name, err, tt.ok)
		}
	}
	if err := (Config{}).admits(Claims{Username: "anyone"}); err != nil {
		t.Errorf("no allow-lists admit everyone: %v", err)
	}
	if err := (Config{Issuer: "https://x.example", ClientID: "c", RedirectURL: "https://h/cb", AllowedEmailDomains: []string{"@example.com"}}).Validate(); err == nil {
		t.Error("a domain with @ is accepted")
	}
}
