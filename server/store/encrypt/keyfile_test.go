package encrypt_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/store"
	"github.com/skiffhq/skiff/server/store/encrypt"
)

// TestKeyFileMode: a key file every user can read (or write) is refused,
// one its group can is loaded with a warning; both say how to fix it.
func TestKeyFileMode(t *testing.T) {
	for _, tc := range []struct {
		mode   os.FileMode
		refuse bool
		warn   bool
	}{
		{0o600, false, false},
		{0o400, false, false},
		{0o640, false, true},
		{0o620, false, true},
		{0o644, true, false},
		{0o604, true, false},
		{0o602, true, false},
		{0o666, true, false},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			e := newEnv(t)
			if _, _, err := encrypt.LoadOrCreate(e.keyFile); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(e.keyFile, tc.mode); err != nil {
				t.Fatal(err)
			}
			fix := "chmod 600 " + e.keyFile

			_, err := encrypt.Load(e.keyFile)
			if got := err != nil; got != tc.refuse {
				t.Fatalf("load: %v; want refused %v", err, tc.refuse)
			}
			if tc.refuse && !strings.Contains(err.Error(), fix) {
				t.Errorf("load: %q does not say %q", err, fix)
			}

			var logged bytes.Buffer
			st, _, err := encrypt.Open(e.keyFile, store.Config{Path: e.dbPath, Log: slog.New(slog.NewTextHandler(&logged, nil))})
			if got := err != nil; got != tc.refuse {
				t.Fatalf("open: %v; want refused %v", err, tc.refuse)
			}
			if tc.refuse {
				if _, err := os.Stat(e.keyFile); err != nil {
					t.Errorf("a refused key file was removed: %v", err)
				}
				return
			}
			st.Close()
			warned := strings.Contains(logged.String(), "level=WARN") && strings.Contains(logged.String(), fix)
			if warned != tc.warn {
				t.Errorf("open logged %q; want a warning saying %q: %v", logged.String(), fix, tc.warn)
			}
			s, err := encrypt.ReadStatus(e.keyFile, e.dbPath)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(s.Warnings) == 1 && strings.Contains(s.Warnings[0], fix); got != tc.warn {
				t.Errorf("status warnings %q; want one saying %q: %v", s.Warnings, fix, tc.warn)
			}
		})
	}
}

// TestKeyFileMissingStillNotExist: the mode check keeps Load's contract
// for a missing file, on which LoadOrCreate depends.
func TestKeyFileMissingStillNotExist(t *testing.T) {
	_, err := encrypt.Load(filepath.Join(t.TempDir(), encrypt.KeyFile))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("load a missing key file: %v", err)
	}
}

// TestResourcesCannotBeChanged: what a caller does with the list does not
// change which resources are sealed.
func TestResourcesCannotBeChanged(t *testing.T) {
	r := encrypt.Resources()
	r[0] = "configmaps"
	if got := encrypt.Resources(); len(got) != 1 || got[0] != "secrets" {
		t.Errorf("Resources() = %q after a caller changed its copy, want [secrets]", got)
	}
}
