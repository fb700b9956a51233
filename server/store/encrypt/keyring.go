// Package encrypt seals Secrets at rest: a key ring kept in a key file
// under the data directory (keyfile.go), AES-256-GCM envelopes that the
// store writes in place of a Secret's JSON (this file, a
// store.Transformer), and the offline operations on both — open a store
// with the ring, re-encrypt, rotate, status (ops.go). It owns the key file
// and the envelope format; the store owns where the transform is applied
// (store.Transformer says why there), and cmd/skiff the CLI verbs.
//
// A stored Secret is
//
//	skiff:enc:aesgcm:v1:<key name>:<12-byte random nonce><ciphertext+16-byte tag>
//
// sealing the whole object JSON (so key names, labels and annotations are
// hidden too), with the object's store key ("secrets/<namespace>/<name>")
// as additional authenticated data: a value copied under another name
// fails to open. A value that starts with '{' is plaintext from before
// encryption: it reads, and is sealed when next written or at the next
// open of the store. Like Kubernetes' EncryptionConfiguration, the ring's
// first key seals and every key listed opens, so a rotation adds a key
// first, rewrites every Secret with it, and only then drops the old keys.
//
// A random 96-bit nonce per write keeps a key safe for about 2^32
// writes; rotate long before that (a small cluster writes Secrets
// thousands of times, not billions).
package encrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"time"

	"github.com/skiffhq/skiff/server/store"
)

// Resources returns the resources whose stored values are sealed, a new
// slice each call. Everything else (ConfigMaps included) is stored as
// plaintext JSON: cheaper, and nothing in it is meant to be secret.
func Resources() []string { return []string{"secrets"} }

// envelopePrefix starts every sealed value; the key's name and a colon
// follow.
const envelopePrefix = "skiff:enc:aesgcm:v1:"

// ErrAuthentication is the class of a sealed value that does not open with
// the key it names: it was changed, moved from another object, or sealed
// with another key of the same name.
var ErrAuthentication = errors.New("ciphertext failed authentication")

// UnknownKeyError is a sealed value whose key the ring does not have.
type UnknownKeyError struct {
	Key  string // the key the value names
	File string // the key file that lacks it
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("encrypted with key %q, which %s lacks: restore the key file", e.Key, e.File)
}

// KeyRing is a list of AES-256-GCM keys: the first seals, all open. Its
// exported methods only read it, so it is safe for concurrent use, and the
// ring a store was opened with stays as it was loaded. Rotate and
// Reencrypt (ops.go) change the key file, and their own ring loaded from
// it, while no server runs; a ring loaded before them does not see their
// changes — load the file again.
type KeyRing struct {
	path string // the key file, for messages and saving
	keys []*key
	// warning is what is wrong with the key file that Load did not
	// refuse (it is readable by its group); Open logs it.
	warning string
}

var _ store.Transformer = (*KeyRing)(nil)

type key struct {
	name    string
	secret  []byte
	created time.Time
	aead    cipher.AEAD
	prefix  []byte // envelopePrefix + name + ":"
}

func newKey(name string, secret []byte, created time.Time) (*key, error) {
	block, err := aes.NewCipher(secret)
	if err != nil {
		return nil, err
	}
	// The nonce is 12 random bytes, made by Seal and put before the
	// ciphertext.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, err
	}
	return &key{name: name, secret: secret, created: created, aead: aead, prefix: []byte(envelopePrefix + name + ":")}, nil
}

// Path is the key file the ring was loaded from.
func (r *KeyRing) Path() string { return r.path }

// Active is the name of the key that seals.
func (r *KeyRing) Active() string { return r.keys[0].name }

// Names are the ring's keys, the active one first.
func (r *KeyRing) Names() []string {
	var out []string
	for _, k := range r.keys {
		out = append(out, k.name)
	}
	return out
}

// Created is when the named key was made (zero if unknown).
func (r *KeyRing) Created(name string) time.Time {
	if k := r.find(name); k != nil {
		return k.created
	}
	return time.Time{}
}

func (r *KeyRing) find(name string) *key {
	for _, k := range r.keys {
		if k.name == name {
			return k
		}
	}
	return nil
}

// Transformers is the store's Config.Transformers for this ring.
func (r *KeyRing) Transformers() map[string]store.Transformer {
	ts := map[string]store.Transformer{}
	for _, res := range Resources() {
		ts[res] = r
	}
	return ts
}

// TransformToStorage seals plain with the active key.
func (r *KeyRing) TransformToStorage(plain, aad []byte) ([]byte, error) {
	k := r.keys[0]
	out := make([]byte, len(k.prefix), len(k.prefix)+k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	copy(out, k.prefix)
	return k.aead.Seal(out, nil, plain, aad), nil
}

// TransformFromStorage opens a sealed value, or passes plaintext JSON
// through (stale: it should be sealed).
func (r *KeyRing) TransformFromStorage(stored, aad []byte) ([]byte, bool, error) {
	name, sealed, err := KeyOf(stored)
	if err != nil {
		return nil, false, err
	}
	if !sealed {
		return append([]byte(nil), stored...), true, nil
	}
	k := r.find(name)
	if k == nil {
		return nil, false, &UnknownKeyError{Key: name, File: r.path}
	}
	body := stored[len(k.prefix):]
	if len(body) < k.aead.NonceSize()+k.aead.Overhead() {
		return nil, false, fmt.Errorf("key %q: the sealed value is truncated (%d bytes): %w", name, len(body), ErrAuthentication)
	}
	plain, err := k.aead.Open(nil, nil, body, aad)
	if err != nil {
		return nil, false, fmt.Errorf("key %q: %w: the stored bytes were changed, or were copied from another object", name, ErrAuthentication)
	}
	return plain, k != r.keys[0], nil
}

// Stale says whether stored is not sealed with the active key, without
// opening it; a value sealed with a key the ring lacks is an error.
func (r *KeyRing) Stale(stored []byte) (bool, error) {
	name, sealed, err := KeyOf(stored)
	if err != nil || !sealed {
		return !sealed, err
	}
	if r.find(name) == nil {
		return false, &UnknownKeyError{Key: name, File: r.path}
	}
	return name != r.keys[0].name, nil
}

// KeyOf names the key that sealed a stored value; sealed is false for
// plaintext JSON. Anything else is an error.
func KeyOf(stored []byte) (name string, sealed bool, err error) {
	if len(stored) > 0 && stored[0] == '{' {
		return "", false, nil
	}
	if !bytes.HasPrefix(stored, []byte(envelopePrefix)) {
		if bytes.HasPrefix(stored, []byte("skiff:enc:")) {
			end := min(len(stored), 40)
			return "", false, fmt.Errorf("stored value has an envelope this skiff does not know (%q…): run a newer skiff", stored[:end])
		}
		return "", false, errors.New("stored value is neither JSON nor an encryption envelope")
	}
	rest := stored[len(envelopePrefix):]
	i := bytes.IndexByte(rest, ':')
	if i <= 0 || !keyName.Match(rest[:i]) {
		return "", false, errors.New("stored value's encryption envelope names no valid key")
	}
	return string(rest[:i]), true, nil
}
