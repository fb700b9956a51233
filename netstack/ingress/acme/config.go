package acme

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/skiffhq/skiff/server/client"
)

// Defaults for the zero values of Config.
const (
	// DefaultDirectoryURL is Let's Encrypt's production directory.
	DefaultDirectoryURL = xacme.LetsEncryptURL
	// DefaultRetryAfter is how long a host whose order failed waits for
	// the next: Let's Encrypt allows 5 failed validations per host name
	// and account an hour.
	DefaultRetryAfter = time.Hour
	// DefaultSecretName is the kubernetes.io/tls Secret in skiff-system
	// whose certificate is served for the hosts it covers (a wildcard
	// for *.<apps domain>, say).
	DefaultSecretName = "ingress-default-tls"
)

// systemNamespace holds the operator's default certificate.
const systemNamespace = "skiff-system"

// Config configures a Manager.
type Config struct {
	// Informers is the shared informer set the Apps (all namespaces) and
	// the default certificate's Secret are read from.
	Informers *client.Informers
	// AppsDomain is the domain of the apps' default hosts
	// (<app>.<AppsDomain>): no ACME certificate is ordered for it or
	// under it, since those hosts are the operator's wildcard's.
	AppsDomain string

	// Email is the contact address of the ACME account. ACME is on only
	// when it is set; setting it accepts the CA's terms of service.
	Email string
	// DirectoryURL is the ACME directory (default Let's Encrypt
	// production, DefaultDirectoryURL).
	DirectoryURL string
	// CacheDir keeps the account key and the certificates (e.g.
	// <data-dir>/ingress/acme); required with Email. Certificates in it
	// are used without a new order after a restart.
	CacheDir string
	// HTTPClient talks to the ACME server (default http.DefaultClient).
	HTTPClient *http.Client
	// RetryAfter is how long a host whose order failed waits before it
	// is ordered again (default 1 hour; autocert itself holds a failure
	// for a minute, so less acts as a minute).
	RetryAfter time.Duration

	// SecretName is the kubernetes.io/tls Secret in skiff-system whose
	// certificate is served for every host it covers that has no ACME
	// certificate (default ingress-default-tls; none: nothing served).
	SecretName string

	// Log gets issued and failed certificates (default slog.Default()).
	Log *slog.Logger
}

// Validate reports what is wrong with c.
func (c *Config) Validate() error {
	var errs []error
	if c.Informers == nil {
		errs = append(errs, errors.New("acme: informers are required (client.NewInformers over the API)"))
	}
	if d := strings.TrimSuffix(c.AppsDomain, "."); d == "" || strings.ContainsAny(d, "*:/ ") || strings.HasPrefix(d, ".") {
		errs = append(errs, fmt.Errorf("acme: apps domain %q must be a domain name, e.g. apps.skiff.local", c.AppsDomain))
	}
	if c.Email != "" {
		if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
			errs = append(errs, fmt.Errorf("acme: email %q must be a plain address, e.g. ops@example.com", c.Email))
		}
		if c.CacheDir == "" {
			errs = append(errs, errors.New("acme: a cache directory is required with an email (e.g. <data-dir>/ingress/acme): without one every restart orders every certificate again"))
		}
	}
	if c.DirectoryURL != "" {
		if u, err := url.Parse(c.DirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("acme: directory URL %q must be an https URL, e.g. %s", c.DirectoryURL, DefaultDirectoryURL))
		}
	}
	if c.RetryAfter < 0 || c.RetryAfter > 24*time.Hour {
		errs = append(errs, fmt.Errorf("acme: retry after %v must be between 0 (default 1h) and 24h", c.RetryAfter))
	}
	if strings.ContainsAny(c.SecretName, "/ ") {
		errs = append(errs, fmt.Errorf("acme: secret name %q must be a name in skiff-system, e.g. %s", c.SecretName, DefaultSecretName))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	c.AppsDomain = strings.ToLower(strings.TrimSuffix(c.AppsDomain, "."))
	if c.DirectoryURL == "" {
		c.DirectoryURL = DefaultDirectoryURL
	}
	if c.HTTPClient == nil {
		c.HTTPClient = http.DefaultClient
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.SecretName == "" {
		c.SecretName = DefaultSecretName
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}
