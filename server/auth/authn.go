// Package auth owns skiff's identity machinery: today the certificate
// authority, the serving certificate, the single admin token and the
// authentication of bearer tokens. Later issues add node client
// certificates, users, OIDC sign-in, sessions, API tokens and RBAC here.
// It does not serve HTTP; the API server calls it.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Identity is who a request is from.
type Identity struct {
	Name   string
	Groups []string
	// Session is the id of the sign-in session the request came with
	// ("" for certificates, the admin token and API tokens).
	Session string
	// Token is the id of the API token the request came with ("" else).
	Token string
	// Scope, for an API token, narrows what the user may do to one role
	// in some namespaces: a request is allowed only if both the user's
	// bindings and the scope allow it. nil: the user's bindings alone.
	Scope *Scope
	// Via says how the request authenticated: "certificate", "token"
	// (the admin token), "session", "cookie" or "api-token".
	Via string
}

// Scope is an API token's limit: the role it acts with, and the
// namespaces it acts in (none: wherever the role's binding would).
type Scope struct {
	Role       string
	Namespaces []string
}

// TokenAuthenticator turns a bearer token into an identity, or fails with
// errdefs.ErrUnauthorized.
type TokenAuthenticator interface {
	AuthenticateToken(ctx context.Context, token string) (*Identity, error)
}

// StaticToken accepts one token, known by its SHA-256 hash.
type StaticToken struct {
	hash []byte
	id   Identity
}

var _ TokenAuthenticator = (*StaticToken)(nil)

// NewStaticToken accepts the token whose hex SHA-256 is hashHex as id.
func NewStaticToken(hashHex string, id Identity) *StaticToken {
	h, _ := hex.DecodeString(hashHex)
	return &StaticToken{hash: h, id: id}
}

// errBadToken is the one answer to every failure: no hint for a guesser.
var errBadToken = fmt.Errorf("invalid bearer token: %w", errdefs.ErrUnauthorized)

// AuthenticateToken compares the token's hash in constant time.
func (s *StaticToken) AuthenticateToken(_ context.Context, token string) (*Identity, error) {
	sum := sha256.Sum256([]byte(token))
	if len(s.hash) != len(sum) || token == "" || subtle.ConstantTimeCompare(sum[:], s.hash) != 1 {
		return nil, errBadToken
	}
	id := s.id
	return &id, nil
}

// BearerToken reads `Authorization: Bearer <token>`.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
