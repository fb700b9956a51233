package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/skiffhq/skiff/server/api"
)

// plaintextStore makes a store at a new path holding one Secret, stored
// untransformed, whose value is "plain-secret-value", and closes it.
func plaintextStore(t *testing.T) (path string, key api.Key) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "state.db")
	s := newStore(t, Config{Path: path})
	sec := &api.Secret{ObjectMeta: api.ObjectMeta{Name: "x", Namespace: "default"}, StringData: map[string]string{"k": "plain-secret-value"}}
	if _, err := s.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, api.Key{Resource: "secrets", Namespace: "default", Name: "x"}
}

// rewriteWithoutCompacting is an Open that dies after rewriteStale and
// before its compaction: the rewrites are committed, the file is not
// compacted.
func rewriteWithoutCompacting(t *testing.T, path string, ts transformers) {
	t.Helper()
	db, err := openDB(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := rewriteStale(db, ts); err != nil || n == 0 {
		t.Fatalf("rewriteStale: %d values, %v", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if file, _ := os.ReadFile(path); !bytes.Contains(file, []byte("plain-secret-value")) {
		t.Fatal("test setup: the rewritten plaintext is not in the file's free pages; the test proves nothing")
	}
}

// fileHolds reports whether the raw bytes of the file at path hold s.
func fileHolds(t *testing.T, path, s string) bool {
	t.Helper()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(file, []byte(s))
}

// markerSet reads meta/compactPending of the closed database at path.
func markerSet(t *testing.T, path string) bool {
	t.Helper()
	db, err := openDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pending, err := compactPending(db)
	if err != nil {
		t.Fatal(err)
	}
	return pending
}

func TestStoreOpenCompactsAfterInterruptedRewrite(t *testing.T) {
	path, key := plaintextStore(t)
	ts := transformers{"secrets": rot{'1'}}
	rewriteWithoutCompacting(t, path, ts)
	if !markerSet(t, path) {
		t.Error("after the rewrites, meta/compactPending is not set")
	}

	// The next open finds nothing stale, and still compacts.
	s := newStore(t, Config{Path: path, Transformers: ts})
	got, err := s.Get(ctx, key)
	if err != nil || got.(*api.Secret).StringData["k"] != "plain-secret-value" {
		t.Fatalf("get after the compacting open: %v, %v", got, err)
	}
	s.Close()
	if fileHolds(t, path, "plain-secret-value") {
		t.Error("the plaintext of a rewritten value is still in the file after the next open")
	}
	if markerSet(t, path) {
		t.Error("meta/compactPending is still set after the compaction")
	}

	// Compacted once, an open writes nothing.
	before, _ := os.ReadFile(path)
	s = newStore(t, Config{Path: path, Transformers: ts})
	s.Close()
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("an open with nothing to rewrite or compact changed the file")
	}
}

// TestStoreOpenCompactsWithoutTransformers: the marker is the file's, not
// the configuration's.
func TestStoreOpenCompactsWithoutTransformers(t *testing.T) {
	path, _ := plaintextStore(t)
	rewriteWithoutCompacting(t, path, transformers{"secrets": rot{'1'}})
	s := newStore(t, Config{Path: path})
	s.Close()
	if fileHolds(t, path, "plain-secret-value") {
		t.Error("an open without transformers left a pending compaction undone")
	}
}

// TestStoreOpenFailedCompactionIsRetried: a compaction that fails fails
// the open, says what to do, and leaves the marker (and the old file) so
// that the next open compacts.
func TestStoreOpenFailedCompactionIsRetried(t *testing.T) {
	path, key := plaintextStore(t)
	ts := transformers{"secrets": rot{'1'}}
	// Something in the way of the compacted copy.
	if err := os.MkdirAll(filepath.Join(path+".compact", "in-the-way"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{Path: path, Transformers: ts})
	if err == nil {
		t.Fatal("open with the compacted copy's path taken by a directory succeeded")
	}
	for _, want := range []string{"compact " + path, "start again", "MB free in " + filepath.Dir(path)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !markerSet(t, path) {
		t.Error("a failed compaction cleared meta/compactPending")
	}

	os.RemoveAll(path + ".compact")
	s := newStore(t, Config{Path: path, Transformers: ts})
	if got, err := s.Get(ctx, key); err != nil || got.(*api.Secret).StringData["k"] != "plain-secret-value" {
		t.Fatalf("get after the retried compaction: %v, %v", got, err)
	}
	s.Close()
	if fileHolds(t, path, "plain-secret-value") {
		t.Error("the plaintext is still in the file after the retried compaction")
	}
	if markerSet(t, path) {
		t.Error("meta/compactPending is still set after the retried compaction")
	}
}

// TestCompactNoSpace: a compaction that runs out of space says how much it
// needs and where, removes its partial copy and keeps the marker.
func TestCompactNoSpace(t *testing.T) {
	path, _ := plaintextStore(t)
	rewriteWithoutCompacting(t, path, transformers{"secrets": rot{'1'}})
	db, err := openDB(path)
	if err != nil {
		t.Fatal(err)
	}
	noSpace := func(dst, src *bolt.DB, txMaxSize int64) error {
		return fmt.Errorf("write %s: %w", dst.Path(), syscall.ENOSPC)
	}
	err = compactWith(db, path, noSpace)
	want := fmt.Sprintf("compacting needs about 1 MB free in %s; free space and start again", filepath.Dir(path))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("compaction with no space: error %v, want it to say %q", err, want)
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Errorf("the partial copy is left behind: %v", err)
	}
	if !markerSet(t, path) {
		t.Error("a failed compaction cleared meta/compactPending")
	}
}

func TestCompactErrorSize(t *testing.T) {
	for _, tc := range []struct {
		size int64
		want string
	}{
		{0, "about 0 MB"},
		{1, "about 1 MB"},
		{1 << 20, "about 1 MB"},
		{1<<20 + 1, "about 2 MB"},
		{300 << 20, "about 300 MB"},
	} {
		if got := compactError("/d/state.db", tc.size, syscall.ENOSPC).Error(); !strings.Contains(got, tc.want+" free in /d;") {
			t.Errorf("size %d: %q, want %q", tc.size, got, tc.want)
		}
	}
}
