package encrypt_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/skiffhq/skiff/server/store/encrypt"
)

// fuzzKeyFile is the fixed ring of FuzzTransformFromStorage, so that the
// seeds in testdata/fuzz can hold values sealed with it: one key,
// "fuzz-key", whose secret is the bytes 0x00…0x1f.
const fuzzKeyFile = `{"kind":"SecretsEncryptionKeys","provider":"aesgcm","keys":[` +
	`{"name":"fuzz-key","secret":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","created":"2026-12-01T00:00:00Z"}]}`

// fuzzObject is the only plaintext ever sealed with fuzzKeyFile's key, for
// fuzzAAD; testdata/fuzz/FuzzTransformFromStorage holds such seals.
const (
	fuzzObject = `{"kind":"Secret","metadata":{"name":"x","namespace":"default"}}`
	fuzzAAD    = "secrets/default/x"
)

// FuzzTransformFromStorage: whatever is on disk, reading it never panics,
// and a value reads only if it is plaintext JSON — passed through byte for
// byte, in memory of its own, and marked stale — or a valid seal of
// fuzzObject under fuzzAAD by the ring's key (anything else that opened
// would be a forgery); Stale agrees with it.
func FuzzTransformFromStorage(f *testing.F) {
	keyFile := filepath.Join(f.TempDir(), encrypt.KeyFile)
	if err := os.WriteFile(keyFile, []byte(fuzzKeyFile), 0o600); err != nil {
		f.Fatal(err)
	}
	ring, err := encrypt.Load(keyFile)
	if err != nil {
		f.Fatal(err)
	}
	aad := []byte(fuzzAAD)
	sealed, err := ring.TransformToStorage([]byte(fuzzObject), aad)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed) // a fresh nonce each run; the fixed seals are in testdata
	f.Fuzz(func(t *testing.T, stored []byte) {
		plain, stale, err := ring.TransformFromStorage(stored, aad)
		staleOnly, staleErr := ring.Stale(stored)
		name, isSealed, keyErr := encrypt.KeyOf(stored)
		if err != nil {
			if keyErr != nil && staleErr == nil {
				t.Errorf("%q: KeyOf refuses it (%v) but Stale does not", stored, keyErr)
			}
			return
		}
		switch {
		case keyErr != nil:
			t.Errorf("%q read as %q, but KeyOf refuses it: %v", stored, plain, keyErr)
		case !isSealed:
			if stored[0] != '{' || !bytes.Equal(plain, stored) || !stale {
				t.Errorf("%q read as plaintext %q (stale %v); want it unchanged and stale", stored, plain, stale)
			}
			if unsafe.SliceData(plain) == unsafe.SliceData(stored) {
				t.Errorf("%q: the plaintext returned is the stored slice itself", stored)
			}
		default:
			if name != ring.Active() || string(plain) != fuzzObject || stale {
				t.Errorf("%q (key %q) read as %q (stale %v); only a seal of %q by %q reads", stored, name, plain, stale, fuzzObject, ring.Active())
			}
		}
		if staleErr != nil || staleOnly != stale {
			t.Errorf("%q read (stale %v), but Stale says %v, %v", stored, stale, staleOnly, staleErr)
		}
	})
}

// FuzzLoad: any key file loads or is refused with an error, and what loads
// has keys whose names can go in an envelope.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(fuzzKeyFile))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "keys.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := encrypt.Load(path)
		if err != nil {
			return
		}
		if len(r.Names()) == 0 {
			t.Error("a ring with no keys loaded")
		}
		seen := map[string]bool{}
		for _, name := range r.Names() {
			if _, sealed, err := encrypt.KeyOf([]byte("skiff:enc:aesgcm:v1:" + name + ":x")); err != nil || !sealed || seen[name] {
				t.Errorf("loaded key %q: an envelope naming it does not parse (%v), or it is listed twice", name, err)
			}
			seen[name] = true
		}
	})
}
