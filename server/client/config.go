// Package client is how every part of skiff talks to the control plane:
// the client config file, the HTTPS Backend, typed access to each kind,
// informers (list + watch caches) and the rate-limited work queue that
// controllers, the scheduler and node agents are built on. It talks to a
// Backend — the API over HTTPS or, inside the server process, the registry
// directly — and owns no server-side logic.
package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/server/store/atomicfile"
)

// Config is a client config file: where the server is, the CA that signed
// its certificate, and the bearer token.
type Config struct {
	Server string `json:"server"`
	// CA is the PEM certificate of the cluster CA; the server's certificate
	// is checked against it alone.
	CA string `json:"certificateAuthority"`
	// Token is a bearer token sent as is: the admin token of admin.yaml
	// or an API token (skiff token create).
	Token string `json:"token,omitempty"`
	// User, AccessToken, AccessTokenExpires and RefreshToken are a
	// person's session from `skiff login`: the access token is sent
	// until it nears its expiry, then the refresh token gets the next
	// one (and the file is rewritten with it).
	User               string    `json:"user,omitempty"`
	AccessToken        string    `json:"accessToken,omitempty"`
	AccessTokenExpires time.Time `json:"accessTokenExpires,omitzero"`
	RefreshToken       string    `json:"refreshToken,omitempty"`
	// ClientCertificate and ClientKey (PEM) authenticate by TLS instead of
	// a token: what a joined node uses.
	ClientCertificate string `json:"clientCertificate,omitempty"`
	ClientKey         string `json:"clientKey,omitempty"`
}

// Validate says what is missing.
func (c Config) Validate() error {
	var errs []error
	if c.Server == "" {
		errs = append(errs, errors.New("server: required (e.g. https://192.168.1.10:8443)"))
	} else if !strings.HasPrefix(c.Server, "https://") {
		errs = append(errs, fmt.Errorf("server: %q must be an https:// URL", c.Server))
	}
	if c.CA == "" {
		errs = append(errs, errors.New("certificateAuthority: required (the cluster CA certificate, PEM)"))
	}
	if c.Token == "" && c.RefreshToken == "" && c.ClientCertificate == "" {
		errs = append(errs, errors.New("token: required (or a session from `skiff login`, or clientCertificate and clientKey)"))
	}
	if c.Token != "" && c.RefreshToken != "" {
		errs = append(errs, errors.New("token and refreshToken: give one (an API or admin token, or a session from `skiff login`)"))
	}
	if (c.ClientCertificate == "") != (c.ClientKey == "") {
		errs = append(errs, errors.New("clientCertificate and clientKey: give both or neither"))
	}
	return errors.Join(errs...)
}

// LoadConfig reads and checks a config file. Unknown keys are errors.
func LoadConfig(path string) (Config, error) {
	var c Config
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("client config: %w", err)
	}
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return c, fmt.Errorf("client config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("client config %s: %w", path, err)
	}
	return c, nil
}

// WriteConfig writes c to path (mode 0600) atomically.
func WriteConfig(path string, c Config) error {
	data, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("client config: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("client config: %w", err)
	}
	return nil
}

// FindConfig picks the config file: flagPath if given, else $SKIFF_CONFIG,
// else ~/.config/skiff/config.yaml, else <dataDir>/admin.yaml (the admin
// config on the server machine). The error lists what it tried.
func FindConfig(flagPath, dataDir string) (string, error) {
	if flagPath != "" {
		return flagPath, nil
	}
	if p := os.Getenv("SKIFF_CONFIG"); p != "" {
		return p, nil
	}
	var tried []string
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".config", "skiff", "config.yaml")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	if dataDir != "" {
		p := filepath.Join(dataDir, "admin.yaml")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if errors.Is(err, os.ErrPermission) {
			return "", fmt.Errorf("no client config: %s exists but is readable only by root; run as root or copy it to ~/.config/skiff/config.yaml", p)
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("no client config found: tried --config, $SKIFF_CONFIG, %s; copy the server's admin.yaml to ~/.config/skiff/config.yaml or pass --config", strings.Join(tried, ", "))
}
