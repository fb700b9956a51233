package encrypt_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/skiffhq/skiff/server/store/encrypt"
)

// FuzzTransformFromStorage: whatever is on disk, reading it returns a
// value or an error, never panics, and nothing but a sealed value of the
// ring's own key, or JSON, reads.
func FuzzTransformFromStorage(f *testing.F) {
	keyFile := filepath.Join(f.TempDir(), encrypt.KeyFile)
	ring, _, err := encrypt.LoadOrCreate(keyFile)
	if err != nil {
		f.Fatal(err)
	}
	aad := []byte("secrets/default/x")
	sealed, _ := ring.TransformToStorage([]byte(`{"kind":"Secret"}`), aad)
	for _, seed := range [][]byte{sealed, []byte(`{}`), nil, []byte("skiff:enc:aesgcm:v1:"), []byte("skiff:enc:aesgcm:v1:" + ring.Active() + ":"), []byte("skiff:enc:x")} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, stored []byte) {
		plain, _, err := ring.TransformFromStorage(stored, aad)
		if err == nil && len(stored) > 0 && stored[0] != '{' && string(stored) != string(sealed) && len(plain) == 0 {
			t.Errorf("%q read as an empty value", stored)
		}
		ring.Stale(stored)
		encrypt.KeyOf(stored)
	})
}

// FuzzLoad: any key file loads or is refused with an error.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"kind":"SecretsEncryptionKeys","provider":"aesgcm","keys":[{"name":"k1","secret":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}`))
	f.Add([]byte(`{"kind":"SecretsEncryptionKeys","provider":"aesgcm","keys":[]}`))
	f.Add([]byte(`[]`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "keys.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := encrypt.Load(path)
		if err == nil && len(r.Names()) == 0 {
			t.Error("a ring with no keys loaded")
		}
	})
}
