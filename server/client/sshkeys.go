package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// SSHKeyRequest registers an SSH public key (POST /auth/v1/sshkeys).
type SSHKeyRequest struct {
	// Name says which machine the key is on; "" takes the key's comment.
	Name string `json:"name,omitempty"`
	// PublicKey is one line of an authorized_keys or .pub file.
	PublicKey string `json:"publicKey"`
}

// SSHKey describes a registered SSH public key, which signs its user in
// for git push and fetch over SSH.
type SSHKey struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	User        string    `json:"user"`
	Type        string    `json:"type"`
	Fingerprint string    `json:"fingerprint"`
	PublicKey   string    `json:"publicKey"`
	Created     time.Time `json:"created"`
}

// AddSSHKey registers an SSH public key for the caller.
func (h *HTTP) AddSSHKey(ctx context.Context, r SSHKeyRequest) (SSHKey, error) {
	var k SSHKey
	err := h.authJSON(ctx, http.MethodPost, "/auth/v1/sshkeys", r, &k)
	return k, err
}

// SSHKeys lists the caller's SSH keys (user: another's, for admins).
func (h *HTTP) SSHKeys(ctx context.Context, user string) ([]SSHKey, error) {
	var q url.Values
	if user != "" {
		q = url.Values{"user": {user}}
	}
	// (Not authJSON: its path cannot carry a query.)
	resp, err := h.do(ctx, http.MethodGet, "/auth/v1/sshkeys", q, nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var l struct {
		Items []SSHKey `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return nil, fmt.Errorf("GET /auth/v1/sshkeys: bad answer: %w", err)
	}
	return l.Items, nil
}

// RemoveSSHKey removes an SSH key by id (or SHA256: fingerprint).
func (h *HTTP) RemoveSSHKey(ctx context.Context, id string) error {
	return h.authJSON(ctx, http.MethodDelete, "/auth/v1/sshkeys/"+url.PathEscape(id), nil, nil)
}
