package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/store/atomicfile"
)

// JoinTokenPrefix starts every join token; the 10 is the format version.
const JoinTokenPrefix = "SK10"

// NodeTokenFile is where, in the data directory, the server keeps the join
// token it prints (mode 0600).
const NodeTokenFile = "node-token"

// Identities and groups the join machinery hands out (the shared names
// are in server/api, which the node side may import).
const (
	// GroupBootstrappers is the group of a request that presents the join
	// secret: it may fetch a node certificate and nothing else.
	GroupBootstrappers = "skiff:bootstrappers"
	GroupNodes         = api.GroupNodes
	GroupAdmins        = api.GroupAdmins
	NodeUserPrefix     = api.NodeUserPrefix
	APIServerUser      = api.UserAPIServer
)

// JoinToken is what a new node needs to join: the hash of the CA it must
// find at the server (so it never sends the secret to an impostor) and the
// secret that proves it may join.
type JoinToken struct {
	CAHash string // hex SHA-256 of the CA certificate's DER
	Secret string
}

// String is the token as printed: SK10<ca-sha256>::<secret>.
func (t JoinToken) String() string { return JoinTokenPrefix + t.CAHash + "::" + t.Secret }

// ParseJoinToken reads a token printed by String, saying what is wrong
// with a malformed one without echoing its secret.
func ParseJoinToken(s string) (JoinToken, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, JoinTokenPrefix)
	if !ok {
		return JoinToken{}, fmt.Errorf("join token: must start with %q (copy it from <data-dir>/%s on the server)", JoinTokenPrefix, NodeTokenFile)
	}
	hash, secret, ok := strings.Cut(rest, "::")
	if !ok {
		return JoinToken{}, errors.New(`join token: no "::" between the CA hash and the secret`)
	}
	if b, err := hex.DecodeString(hash); err != nil || len(b) != sha256.Size {
		return JoinToken{}, fmt.Errorf("join token: the CA hash must be %d hex digits, got %d characters", 2*sha256.Size, len(hash))
	}
	if len(secret) < 16 {
		return JoinToken{}, errors.New("join token: the secret after \"::\" is missing or too short")
	}
	return JoinToken{CAHash: strings.ToLower(hash), Secret: secret}, nil
}

// EnsureJoinToken returns the join token kept in dataDir, making one on
// first start. The file is rewritten only when the CA hash in it is not
// caHash's (the secret stays).
func EnsureJoinToken(dataDir, caHash string) (JoinToken, error) {
	path := filepath.Join(dataDir, NodeTokenFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		t, err := ParseJoinToken(string(data))
		if err != nil {
			return JoinToken{}, fmt.Errorf("%s: %w; remove it to make a new join token", path, err)
		}
		if t.CAHash == caHash {
			return t, nil
		}
		t.CAHash = caHash
		return t, atomicfile.WriteFile(path, []byte(t.String()+"\n"), 0o600)
	case errors.Is(err, os.ErrNotExist):
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return JoinToken{}, err
		}
		t := JoinToken{CAHash: caHash, Secret: hex.EncodeToString(b)}
		return t, atomicfile.WriteFile(path, []byte(t.String()+"\n"), 0o600)
	default:
		return JoinToken{}, fmt.Errorf("join token: %w", err)
	}
}

// InGroup reports whether id is in group g.
func (id *Identity) InGroup(g string) bool {
	for _, x := range id.Groups {
		if x == g {
			return true
		}
	}
	return false
}

// NodeName is the node an identity of a node certificate speaks for, or
// "" for any other identity.
func (id *Identity) NodeName() string {
	if !id.InGroup(GroupNodes) {
		return ""
	}
	name, _ := strings.CutPrefix(id.Name, NodeUserPrefix)
	return name
}
