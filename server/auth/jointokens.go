package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Join tokens besides the server's default one (<data-dir>/node-token)
// are Secrets of type api.SecretTypeJoinToken in namespace
// JoinTokenNamespace, named JoinTokenSecretPrefix + id, as Kubernetes
// keeps bootstrap tokens: made, listed and revoked with the objects API
// (`skiff join-token create|list|revoke`). A token is printed once as
// SK10<ca-sha256>::<id>.<secret>; the Secret holds the secret's SHA-256
// only (and Secrets are sealed at rest), so no read gives it back.
const (
	JoinTokenNamespace    = "skiff-system"
	JoinTokenSecretPrefix = "join-token-"
	// DefaultJoinTokenID names the server's own token in grants and logs.
	DefaultJoinTokenID = "default"
)

// joinTokenID is a token's public half: six lowercase letters or digits.
var joinTokenID = regexp.MustCompile(`^[a-z0-9]{6}$`)

// JoinGrant is what a valid join secret allows.
type JoinGrant struct {
	// TokenID names the token (DefaultJoinTokenID for the server's own).
	TokenID string
	// Node, when set, is the existing node the token may rejoin as (a
	// reinstalled machine); a token without it may only join under a
	// name no node has.
	Node string
	// UID and ResourceVersion are the stored token's, to spend it with
	// preconditions (a reinstall token is used once).
	UID, ResourceVersion string
}

// JoinAuthenticator checks join secrets.
type JoinAuthenticator interface {
	AuthenticateJoin(ctx context.Context, secret string) (JoinGrant, error)
}

// SecretGetter reads a Secret of JoinTokenNamespace by name
// (errdefs.ErrNotFound when there is none).
type SecretGetter func(ctx context.Context, name string) (*api.Secret, error)

// JoinTokens checks the server's default join secret and the tokens
// stored as Secrets.
type JoinTokens struct {
	defaultHash [sha256.Size]byte
	get         SecretGetter
	now         func() time.Time
}

var _ JoinAuthenticator = (*JoinTokens)(nil)

// NewJoinTokens accepts defaultSecret (the server's node-token) and the
// tokens get finds.
func NewJoinTokens(defaultSecret string, get SecretGetter) *JoinTokens {
	return &JoinTokens{defaultHash: sha256.Sum256([]byte(defaultSecret)), get: get, now: time.Now}
}

// AuthenticateJoin says what secret grants. A wrong secret, an unknown
// id and a malformed secret all get the same answer; an expired token
// is said to be expired only to whoever holds its secret.
func (j *JoinTokens) AuthenticateJoin(ctx context.Context, secret string) (JoinGrant, error) {
	sum := sha256.Sum256([]byte(secret))
	if secret != "" && subtle.ConstantTimeCompare(sum[:], j.defaultHash[:]) == 1 {
		return JoinGrant{TokenID: DefaultJoinTokenID}, nil
	}
	id, sec, ok := strings.Cut(secret, ".")
	if !ok || !joinTokenID.MatchString(id) || j.get == nil {
		return JoinGrant{}, errBadToken
	}
	s, err := j.get(ctx, JoinTokenSecretPrefix+id)
	if errdefs.IsNotFound(err) {
		return JoinGrant{}, errBadToken
	}
	if err != nil {
		return JoinGrant{}, fmt.Errorf("join token %s: %w", id, err)
	}
	if s.Type != api.SecretTypeJoinToken || s.DeletionTimestamp != nil {
		return JoinGrant{}, errBadToken
	}
	secSum := sha256.Sum256([]byte(sec))
	if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(secSum[:])), s.Data[api.JoinTokenSecretHashKey]) != 1 {
		return JoinGrant{}, errBadToken
	}
	if exp := string(s.Data[api.JoinTokenExpiresKey]); exp != "" {
		t, err := time.Parse(time.RFC3339, exp)
		if err != nil || !j.now().Before(t) {
			return JoinGrant{}, fmt.Errorf("join token %s expired at %s: make a new one with `skiff join-token create`: %w", id, exp, errdefs.ErrUnauthorized)
		}
	}
	return JoinGrant{TokenID: id, Node: string(s.Data[api.JoinTokenNodeKey]), UID: string(s.UID), ResourceVersion: s.ResourceVersion}, nil
}

// NewJoinTokenSecret makes a token: the Secret to store (in
// JoinTokenNamespace) and the secret half to print, once, as
// JoinToken{CAHash, Secret: secret}.String(). ttl 0 never expires; node
// binds it to an existing node's name.
func NewJoinTokenSecret(ttl time.Duration, node, description string, now time.Time) (*api.Secret, string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6+24)
	if _, err := rand.Read(b); err != nil {
		return nil, "", err
	}
	id := make([]byte, 6)
	for i := range id {
		id[i] = alphabet[int(b[i])%len(alphabet)]
	}
	sec := hex.EncodeToString(b[6:])
	sum := sha256.Sum256([]byte(sec))
	data := map[string][]byte{
		api.JoinTokenIDKey:         id,
		api.JoinTokenSecretHashKey: []byte(hex.EncodeToString(sum[:])),
	}
	if ttl > 0 {
		data[api.JoinTokenExpiresKey] = []byte(now.Add(ttl).UTC().Format(time.RFC3339))
	}
	if node != "" {
		data[api.JoinTokenNodeKey] = []byte(node)
	}
	if description != "" {
		data[api.JoinTokenDescriptionKey] = []byte(description)
	}
	s := &api.Secret{
		ObjectMeta: api.ObjectMeta{Name: JoinTokenSecretPrefix + string(id), Namespace: JoinTokenNamespace},
		Type:       api.SecretTypeJoinToken,
		Data:       data,
	}
	return s, string(id) + "." + sec, nil
}
