package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/skiffhq/skiff/server/api"
)

// rot is a Transformer for tests: it stores "rot<gen>:" + the JSON with
// every byte shifted by one, and checks the aad is the object's key.
// Values of an older generation are stale; "bad:" values are unreadable.
type rot struct{ gen byte }

var errBadValue = errors.New("bad value")

func (r rot) TransformToStorage(plain, aad []byte) ([]byte, error) {
	out := append([]byte{'r', 'o', 't', r.gen, ':'}, aad...)
	out = append(out, '|')
	for _, c := range plain {
		out = append(out, c+1)
	}
	return out, nil
}

func (r rot) TransformFromStorage(stored, aad []byte) ([]byte, bool, error) {
	if len(stored) > 0 && stored[0] == '{' {
		return append([]byte(nil), stored...), true, nil
	}
	stale, err := r.Stale(stored)
	if err != nil {
		return nil, false, err
	}
	head := append([]byte{'r', 'o', 't', stored[3], ':'}, aad...)
	head = append(head, '|')
	if !bytes.HasPrefix(stored, head) {
		return nil, false, fmt.Errorf("aad mismatch: %w", errBadValue)
	}
	var out []byte
	for _, c := range stored[len(head):] {
		out = append(out, c-1)
	}
	return out, stale, nil
}

func (r rot) Stale(stored []byte) (bool, error) {
	switch {
	case len(stored) > 0 && stored[0] == '{':
		return true, nil
	case len(stored) > 4 && string(stored[:3]) == "rot" && stored[3] <= r.gen:
		return stored[3] != r.gen, nil
	}
	return false, errBadValue
}

func configMap(name, value string) *api.ConfigMap {
	return &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Data: map[string]string{"v": value}}
}

func TestStoreTransformerAppliesToItsResourceOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(Config{Path: path, Transformers: map[string]Transformer{"secrets": rot{'1'}}})
	if err != nil {
		t.Fatal(err)
	}
	sec := &api.Secret{ObjectMeta: api.ObjectMeta{Name: "x", Namespace: "default"}, StringData: map[string]string{"k": "secret-plain"}}
	if _, err := s.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, configMap("c", "config-plain")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, api.Key{Resource: "secrets", Namespace: "default", Name: "x"})
	if err != nil || got.(*api.Secret).StringData["k"] != "secret-plain" {
		t.Fatalf("get: %v, %v", got, err)
	}
	raw, err := s.GetRaw(ctx, api.Key{Resource: "secrets", Namespace: "default", Name: "x"})
	if err != nil || !bytes.HasPrefix(raw, []byte("{")) {
		t.Errorf("GetRaw: %q, %v; want the JSON", raw, err)
	}
	rev := s.Revision()
	if _, err := s.Update(ctx, got, UpdateOptions{}); err != nil || s.Revision() != rev {
		t.Errorf("an update with no change: %v, revision %d → %d", err, rev, s.Revision())
	}
	s.Close()
	file, _ := os.ReadFile(path)
	if bytes.Contains(file, []byte("secret-plain")) {
		t.Error("the secret's value is on disk untransformed")
	}
	if !bytes.Contains(file, []byte("config-plain")) {
		t.Error("the ConfigMap was transformed")
	}
}

func TestStoreOpenRewritesStaleValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := newStore(t, Config{Path: path})
	const n = rewriteBatch*2 + 3 // three transactions
	for i := 0; i < n; i++ {
		if _, err := s.Create(ctx, configMap(fmt.Sprintf("c%04d", i), fmt.Sprintf("value-%04d", i))); err != nil {
			t.Fatal(err)
		}
	}
	rev := s.Revision()
	s.Close()

	for _, gen := range []byte{'1', '2'} {
		s, err := Open(Config{Path: path, Transformers: map[string]Transformer{"configmaps": rot{gen}}})
		if err != nil {
			t.Fatal(err)
		}
		if s.Revision() != rev {
			t.Errorf("gen %c: revision %d, want %d: a rewrite is no change", gen, s.Revision(), rev)
		}
		res, err := s.List(ctx, "configmaps", ListOptions{})
		if err != nil || len(res.Items) != n {
			t.Fatalf("gen %c: list: %v, %d items", gen, err, len(res.Items))
		}
		for i, o := range res.Items {
			if got, want := o.(*api.ConfigMap).Data["v"], fmt.Sprintf("value-%04d", i); got != want {
				t.Errorf("gen %c: item %d: %q, want %q", gen, i, got, want)
			}
		}
		s.Close()
		file, _ := os.ReadFile(path)
		if c := bytes.Count(file, []byte{'r', 'o', 't', gen, ':'}); c != n {
			t.Errorf("gen %c: %d values in the current form, want %d", gen, c, n)
		}
		if bytes.Contains(file, []byte("value-0000")) {
			t.Errorf("gen %c: an untransformed value is still in the file (free pages not compacted)", gen)
		}
	}

	// A value no transformer reads fails the open, naming it, and
	// nothing is written.
	s = newStore(t, Config{Path: path, Transformers: map[string]Transformer{"configmaps": rot{'2'}}})
	s.Close()
	before, _ := os.ReadFile(path)
	_, err := Open(Config{Path: path, Transformers: map[string]Transformer{"configmaps": rot{'1'}}})
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Resource != "configmaps" || ve.Key != "default/c0000" || !errors.Is(err, errBadValue) {
		t.Errorf("open with a transformer that cannot read: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a failed open changed the file")
	}
}

// identity is a Transformer that returns what is stored as it is — the
// input slice itself, which Transformer forbids — to check that GetRaw
// does not hand out bbolt's mmap anyway.
type identity struct{}

func (identity) TransformToStorage(plain, aad []byte) ([]byte, error) { return plain, nil }
func (identity) TransformFromStorage(stored, aad []byte) ([]byte, bool, error) {
	return stored, false, nil
}
func (identity) Stale([]byte) (bool, error) { return false, nil }

func TestGetRawCopiesAnAliasingTransformersResult(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := newStore(t, Config{Path: path, Transformers: map[string]Transformer{"configmaps": identity{}}})
	key := api.Key{Resource: "configmaps", Namespace: "default", Name: "c"}
	// Big enough that the bucket has pages of its own: bbolt copies a
	// small bucket kept inline in its parent out of the mmap.
	if _, err := s.Create(ctx, configMap("c", strings.Repeat("first-value ", 400))); err != nil {
		t.Fatal(err)
	}
	raw, err := s.GetRaw(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	mmap, p := s.db.Info().Data, uintptr(unsafe.Pointer(unsafe.SliceData(raw)))
	if p >= mmap && p < mmap+uintptr(fi.Size()) {
		t.Fatal("GetRaw returned memory in bbolt's mmap, valid only during the read transaction")
	}
	want := string(raw)
	// Overwrite the object until its old pages are reused: a slice of
	// the mmap would change under the caller.
	for i := range 20 {
		got, err := s.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got.(*api.ConfigMap).Data["v"] = strings.Repeat(fmt.Sprintf("other-value-%02d ", i), 300)
		if _, err := s.Update(ctx, got, UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if string(raw) != want {
		t.Errorf("the bytes GetRaw returned changed under the caller: %q, were %q", raw, want)
	}
}
