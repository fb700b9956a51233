package encrypt

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/skiffhq/skiff/server/store/atomicfile"
)

// KeyFile is the key file's name under the data directory's pki/.
const KeyFile = "secrets-encryption.json"

// fileKind and provider mark a key file, so that another JSON file put in
// its place is refused rather than read as an empty ring.
const (
	fileKind = "SecretsEncryptionKeys"
	provider = "aesgcm"
)

// keyFile is the key file on disk:
//
//	{
//	  "kind": "SecretsEncryptionKeys",
//	  "provider": "aesgcm",
//	  "keys": [
//	    {"name": "key-20261201-145300", "secret": "<base64 of 32 random bytes>", "created": "2026-12-01T14:53:00Z"},
//	    …
//	  ]
//	}
//
// The first key seals every write; every key listed opens. It is written
// 0600, atomically.
type keyFile struct {
	Kind     string    `json:"kind"`
	Provider string    `json:"provider"`
	Keys     []fileKey `json:"keys"`
}

type fileKey struct {
	Name    string    `json:"name"`
	Secret  string    `json:"secret"`
	Created time.Time `json:"created"`
}

// keyName is what a key's name may be: it is written in every envelope's
// prefix, up to a colon.
var keyName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)

// Load reads the key ring at path. A missing file is an error that
// errors.Is(err, os.ErrNotExist); a file that is not a key ring says what
// is wrong with it.
//
// The file must be its owner's alone: readable or writable by every user
// it is refused, by its group it loads with a warning (KeyRing.warning),
// both saying "chmod 600 <path>".
func Load(path string) (*KeyRing, error) {
	data, warning, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	var f keyFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, corrupt(path, err.Error())
	}
	if f.Kind != fileKind {
		return nil, corrupt(path, fmt.Sprintf("kind is %q, not %q", f.Kind, fileKind))
	}
	if f.Provider != provider {
		return nil, corrupt(path, fmt.Sprintf("provider %q is not supported (only %q)", f.Provider, provider))
	}
	if len(f.Keys) == 0 {
		return nil, corrupt(path, "it lists no keys")
	}
	r := &KeyRing{path: path, warning: warning}
	seen := map[string]bool{}
	for i, k := range f.Keys {
		if !keyName.MatchString(k.Name) {
			return nil, corrupt(path, fmt.Sprintf("keys[%d]: name %q must be 1-63 of a-z, 0-9, '.' and '-'", i, k.Name))
		}
		if seen[k.Name] {
			return nil, corrupt(path, fmt.Sprintf("keys[%d]: name %q is listed twice", i, k.Name))
		}
		seen[k.Name] = true
		secret, err := base64.StdEncoding.DecodeString(k.Secret)
		if err != nil || len(secret) != 32 {
			return nil, corrupt(path, fmt.Sprintf("keys[%d] (%q): secret must be 32 bytes (AES-256) in base64", i, k.Name))
		}
		key, err := newKey(k.Name, secret, k.Created)
		if err != nil {
			return nil, corrupt(path, fmt.Sprintf("keys[%d] (%q): %v", i, k.Name, err))
		}
		r.keys = append(r.keys, key)
	}
	return r, nil
}

// readKeyFile reads the key file at path, refusing it when every user may
// read or change it; warning says its group may.
func readKeyFile(path string) (data []byte, warning string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("secrets encryption keys: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("secrets encryption keys: %w", err)
	}
	switch perm := fi.Mode().Perm(); {
	case perm&0o006 != 0:
		return nil, "", fmt.Errorf("secrets encryption key file %s has mode %04o: every user of this machine can read or replace the keys to every Secret; chmod 600 %s, and rotate the key if anyone may have copied it", path, perm, path)
	case perm&0o060 != 0:
		warning = fmt.Sprintf("secrets encryption key file %s has mode %04o: its group can read or replace the keys to every Secret; chmod 600 %s", path, perm, path)
	}
	data, err = io.ReadAll(f)
	if err != nil {
		return nil, "", fmt.Errorf("secrets encryption keys: %w", err)
	}
	return data, warning, nil
}

func corrupt(path, why string) error {
	return fmt.Errorf("secrets encryption key file %s is corrupt: %s; restore it from a backup of the data directory", path, why)
}

// LoadOrCreate loads the key ring at path, or — when there is none —
// makes one with a new random key and writes it. created says it was
// made now.
func LoadOrCreate(path string) (r *KeyRing, created bool, err error) {
	r, err = Load(path)
	if !errors.Is(err, os.ErrNotExist) {
		return r, false, err
	}
	k, err := generateKey(nil, time.Now())
	if err != nil {
		return nil, false, err
	}
	r = &KeyRing{path: path, keys: []*key{k}}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("secrets encryption keys: %w", err)
	}
	if err := r.save(); err != nil {
		return nil, false, err
	}
	return r, true, nil
}

// generateKey makes a key with 32 random bytes, named for now and a
// random suffix ("key-20261201-145300-3fa9c1"), unlike any in taken. The
// suffix matters: a ring made again in the same second (a lost key file
// replaced) must not share a name with the key it replaces, or its
// ciphertexts would look like its own.
func generateKey(taken []*key, now time.Time) (*key, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	for {
		var suffix [3]byte
		rand.Read(suffix[:])
		name := fmt.Sprintf("key-%s-%x", now.UTC().Format("20060102-150405"), suffix)
		if !slices.ContainsFunc(taken, func(k *key) bool { return k.name == name }) {
			return newKey(name, secret, now.UTC().Truncate(time.Second))
		}
	}
}

// save writes the ring to its file, atomically.
func (r *KeyRing) save() error {
	f := keyFile{Kind: fileKind, Provider: provider}
	for _, k := range r.keys {
		f.Keys = append(f.Keys, fileKey{Name: k.name, Secret: base64.StdEncoding.EncodeToString(k.secret), Created: k.created})
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(r.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write secrets encryption keys: %w", err)
	}
	return nil
}
