package overlay

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func wgOverlay(t *testing.T, keyFile string) *Overlay {
	t.Helper()
	o, err := New(Config{Backend: WireGuard, WireGuardKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// The key file is made once, 0600, and reused by every Overlay after,
// as an agent restarted or rebooted would.
func TestWireGuardKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent", "wireguard.key") // agent/ does not exist yet
	pub, err := wgOverlay(t, path).LocalPublicKey()
	if err != nil {
		t.Fatalf("LocalPublicKey: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file not made: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: got %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	priv, err := wgtypes.ParseKey(strings.TrimSpace(string(b)))
	if err != nil || !strings.HasSuffix(string(b), "=\n") {
		t.Fatalf("key file holds %q, want one line of base64: %v", b, err)
	}
	if got := priv.PublicKey().String(); got != pub {
		t.Errorf("LocalPublicKey %s is not the public key of the file's private key (%s)", pub, got)
	}
	for range 2 {
		again, err := wgOverlay(t, path).LocalPublicKey()
		if err != nil || again != pub {
			t.Errorf("LocalPublicKey again: got %s, %v; want %s", again, err, pub)
		}
	}
	if b2, _ := os.ReadFile(path); string(b2) != string(b) {
		t.Errorf("key file rewritten: %q, was %q", b2, b)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("key directory holds %d files, want only the key (no temporary file left)", len(entries))
	}
}

// A key made with `wg genkey` (here: written by hand) is used as it is.
func TestWireGuardKeyFileGiven(t *testing.T) {
	priv, _ := wgtypes.GeneratePrivateKey()
	path := filepath.Join(t.TempDir(), "wg.key")
	if err := os.WriteFile(path, []byte(priv.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := wgOverlay(t, path).LocalPublicKey()
	if err != nil || got != priv.PublicKey().String() {
		t.Errorf("LocalPublicKey: got %s, %v; want %s", got, err, priv.PublicKey())
	}
}

func TestWireGuardKeyFileBad(t *testing.T) {
	for name, content := range map[string]string{
		"empty":      "",
		"not base64": "this is not a key\n",
		"too short":  "c2hvcnQ=\n",
		"zeros":      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wg.key")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := wgOverlay(t, path).LocalPublicKey()
			if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "wg genkey") {
				t.Errorf("got error %v, want ErrInvalid naming %s and saying what it should hold", err, path)
			}
			if content != "" && strings.Contains(err.Error(), strings.TrimSpace(content)) {
				t.Errorf("the error repeats the file's content: %v", err)
			}
			if b, _ := os.ReadFile(path); string(b) != content {
				t.Errorf("a bad key file was rewritten: %q", b)
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "wg.key") // a directory
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := wgOverlay(t, dir).LocalPublicKey(); err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("got error %v, want one naming %s", err, dir)
		}
	})
}

// A key file deleted or replaced under a running Overlay changes
// nothing until the next start: the other nodes know the old key.
func TestWireGuardKeyKeptWhileRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wireguard.key")
	o := wgOverlay(t, path)
	pub, err := o.LocalPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got, err := o.LocalPublicKey(); err != nil || got != pub {
		t.Errorf("after the key file went: %s, %v; want the same key %s", got, err, pub)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a running Overlay made a new key file: %v", err)
	}
	other, _ := wgtypes.GeneratePrivateKey()
	os.WriteFile(path, []byte(other.String()+"\n"), 0o600)
	if got, err := o.LocalPublicKey(); err != nil || got != pub {
		t.Errorf("after the key file was replaced: %s, %v; want the same key %s", got, err, pub)
	}
	// The next start takes the file's key.
	if got, err := wgOverlay(t, path).LocalPublicKey(); err != nil || got != other.PublicKey().String() {
		t.Errorf("a new Overlay: %s, %v; want the file's key", got, err)
	}
}
