package accounts

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
)

// SSH public keys let people push with git over SSH. Each is a Secret in
// skiff-system named SSHKeySecretPrefix + the key's id (the hex of the
// first 16 bytes of the SHA-256 of the key), so that a key is registered
// at most once, by one person, and authenticating one is a single read by
// name. Its data: user, user-uid, name, key (the authorized_keys line,
// without comment or options) and created.
//
// These belong with the other credential names in server/api/rbac.go; they
// are here until that file takes them.
const (
	// SSHKeySecretPrefix + key id: a user's SSH public key.
	SSHKeySecretPrefix = "ssh-key-"
	// SecretTypeSSHKey is the type of SSH key Secrets (skiff.dev/: only
	// the server and admins may write it).
	SecretTypeSSHKey api.SecretType = "skiff.dev/ssh-key"
	// SSHKeyLabel marks SSH key Secrets, to list them.
	SSHKeyLabel = "skiff.dev/ssh-key"

	// MaxSSHKeysPerUser bounds a user's SSH keys; beyond it adding one is
	// refused until one is removed.
	MaxSSHKeysPerUser = 50
	// MinRSAKeyBits is the smallest RSA key accepted.
	MinRSAKeyBits = 2048

	keyPublicKey = "key"
)

// SSHKey describes a registered SSH public key.
type SSHKey struct {
	// ID names the key in `skiff keys remove`: 32 hex digits.
	ID string
	// Name says whose or which machine's key it is ("laptop").
	Name string
	// User is the person the key signs in as.
	User string
	// Type is the key's algorithm, e.g. ssh-ed25519.
	Type string
	// Fingerprint is SHA256:<base64>, as `ssh-keygen -l` prints it.
	Fingerprint string
	// PublicKey is the authorized_keys line ("ssh-ed25519 AAAA...").
	PublicKey string
	Created   time.Time
}

// sshKeyID is the id of a key: the hex of the first 16 bytes of its
// SHA-256 fingerprint (a Secret name of 40 characters).
func sshKeyID(key ssh.PublicKey) string {
	sum := sha256.Sum256(key.Marshal())
	return hex.EncodeToString(sum[:16])
}

// ParseSSHKey reads one public key in authorized_keys form ("ssh-ed25519
// AAAA... comment") and checks it is one skiff takes: not DSA, not a
// certificate, RSA of at least MinRSAKeyBits. It returns the key and the
// comment.
func ParseSSHKey(line string) (ssh.PublicKey, string, error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return nil, "", fmt.Errorf("publicKey: %w", api.FieldErrors{api.Required("publicKey", "give the contents of your public key file, e.g. ~/.ssh/id_ed25519.pub")})
	}
	if strings.Contains(line, "PRIVATE KEY") {
		return nil, "", fmt.Errorf("publicKey: %w", api.FieldErrors{api.Invalid("publicKey", "(a private key)", "this is a private key: keep it secret and give the .pub file next to it")})
	}
	key, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, "", fmt.Errorf("publicKey: %w", api.FieldErrors{api.Invalid("publicKey", short(line), "not an SSH public key: give one line as in ~/.ssh/id_ed25519.pub (\"ssh-ed25519 AAAA... you@host\")")})
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, "", fmt.Errorf("publicKey: %w", api.FieldErrors{api.Invalid("publicKey", short(line), "more than one key: add them one at a time")})
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return nil, "", fmt.Errorf("publicKey: %w", api.FieldErrors{api.Invalid("publicKey", key.Type(), "SSH certificates are not taken: give the plain public key")})
	}
	switch key.Type() {
	case ssh.KeyAlgoDSA:
		return nil, "", fmt.Errorf("publicKey: %w", api.FieldErrors{api.Invalid("publicKey", key.Type(), "DSA keys are too weak: make an ed25519 key with ssh-keygen -t ed25519")})
	case ssh.KeyAlgoRSA:
		ck, ok := key.(ssh.CryptoPublicKey)
		if !ok {
			break
		}
		if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < MinRSAKeyBits {
			return nil, "", fmt.Errorf("publicKey: %w", api.FieldErrors{api.Invalid("publicKey", fmt.Sprintf("RSA %d bits", rk.N.BitLen()), fmt.Sprintf("RSA keys must have at least %d bits: make an ed25519 key with ssh-keygen -t ed25519", MinRSAKeyBits))})
		}
	}
	return key, strings.TrimSpace(comment), nil
}

