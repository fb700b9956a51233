package accounts

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// The shapes of the credentials this package hands out. Every parser
// checks the length first, then the exact alphabet, and decodes base64
// strictly (no padding, no stray trailing bits), so that one credential
// has one spelling: a parser that accepts a string accepts no other.
const (
	accessPrefix = "skiff_at_"
	apiPrefix    = "skiff_pat_"
	// idLen is the length of session, API token and invite ids: lower-case
	// letters and digits, so that they fit Secret names.
	idLen = 16
	// secretLen is a 32-byte secret in unpadded base64url.
	secretLen = 43
	// maxAccessLen bounds an access token before anything is decoded.
	maxAccessLen = 512
)

// errBadToken is the one answer to every bad bearer token or cookie:
// malformed, forged, expired, revoked, or of a disabled or deleted user.
var errBadToken = fmt.Errorf("invalid bearer token: %w", errdefs.ErrUnauthorized)

var b64 = base64.RawURLEncoding.Strict()

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newID returns a random id of idLen characters.
func newID() (string, error) {
	b := make([]byte, idLen)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b), nil
}

// newSecret returns 32 random bytes in base64url.
func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return b64.EncodeToString(b[:]), nil
}

// hashSecret is how secrets are stored: hex SHA-256.
func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return []byte(hex.EncodeToString(sum[:]))
}

// secretMatches compares a secret with a stored hash in constant time.
func secretMatches(secret string, stored []byte) bool {
	return len(stored) == 2*sha256.Size && subtle.ConstantTimeCompare(hashSecret(secret), stored) == 1
}

func validID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(idAlphabet, rune(s[i])) {
			return false
		}
	}
	return true
}

func validSecret(s string) bool {
	if len(s) != secretLen {
		return false
	}
	b, err := b64.DecodeString(s)
	return err == nil && len(b) == 32
}

// parseCredential splits "<id>.<secret>": a session's refresh credential
// (the browser cookie's value) and an invite.
func parseCredential(s string) (id, secret string, ok bool) {
	if len(s) != idLen+1+secretLen || s[idLen] != '.' {
		return "", "", false
	}
	id, secret = s[:idLen], s[idLen+1:]
	if !validID(id) || !validSecret(secret) {
		return "", "", false
	}
	return id, secret, true
}

func formatCredential(id, secret string) string { return id + "." + secret }

// parseAPIToken splits skiff_pat_<id>_<secret>.
func parseAPIToken(s string) (id, secret string, ok bool) {
	if len(s) != len(apiPrefix)+idLen+1+secretLen || !strings.HasPrefix(s, apiPrefix) {
		return "", "", false
	}
	rest := s[len(apiPrefix):]
	if rest[idLen] != '_' {
		return "", "", false
	}
	id, secret = rest[:idLen], rest[idLen+1:]
	if !validID(id) || !validSecret(secret) {
		return "", "", false
	}
	return id, secret, true
}

func formatAPIToken(id, secret string) string { return apiPrefix + id + "_" + secret }

// accessClaims are what an access token says: the session it belongs to,
// its user, and when it expires and was issued (Unix seconds).
type accessClaims struct {
	SID string `json:"sid"`
	Sub string `json:"sub"`
	Exp int64  `json:"exp"`
	Iat int64  `json:"iat"`
}

// signer makes and checks access tokens with one HMAC-SHA256 key. The
// tokens it has verified are remembered (up to maxVerified; each is
// used for minutes, by every request of a CLI or script), so that the
// check on every request is one map lookup, not an HMAC and a JSON
// decode: that was most of a session request's cost over the admin
// token's (docs/benchmarks.md).
type signer struct {
	key []byte

	mu       sync.RWMutex
	verified map[string]accessClaims
}

// maxVerified bounds the verified-token memory (about 300 bytes each).
const maxVerified = 2048

func newSigner(key []byte) *signer {
	return &signer{key: key, verified: map[string]accessClaims{}}
}

func (s *signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// remember keeps a verified token; when the memory is full, the tokens
// expired by now go, or else all (they are verified again on next use).
func (s *signer) remember(token string, c accessClaims, now int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.verified) >= maxVerified {
		for t, vc := range s.verified {
			if now >= vc.Exp {
				delete(s.verified, t)
			}
		}
		if len(s.verified) >= maxVerified {
			clear(s.verified)
		}
	}
	s.verified[token] = c
}

// check is parse, answered from the verified tokens when it can be.
func (s *signer) check(token string, now int64) (accessClaims, bool) {
	s.mu.RLock()
	c, ok := s.verified[token]
	s.mu.RUnlock()
	if ok {
		return c, true
	}
	if c, ok = s.parse(token); ok && now < c.Exp {
		s.remember(token, c, now)
	}
	return c, ok
}

// sign returns the token for c.
func (s *signer) sign(c accessClaims) string {
	b, _ := json.Marshal(c) // a struct of strings and ints always encodes
	payload := b64.EncodeToString(b)
	return accessPrefix + payload + "." + b64.EncodeToString(s.mac(payload))
}

// parse checks the token's signature (in constant time) and returns its
// claims; it does not look at the expiry.
func (s *signer) parse(token string) (accessClaims, bool) {
	if len(token) > maxAccessLen || !strings.HasPrefix(token, accessPrefix) {
		return accessClaims{}, false
	}
	payload, sig, ok := strings.Cut(token[len(accessPrefix):], ".")
	if !ok || payload == "" || len(sig) != secretLen {
		return accessClaims{}, false
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return accessClaims{}, false
	}
	raw, err := b64.DecodeString(payload)
	if err != nil {
		return accessClaims{}, false
	}
	var c accessClaims
	if err := json.Unmarshal(raw, &c); err != nil || !validID(c.SID) || c.Sub == "" {
		return accessClaims{}, false
	}
	return c, true
}
