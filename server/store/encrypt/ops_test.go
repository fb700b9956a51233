package encrypt_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/store/encrypt"
)

// TestRotateWithFailedCompaction: a rotation whose compaction fails says
// so, keeps the old key in the key file, and the next Reencrypt compacts
// first — then no old-key ciphertext and no plaintext is left in the file.
func TestRotateWithFailedCompaction(t *testing.T) {
	e := newEnv(t)
	_, reg, closeStore := e.open()
	for i := range 3 {
		if _, err := reg.Create(ctx, "secrets", "default", newSecret(fmt.Sprintf("s%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	closeStore()
	old, _ := encrypt.Load(e.keyFile)
	oldPrefix := []byte("skiff:enc:aesgcm:v1:" + old.Active() + ":")

	// Something in the way of the store's compacted copy.
	blocker := e.dbPath + ".compact"
	if err := os.MkdirAll(filepath.Join(blocker, "in-the-way"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, _, err := encrypt.Rotate(e.keyFile, e.dbPath, time.Now().Add(time.Hour))
	if err == nil || !strings.Contains(err.Error(), "compact") || !strings.Contains(err.Error(), "start again") {
		t.Fatalf("rotate with a failing compaction: %v; want it to say the compaction failed and what to do", err)
	}
	ring, _ := encrypt.Load(e.keyFile)
	if got := ring.Names(); len(got) != 2 || got[1] != old.Active() {
		t.Errorf("key file after the failed rotation: %v; want the new key and %s", got, old.Active())
	}

	os.RemoveAll(blocker)
	s, err := encrypt.Reencrypt(e.keyFile, e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Keys) != 1 || s.Keys[0].Name != ring.Active() || s.Keys[0].Secrets != 3 {
		t.Errorf("after reencrypt: %+v; want only %s, sealing 3", s.Keys, ring.Active())
	}
	raw := e.raw()
	if bytes.Contains(raw, oldPrefix) {
		t.Error("state.db still holds values sealed with the old key after the retried compaction")
	}
	assertHidden(t, raw, "s0", "s1", "s2")
}