// short shortens what someone sent for an error message.
func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// SSHFingerprint is key's SHA256:<base64> fingerprint.
func SSHFingerprint(key ssh.PublicKey) string { return ssh.FingerprintSHA256(key) }

// AddSSHKey registers an SSH public key (one authorized_keys line) for
// owner, who must be an enabled user signed in as themself (not with an
// API token, which would turn a narrowed token into full access). name ""
// takes the key's comment. A key is registered once: by anyone again, it
// is refused.
func (a *Accounts) AddSSHKey(ctx context.Context, owner *auth.Identity, name, authorizedKey string) (SSHKey, error) {
	if owner == nil {
		return SSHKey{}, fmt.Errorf("no owner for the SSH key: %w", errdefs.ErrUnauthorized)
	}
	key, comment, err := ParseSSHKey(authorizedKey)
	if err != nil {
		return SSHKey{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = comment
	}
	if name == "" || len(name) > 63 || strings.ContainsAny(name, "\n\x00") {
		return SSHKey{}, fmt.Errorf("SSH key: %w", api.FieldErrors{api.Invalid("name", name, "give the key a name of 1 to 63 characters that says which machine it is on")})
	}
	if owner.Token != "" {
		return SSHKey{}, fmt.Errorf("an API token cannot register SSH keys: sign in as %s (skiff login): %w", owner.Name, errdefs.ErrForbidden)
	}
	u, err := a.freshUser(ctx, owner.Name)
	if err != nil || u.Spec.Disabled || u.DeletionTimestamp != nil {
		return SSHKey{}, fmt.Errorf("SSH keys belong to users, and %q is not an enabled user: sign in as one: %w", owner.Name, errdefs.ErrForbidden)
	}
	mine, err := a.ListSSHKeys(ctx, u.Name)
	if err != nil {
		return SSHKey{}, err
	}
	if len(mine) >= MaxSSHKeysPerUser {
		return SSHKey{}, fmt.Errorf("%s has %d SSH keys, the most one user may have: remove some with `skiff keys remove`: %w", u.Name, len(mine), errdefs.ErrForbidden)
	}
	id := sshKeyID(key)
	secret := &api.Secret{
		ObjectMeta: api.ObjectMeta{Name: SSHKeySecretPrefix + id, Labels: map[string]string{SSHKeyLabel: "true"}},
		Type:       SecretTypeSSHKey,
		Data: map[string][]byte{
			keyUser: []byte(u.Name), keyUserUID: []byte(u.UID), keyName: []byte(name),
			keyPublicKey: bytes.TrimSpace(ssh.MarshalAuthorizedKey(key)), keyCreated: formatTime(a.now()),
		},
	}
	secret.Namespace = auth.JoinTokenNamespace
	out, err := a.secretsAPI().Create(ctx, secret)
	if errdefs.IsAlreadyExists(err) && a.dropStaleSSHKey(ctx, id) {
		out, err = a.secretsAPI().Create(ctx, secret)
	}
	if errdefs.IsAlreadyExists(err) {
		return SSHKey{}, fmt.Errorf("this key is already registered (%s); if it is yours, list your keys with `skiff keys list`, else make a new one with ssh-keygen -t ed25519: %w", SSHFingerprint(key), errdefs.ErrAlreadyExists)
	}
	if err != nil {
		return SSHKey{}, fmt.Errorf("store SSH key %q: %w", name, err)
	}
	k, _ := sshKeyOf(out)
	a.log.Info("SSH key added", "user", u.Name, "key", id, "name", name, "fingerprint", k.Fingerprint)
	return k, nil
}

// dropStaleSSHKey deletes the key with this id if it belongs to no live
// user (its user was deleted, perhaps made again), and says whether it did.
func (a *Accounts) dropStaleSSHKey(ctx context.Context, id string) bool {
	s, err := a.secretsAPI().Get(ctx, SSHKeySecretPrefix+id)
	if err != nil || s.Type != SecretTypeSSHKey {
		return false
	}
	if _, err := a.liveSSHUser(ctx, s); err == nil {
		return false
	}
	_, err = a.secretsAPI().Delete(ctx, s.Name, api.DeleteOptions{Preconditions: &api.Preconditions{UID: &s.UID}})
	return err == nil || isNotFound(err)
}

// liveSSHUser returns the enabled user an SSH key Secret belongs to.
func (a *Accounts) liveSSHUser(ctx context.Context, s *api.Secret) (*api.User, error) {
	name, uid := string(s.Data[keyUser]), string(s.Data[keyUserUID])
	u, err := a.freshUser(ctx, name)
	if err != nil || uid == "" || u.UID != uid || u.Spec.Disabled || u.DeletionTimestamp != nil {
		return nil, fmt.Errorf("the SSH key's user %q is disabled or gone: %w", name, errdefs.ErrUnauthorized)
	}
	return u, nil
}

// sshKeyOf reads an SSH key Secret.
func sshKeyOf(s *api.Secret) (SSHKey, bool) {
	id, ok := strings.CutPrefix(s.Name, SSHKeySecretPrefix)
	if !ok || s.Type != SecretTypeSSHKey {
		return SSHKey{}, false
	}
	k := SSHKey{ID: id, Name: string(s.Data[keyName]), User: string(s.Data[keyUser]), PublicKey: string(s.Data[keyPublicKey]), Created: parseTime(s.Data[keyCreated])}
	if pk, _, _, _, err := ssh.ParseAuthorizedKey(s.Data[keyPublicKey]); err == nil {
		k.Type, k.Fingerprint = pk.Type(), SSHFingerprint(pk)
	}
	return k, true
}

// ListSSHKeys lists user's SSH keys ("" = everyone's), oldest first. It
// reads the store, so that a key added a moment ago is in it.
func (a *Accounts) ListSSHKeys(ctx context.Context, user string) ([]SSHKey, error) {
	secrets, _, _, err := a.secretsAPI().List(ctx, api.ListOptions{LabelSelector: SSHKeyLabel + "=true"})
	if err != nil {
		return nil, fmt.Errorf("list SSH keys: %w", err)
	}
	var out []SSHKey
	for _, s := range secrets {
		if k, ok := sshKeyOf(s); ok && (user == "" || k.User == user) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b SSHKey) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RemoveSSHKey deletes an SSH key, by its id or its SHA256: fingerprint:
// by's own, or anyone's if by is an admin. Pushes with it are refused from
// now on.
func (a *Accounts) RemoveSSHKey(ctx context.Context, by *auth.Identity, id string) error {
	if fp, ok := strings.CutPrefix(id, "SHA256:"); ok {
		if sum, err := base64.RawStdEncoding.DecodeString(fp); err == nil && len(sum) == sha256.Size {
			id = hex.EncodeToString(sum[:16])
		}
	}
	notFound := fmt.Errorf("SSH key %q: %w: list yours with `skiff keys list`", id, errdefs.ErrNotFound)
	if by == nil || id == "" || len(id) > 64 || strings.ContainsAny(id, "/\x00") {
		return notFound
	}
	s, err := a.secretsAPI().Get(ctx, SSHKeySecretPrefix+id)
	if isNotFound(err) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("remove SSH key %q: %w", id, err)
	}
	k, ok := sshKeyOf(s)
	if !ok || (k.User != by.Name && !auth.IsAdmin(ctx, a, by)) {
		return notFound
	}
	if _, err := a.secretsAPI().Delete(ctx, s.Name, api.DeleteOptions{}); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove SSH key %q: %w", id, err)
	}
	a.log.Info("SSH key removed", "user", k.User, "key", id, "by", by.Name)
	return nil
}

