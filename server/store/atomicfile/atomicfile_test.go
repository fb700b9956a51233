package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for _, content := range []string{"first", "second"} {
		if err := WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "f"), nil, 0o600); err == nil {
		t.Error("a file in a missing directory was written")
	}
}

// TestWriteFileSyncsDirectoryAfterRename: the directory is synced once,
// after the new content is in place, and a failed sync is WriteFile's
// error (the caller must not go on as if the new content were durable).
func TestWriteFileSyncsDirectoryAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	var synced []string
	err := writeFile(path, []byte("new"), 0o600, func(d string) error {
		got, err := os.ReadFile(path)
		if err != nil || string(got) != "new" {
			t.Errorf("at the directory sync, %s holds %q, %v; want the new content", path, got, err)
		}
		synced = append(synced, d)
		return SyncDir(d)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 || synced[0] != dir {
		t.Errorf("synced %q, want [%q]", synced, dir)
	}

	errSync := errors.New("sync failed")
	if err := writeFile(path, []byte("newer"), 0o600, func(string) error { return errSync }); !errors.Is(err, errSync) {
		t.Errorf("a failed directory sync: err %v, want %v", err, errSync)
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Errorf("sync a directory: %v", err)
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sync a missing directory: %v, want not exist", err)
	}
}
