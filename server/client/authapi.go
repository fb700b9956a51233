package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The wire types of the sign-in API (/auth/v1), shared by the API server
// and the CLI.

// TokenResponse is the answer of a sign-in: a short-lived access token to
// send as a bearer token, and the refresh token that gets the next one
// (the session; logout or an admin revokes it).
type TokenResponse struct {
	User             string    `json:"user"`
	AccessToken      string    `json:"accessToken"`
	ExpiresAt        time.Time `json:"expiresAt"`
	RefreshToken     string    `json:"refreshToken,omitempty"`
	SessionID        string    `json:"sessionID,omitempty"`
	SessionExpiresAt time.Time `json:"sessionExpiresAt,omitzero"`
}

// PasswordSignIn is the JSON body of POST /auth/v1/login.
type PasswordSignIn struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// TokenGrant is the body of POST /auth/v1/token: grantType
// authorization_code (code, codeVerifier, redirectURI: the end of
// `skiff login`'s browser sign-in) or refresh_token (refreshToken).
type TokenGrant struct {
	GrantType    string `json:"grantType"`
	Code         string `json:"code,omitempty"`
	CodeVerifier string `json:"codeVerifier,omitempty"`
	RedirectURI  string `json:"redirectURI,omitempty"`
	RefreshToken string `json:"refreshToken,omitempty"`
}

// OOBRedirect is the redirect URI of a headless `skiff login`: the page
// shows the code, to be pasted into the terminal.
const OOBRedirect = "urn:ietf:wg:oauth:2.0:oob"

// The grant types of TokenGrant.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// APITokenRequest asks for an API token (POST /auth/v1/tokens).
type APITokenRequest struct {
	Name       string   `json:"name"`
	Role       string   `json:"role"`
	Namespaces []string `json:"namespaces,omitempty"`
	// TTL is a Go duration ("720h"); "" is the server's default.
	TTL string `json:"ttl,omitempty"`
}

// APIToken describes an API token; the secret is in Token only in the
// answer that created it.
type APIToken struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	User       string    `json:"user"`
	Role       string    `json:"role"`
	Namespaces []string  `json:"namespaces,omitempty"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires,omitzero"`
	Token      string    `json:"token,omitempty"`
}

// Session describes a sign-in.
type Session struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Via       string    `json:"via"`
	Address   string    `json:"address,omitempty"`
	UserAgent string    `json:"userAgent,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	LastUsed  time.Time `json:"lastUsed,omitzero"`
	Current   bool      `json:"current,omitempty"`
}

// Invite is the answer of POST /auth/v1/users/{name}/invite.
type Invite struct {
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}

// authJSON sends v (nil: no body) as JSON to path and decodes the answer
// into out (nil: none).
func (h *HTTP) authJSON(ctx context.Context, method, path string, v, out any) error {
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return err
		}
	}
	resp, err := h.do(ctx, method, path, nil, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
	}
	return nil
}

// SignInPassword signs in with a local account's password.
func (h *HTTP) SignInPassword(ctx context.Context, user, password string) (TokenResponse, error) {
	var t TokenResponse
	err := h.authJSON(ctx, http.MethodPost, "/auth/v1/login", PasswordSignIn{Username: user, Password: password}, &t)
	return t, err
}

// Token exchanges a grant (an authorization code, a refresh token) for
// tokens.
func (h *HTTP) Token(ctx context.Context, g TokenGrant) (TokenResponse, error) {
	var t TokenResponse
	err := h.authJSON(ctx, http.MethodPost, "/auth/v1/token", g, &t)
	return t, err
}

// Logout ends the caller's session; everywhere ends all of the user's.
func (h *HTTP) Logout(ctx context.Context, everywhere bool) error {
	p := "/auth/v1/logout"
	if everywhere {
		p += "?everywhere=true"
	}
	return h.authJSON(ctx, http.MethodPost, p, nil, nil)
}

// CreateAPIToken makes an API token; the answer's Token is its secret.
func (h *HTTP) CreateAPIToken(ctx context.Context, r APITokenRequest) (APIToken, error) {
	var t APIToken
	err := h.authJSON(ctx, http.MethodPost, "/auth/v1/tokens", r, &t)
	return t, err
}

// APITokens lists the caller's API tokens (all: everyone's, for admins).
func (h *HTTP) APITokens(ctx context.Context, all bool) ([]APIToken, error) {
	p := "/auth/v1/tokens"
	if all {
		p += "?all=true"
	}
	var l struct {
		Items []APIToken `json:"items"`
	}
	err := h.authJSON(ctx, http.MethodGet, p, nil, &l)
	return l.Items, err
}

// RevokeAPIToken revokes an API token by id.
func (h *HTTP) RevokeAPIToken(ctx context.Context, id string) error {
	return h.authJSON(ctx, http.MethodDelete, "/auth/v1/tokens/"+url.PathEscape(id), nil, nil)
}

// Sessions lists the caller's sessions (user: another's, for admins).
func (h *HTTP) Sessions(ctx context.Context, user string) ([]Session, error) {
	p := "/auth/v1/sessions"
	if user != "" {
		p += "?user=" + url.QueryEscape(user)
	}
	var l struct {
		Items []Session `json:"items"`
	}
	err := h.authJSON(ctx, http.MethodGet, p, nil, &l)
	return l.Items, err
}

// RevokeSession ends a session by id.
func (h *HTTP) RevokeSession(ctx context.Context, id string) error {
	return h.authJSON(ctx, http.MethodDelete, "/auth/v1/sessions/"+url.PathEscape(id), nil, nil)
}

// SetPassword sets a local user's password (an admin's call).
func (h *HTTP) SetPassword(ctx context.Context, user, password string) error {
	return h.authJSON(ctx, http.MethodPost, "/auth/v1/users/"+url.PathEscape(user)+"/password",
		map[string]string{"password": password}, nil)
}

// NewInvite makes a one-time link at which user sets a password.
func (h *HTTP) NewInvite(ctx context.Context, user string, ttl time.Duration) (Invite, error) {
	var inv Invite
	err := h.authJSON(ctx, http.MethodPost, "/auth/v1/users/"+url.PathEscape(user)+"/invite",
		map[string]string{"ttl": ttl.String()}, &inv)
	return inv, err
}

// FetchCA reads a server's CA certificate over TLS it does not yet trust,
// for `skiff login` to a new server: the CA must hash to wantHash (hex
// SHA-256; "" takes any, for the caller to show a person) and have
// signed the server's own certificate. It returns the PEM and its hash.
func FetchCA(ctx context.Context, server, wantHash string) (caPEM, hash string, err error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", "", fmt.Errorf("server %q: want an https:// URL such as https://192.168.1.10:8443", server)
	}
	data, err := fetchPinnedCA(ctx, u, wantHash)
	if err != nil {
		return "", "", errors.New(strings.Replace(err.Error(), "join: ", "", 1))
	}
	block, _ := pem.Decode(data)
	sum := sha256.Sum256(block.Bytes)
	return string(data) + "\n", hex.EncodeToString(sum[:]), nil
}

// NewSignIn returns a client for server that sends no credentials: what
// `skiff login` talks to the sign-in routes with.
func NewSignIn(server, caPEM string) (*HTTP, error) {
	h, err := New(Config{Server: server, CA: caPEM, Token: "-"})
	if err != nil {
		return nil, err
	}
	h.token = ""
	return h, nil
}