// AuthenticateSSHKey returns the identity an SSH key signs in as: its
// user's, with the user's own roles (as an API token's identity, without
// a narrowing scope), Via "ssh-key". The user must exist and be enabled.
// It reads one Secret by name and the cached user.
func (a *Accounts) AuthenticateSSHKey(ctx context.Context, key ssh.PublicKey) (*auth.Identity, error) {
	refused := fmt.Errorf("SSH key %s is not registered: add it with `skiff keys add`: %w", SSHFingerprint(key), errdefs.ErrUnauthorized)
	s, err := a.secretsAPI().Get(ctx, SSHKeySecretPrefix+sshKeyID(key))
	if isNotFound(err) {
		return nil, refused
	}
	if err != nil {
		return nil, fmt.Errorf("look up SSH key: %w", err)
	}
	stored, _, _, _, perr := ssh.ParseAuthorizedKey(s.Data[keyPublicKey])
	if s.Type != SecretTypeSSHKey || perr != nil || !bytes.Equal(stored.Marshal(), key.Marshal()) {
		return nil, refused
	}
	u, err := a.liveSSHUser(ctx, s)
	if err != nil {
		return nil, err
	}
	return &auth.Identity{Name: u.Name, Groups: userGroups(u, nil), Via: "ssh-key"}, nil
}
