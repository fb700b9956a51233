package oidc

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// defaultScopes are asked for when Config.Scopes is empty.
var defaultScopes = []string{"openid", "profile", "email"}

// DefaultUsernameClaim is the claim read for the user name when
// Config.UsernameClaim is empty.
const DefaultUsernameClaim = "preferred_username"

// Config is one OpenID Connect provider skiff signs people in through.
type Config struct {
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document spells it (https://accounts.google.com,
	// https://login.example.com/realms/staff). It must be https; http is
	// accepted only for a loopback host, for tests.
	Issuer string `json:"issuer"`
	// ClientID is the client skiff is registered as at the provider; ID
	// tokens must name it in their audience.
	ClientID string `json:"clientID"`
	// ClientSecret is the client's secret; empty for a public client,
	// which PKCE protects.
	ClientSecret string `json:"clientSecret,omitempty"`
	// Scopes are asked for at sign-in (default openid profile email);
	// openid is always added.
	Scopes []string `json:"scopes,omitempty"`
	// UsernameClaim names the ID-token claim that becomes the skiff user
	// name (default preferred_username). When the token lacks it, the
	// local part of the email claim is used.
	UsernameClaim string `json:"usernameClaim,omitempty"`
	// GroupsClaim names the ID-token claim holding the user's groups at
	// the provider (often "groups"); "" reads no groups. The claim may be
	// a list of strings or a single string.
	GroupsClaim string `json:"groupsClaim,omitempty"`
	// RedirectURL is skiff's callback the provider sends the browser back
	// to, registered at the provider:
	// https://host:8443/auth/v1/oidc/callback.
	RedirectURL string `json:"redirectURL"`
	// CAFile is an optional PEM file of extra CA certificates trusted
	// for the provider's TLS, on top of the system's.
	CAFile string `json:"caFile,omitempty"`
	// AllowedEmailDomains, when set, admits only accounts whose verified
	// e-mail is in one of these domains ("example.com"): with a public
	// provider (Google, GitHub) anyone has an account.
	AllowedEmailDomains []string `json:"allowedEmailDomains,omitempty"`
	// AllowedGroups, when set, admits only accounts in one of these
	// groups at the provider (the groups claim, without the oidc: prefix).
	AllowedGroups []string `json:"allowedGroups,omitempty"`
}

// admits says whether the allow-lists let c sign in, and if not why.
func (c Config) admits(cl Claims) error {
	if len(c.AllowedEmailDomains) > 0 {
		_, domain, _ := strings.Cut(cl.Email, "@")
		ok := cl.EmailVerified && slices.ContainsFunc(c.AllowedEmailDomains, func(d string) bool { return asciiLower(d) == asciiLower(domain) })
		if !ok {
			return fmt.Errorf("the account %q has no verified e-mail address in %s, which this server admits: %w",
				cl.Username, strings.Join(c.AllowedEmailDomains, ", "), errdefs.ErrForbidden)
		}
	}
	if len(c.AllowedGroups) > 0 && !slices.ContainsFunc(cl.Groups, func(g string) bool { return slices.Contains(c.AllowedGroups, g) }) {
		return fmt.Errorf("the account %q is in none of the groups this server admits (%s): %w",
			cl.Username, strings.Join(c.AllowedGroups, ", "), errdefs.ErrForbidden)
	}
	return nil
}

// Validate checks every field and reports all problems at once, each
// naming its field and the fix.
func (c Config) Validate() error {
	var errs []error
	if err := checkURL("issuer", c.Issuer); err != nil {
		errs = append(errs, err)
	} else if u, _ := url.Parse(c.Issuer); u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("oidc issuer %q: must not have a query or fragment; use the issuer URL from the provider's discovery document", c.Issuer))
	}
	if strings.TrimSpace(c.ClientID) == "" {
		errs = append(errs, errors.New("oidc clientID: is empty; set the client ID the provider registered skiff under"))
	}
	if err := checkURL("redirectURL", c.RedirectURL); err != nil {
		errs = append(errs, err)
	}
	for i, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			errs = append(errs, fmt.Errorf("oidc scopes[%d] %q: a scope is one non-empty word without spaces or quotes", i, s))
		}
	}
	for _, f := range []struct{ name, v string }{{"usernameClaim", c.UsernameClaim}, {"groupsClaim", c.GroupsClaim}} {
		if f.v != strings.TrimSpace(f.v) {
			errs = append(errs, fmt.Errorf("oidc %s %q: has leading or trailing spaces; write the claim name alone", f.name, f.v))
		}
	}
	for i, d := range c.AllowedEmailDomains {
		if d == "" || strings.ContainsAny(d, "@ /") {
			errs = append(errs, fmt.Errorf("oidc allowedEmailDomains[%d] %q: want a domain such as example.com", i, d))
		}
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("oidc caFile %q: %v; give a readable PEM file or leave it empty", c.CAFile, err))
		}
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute https URL, or http to a loopback host.
func checkURL(field, raw string) error {
	if raw == "" {
		return fmt.Errorf("oidc %s: is empty; set an https URL", field)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("oidc %s %q: %v; set an https URL", field, raw, err)
	}
	if u.Host == "" || u.User != nil {
		return fmt.Errorf("oidc %s %q: want an absolute URL like https://host/path, without user info", field, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("oidc %s %q: http is allowed only for a loopback host; use https", field, raw)
	default:
		return fmt.Errorf("oidc %s %q: scheme %q is not supported; use https", field, raw, u.Scheme)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// scopes returns the configured scopes (or the defaults) with openid
// first and no duplicates.
func (c Config) scopes() []string {
	in := c.Scopes
	if len(in) == 0 {
		in = defaultScopes
	}
	out := []string{"openid"}
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (c Config) usernameClaim() string {
	if c.UsernameClaim == "" {
		return DefaultUsernameClaim
	}
	return c.UsernameClaim
}

// asciiLower lower-cases ASCII letters only (Unicode folding would match
// the Kelvin sign to a k).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
