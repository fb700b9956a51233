package encrypt_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
	"github.com/skiffhq/skiff/server/store/encrypt"
)

var ctx = context.Background()

// The secret value, a key name and an annotation the tests look for in
// the raw file: none may appear in it.
const (
	secretValue   = "hunter2-correct-horse-battery"
	secretDataKey = "db-password-field"
	stringValue   = "string-data-value-sk1ff"
)

// env is a data directory: the key file and state.db, as the server lays
// them out.
type env struct {
	t               *testing.T
	keyFile, dbPath string
}

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	return &env{t: t, keyFile: filepath.Join(dir, "pki", encrypt.KeyFile), dbPath: filepath.Join(dir, "state.db")}
}

// open opens the store with the key ring, as the server does, and a
// registry on it; both close at the end of the test (or by the
// returned func).
func (e *env) open() (*store.Bolt, *registry.Registry, func()) {
	e.t.Helper()
	st, _, err := encrypt.Open(e.keyFile, store.Config{Path: e.dbPath})
	if err != nil {
		e.t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := reg.EnsureNamespaces(ctx); err != nil {
		e.t.Fatal(err)
	}
	closed := false
	closeFn := func() {
		if !closed {
			closed = true
			if err := st.Close(); err != nil {
				e.t.Error(err)
			}
		}
	}
	e.t.Cleanup(closeFn)
	return st, reg, closeFn
}

func (e *env) raw() []byte {
	e.t.Helper()
	data, err := os.ReadFile(e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	return data
}

func newSecret(name string) *api.Secret {
	return &api.Secret{
		ObjectMeta: api.ObjectMeta{Name: name, Annotations: map[string]string{"note": "annotation-" + name}},
		Data:       map[string][]byte{secretDataKey: []byte(secretValue + "-" + name)},
		StringData: map[string]string{"s": stringValue},
	}
}

// assertHidden fails if the file holds any of the secret's values, in
// plain or in base64 (the JSON form of data).
func assertHidden(t *testing.T, raw []byte, names ...string) {
	t.Helper()
	for _, name := range names {
		v := secretValue + "-" + name
		for what, needle := range map[string]string{
			"value": v, "base64 value": base64.StdEncoding.EncodeToString([]byte(v)),
			"data key": secretDataKey, "stringData value": stringValue,
			"base64 stringData value": base64.StdEncoding.EncodeToString([]byte(stringValue)),
			"annotation":              "annotation-" + name,
		} {
			if bytes.Contains(raw, []byte(needle)) {
				t.Errorf("state.db holds secret %s's %s %q in plain text", name, what, needle)
			}
		}
	}
}

func wantPlain(t *testing.T, obj api.Object, name string) {
	t.Helper()
	s, ok := obj.(*api.Secret)
	if !ok {
		t.Fatalf("got a %T, want a Secret", obj)
	}
	if got, want := string(s.Data[secretDataKey]), secretValue+"-"+name; got != want {
		t.Errorf("secret %s: data[%s] = %q, want %q", name, secretDataKey, got, want)
	}
	if got := string(s.Data["s"]); got != stringValue {
		t.Errorf("secret %s: data[s] = %q, want %q", name, got, stringValue)
	}
}

func TestSecretNotInPlainTextOnDisk(t *testing.T) {
	e := newEnv(t)
	_, reg, closeStore := e.open()
	if _, err := reg.Create(ctx, "secrets", "default", newSecret("db")); err != nil {
		t.Fatal(err)
	}
	// An update writes a new value: the old one, in a free page, was
	// sealed too.
	got, err := reg.Get(ctx, "secrets", "default", "db")
	if err != nil {
		t.Fatal(err)
	}
	got.(*api.Secret).Data["extra"] = []byte(secretValue + "-db")
	if _, err := reg.Update(ctx, "secrets", "default", got, ""); err != nil {
		t.Fatal(err)
	}
	closeStore()
	raw := e.raw()
	assertHidden(t, raw, "db")
	ring, err := encrypt.Load(e.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := "skiff:enc:aesgcm:v1:" + ring.Active() + ":"; !bytes.Contains(raw, []byte(want)) {
		t.Errorf("state.db has no value sealed with %q", want)
	}
	if fi, err := os.Stat(e.keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
}

func TestEncryptLeavesConfigMapsPlaintext(t *testing.T) {
	e := newEnv(t)
	_, reg, closeStore := e.open()
	cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "settings"}, Data: map[string]string{"color": "plain-config-value"}}
	if _, err := reg.Create(ctx, "configmaps", "default", cm); err != nil {
		t.Fatal(err)
	}
	closeStore()
	if !bytes.Contains(e.raw(), []byte("plain-config-value")) {
		t.Error("a ConfigMap's value is not stored as plain JSON")
	}
}

func TestSecretReadsListsWatchesArePlaintext(t *testing.T) {
	e := newEnv(t)
	_, reg, _ := e.open()
	w, err := reg.Watch(ctx, "secrets", "default", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := reg.Create(ctx, "secrets", "default", newSecret("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Create(ctx, "secrets", "default", newSecret("b")); err != nil {
		t.Fatal(err)
	}
	got, err := reg.Get(ctx, "secrets", "default", "a")
	if err != nil {
		t.Fatal(err)
	}
	wantPlain(t, got, "a")
	raw, ok, err := reg.GetRaw(ctx, "secrets", "default", "b")
	if !ok || err != nil {
		t.Fatalf("GetRaw: ok %v, %v", ok, err)
	}
	var fromRaw api.Secret
	if err := json.Unmarshal(raw, &fromRaw); err != nil {
		t.Fatalf("GetRaw gave %q: %v", raw, err)
	}
	wantPlain(t, &fromRaw, "b")
	list, err := reg.List(ctx, "secrets", "", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Fatalf("list: %d items, want 2", len(list.Items))
	}
	for i, name := range []string{"a", "b"} {
		wantPlain(t, list.Items[i], name)
	}
	page, err := reg.List(ctx, "secrets", "default", api.ListOptions{Limit: 1})
	if err != nil || len(page.Items) != 1 || page.Continue == "" {
		t.Fatalf("paged list: %v, %+v", err, page)
	}
	// An update that changes nothing writes nothing, although each seal
	// of the same object differs (the nonce).
	before, _ := reg.Get(ctx, "secrets", "default", "a")
	after, err := reg.Update(ctx, "secrets", "default", before, "")
	if err != nil {
		t.Fatal(err)
	}
	if after.GetObjectMeta().ResourceVersion != before.GetObjectMeta().ResourceVersion {
		t.Errorf("an update with no change took revision %s (was %s)", after.GetObjectMeta().ResourceVersion, before.GetObjectMeta().ResourceVersion)
	}
	for _, name := range []string{"a", "b"} {
		select {
		case ev := <-w.ResultChan():
			if ev.Type != api.Added || ev.Object.GetObjectMeta().Name != name {
				t.Fatalf("watch: %s %s, want ADDED %s", ev.Type, ev.Object.GetObjectMeta().Name, name)
			}
			wantPlain(t, ev.Object, name)
		case <-time.After(5 * time.Second):
			t.Fatal("watch: no event")
		}
	}
}

func TestEncryptRestartWithAndWithoutKeyFile(t *testing.T) {
	e := newEnv(t)
	_, reg, closeStore := e.open()
	if _, err := reg.Create(ctx, "secrets", "default", newSecret("db")); err != nil {
		t.Fatal(err)
	}
	closeStore()
	ring, _ := encrypt.Load(e.keyFile)

	_, reg, closeStore = e.open()
	got, err := reg.Get(ctx, "secrets", "default", "db")
	if err != nil {
		t.Fatal(err)
	}
	wantPlain(t, got, "db")
	closeStore()

	keep, _ := os.ReadFile(e.keyFile)
	os.Remove(e.keyFile)
	_, _, err = encrypt.Open(e.keyFile, store.Config{Path: e.dbPath})
	if err == nil {
		t.Fatal("a store with encrypted secrets opened without its key file")
	}
	for _, want := range []string{"state.db holds secrets encrypted with key " + fmt.Sprintf("%q", ring.Active()), e.keyFile, "restore the key file", `secrets "default/db"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	var unknown *encrypt.UnknownKeyError
	if !errors.As(err, &unknown) || unknown.Key != ring.Active() {
		t.Errorf("error %v is not an UnknownKeyError for %s", err, ring.Active())
	}
	if _, err := os.Stat(e.keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed open left a new key file behind: %v", err)
	}

	// A key file with other keys only: same answer, and the file stays.
	other := newEnv(t)
	_, _, c := other.open()
	c()
	otherKeys, _ := os.ReadFile(other.keyFile)
	os.WriteFile(e.keyFile, otherKeys, 0o600)
	if _, _, err := encrypt.Open(e.keyFile, store.Config{Path: e.dbPath}); err == nil || !strings.Contains(err.Error(), "restore the key file") {
		t.Errorf("open with another ring: %v", err)
	}

	os.WriteFile(e.keyFile, keep, 0o600)
	_, reg, _ = e.open()
	if got, err = reg.Get(ctx, "secrets", "default", "db"); err != nil {
		t.Fatalf("after restoring the key file: %v", err)
	}
	wantPlain(t, got, "db")
}

func TestEncryptCorruptKeyFile(t *testing.T) {
	good := `{"kind":"SecretsEncryptionKeys","provider":"aesgcm","keys":[{"name":"k1","secret":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `"}]}`
	for _, tc := range []struct{ name, content, want string }{
		{"not JSON", "{garbage", "is corrupt"},
		{"empty", "", "is corrupt"},
		{"another kind", `{"kind":"Config","provider":"aesgcm","keys":[]}`, `kind is "Config"`},
		{"another provider", strings.Replace(good, "aesgcm", "secretbox", 1), `provider "secretbox" is not supported`},
		{"no keys", `{"kind":"SecretsEncryptionKeys","provider":"aesgcm","keys":[]}`, "lists no keys"},
		{"short secret", strings.Replace(good, base64.StdEncoding.EncodeToString(make([]byte, 32)), base64.StdEncoding.EncodeToString(make([]byte, 16)), 1), "must be 32 bytes"},
		{"bad name", strings.Replace(good, `"k1"`, `"k:1"`, 1), `name "k:1"`},
		{"twice", strings.Replace(good, `}]}`, `},{"name":"k1","secret":"`+base64.StdEncoding.EncodeToString(make([]byte, 32))+`"}]}`, 1), "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			os.MkdirAll(filepath.Dir(e.keyFile), 0o700)
			os.WriteFile(e.keyFile, []byte(tc.content), 0o600)
			_, _, err := encrypt.Open(e.keyFile, store.Config{Path: e.dbPath})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), e.keyFile) {
				t.Errorf("got %v, want an error naming %s and saying %q", err, e.keyFile, tc.want)
			}
			if data, _ := os.ReadFile(e.keyFile); string(data) != tc.content {
				t.Error("a corrupt key file was overwritten")
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		e := newEnv(t)
		os.MkdirAll(filepath.Dir(e.keyFile), 0o700)
		os.WriteFile(e.keyFile, []byte(good), 0o600)
		if _, err := encrypt.Load(e.keyFile); err != nil {
			t.Error(err)
		}
	})
}

// putRaw replaces the stored bytes of one object, as someone with the
// file could.
func putRaw(t *testing.T, path, resource, key string, change func(old []byte) []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("objects")).Bucket([]byte(resource))
		return b.Put([]byte(key), change(append([]byte(nil), b.Get([]byte(key))...)))
	}); err != nil {
		t.Fatal(err)
	}
}

func getRaw(t *testing.T, path, resource, key string) []byte {
	var out []byte
	putRaw(t, path, resource, key, func(old []byte) []byte { out = old; return old })
	return out
}

func TestEncryptTamperedCiphertext(t *testing.T) {
	e := newEnv(t)
	_, reg, closeStore := e.open()
	for _, name := range []string{"db", "other"} {
		if _, err := reg.Create(ctx, "secrets", "default", newSecret(name)); err != nil {
			t.Fatal(err)
		}
	}
	closeStore()
	putRaw(t, e.dbPath, "secrets", "default/db", func(old []byte) []byte {
		old[len(old)-20] ^= 0x01
		return old
	})
	// A ciphertext moved to another object's key does not open either.
	other := getRaw(t, e.dbPath, "secrets", "default/other")
	putRaw(t, e.dbPath, "secrets", "default/moved", func([]byte) []byte { return other })

	_, reg, _ = e.open() // opening checks keys, not every ciphertext
	for _, name := range []string{"db", "moved"} {
		_, err := reg.Get(ctx, "secrets", "default", name)
		if err == nil {
			t.Fatalf("a tampered secret %s read", name)
		}
		if !errors.Is(err, encrypt.ErrAuthentication) || !strings.Contains(err.Error(), `secrets "default/`+name+`"`) {
			t.Errorf("get %s: %q: want an authentication error naming secrets \"default/%s\"", name, err, name)
		}
	}
	if _, err := reg.List(ctx, "secrets", "", api.ListOptions{}); !errors.Is(err, encrypt.ErrAuthentication) {
		t.Errorf("list with a tampered secret: %v", err)
	}
	if got, err := reg.Get(ctx, "secrets", "default", "other"); err != nil {
		t.Errorf("the untouched secret: %v", err)
	} else {
		wantPlain(t, got, "other")
	}
}

func TestOldPlaintextSecretIsReadAndSealed(t *testing.T) {
	e := newEnv(t)
	// A store from before encryption.
	st, err := store.Open(store.Config{Path: e.dbPath})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := registry.New(registry.Config{Store: st})
	reg.EnsureNamespaces(ctx)
	if _, err := reg.Create(ctx, "secrets", "default", newSecret("old")); err != nil {
		t.Fatal(err)
	}
	// Updated once: the first version sits in a free page.
	o, err := reg.Get(ctx, "secrets", "default", "old")
	if err != nil {
		t.Fatal(err)
	}
	o.GetObjectMeta().Labels = map[string]string{"v": "2"}
	o, err = reg.Update(ctx, "secrets", "default", o, "")
	if err != nil {
		t.Fatal(err)
	}
	rv := o.GetObjectMeta().ResourceVersion
	st.Close()
	if !bytes.Contains(e.raw(), []byte(base64.StdEncoding.EncodeToString([]byte(secretValue+"-old")))) {
		t.Fatal("the test's old store does not hold the secret in plain text")
	}

	_, reg, closeStore := e.open()
	got, err := reg.Get(ctx, "secrets", "default", "old")
	if err != nil {
		t.Fatal(err)
	}
	wantPlain(t, got, "old")
	if got.GetObjectMeta().Labels["v"] != "2" {
		t.Errorf("labels %v, want v=2", got.GetObjectMeta().Labels)
	}
	if got.GetObjectMeta().ResourceVersion != rv {
		t.Errorf("resourceVersion %s, want %s: re-encryption keeps the object as it was", got.GetObjectMeta().ResourceVersion, rv)
	}
	closeStore()
	// Sealed at the open, and the file compacted: no copy anywhere,
	// free pages included.
	assertHidden(t, e.raw(), "old")
	s, err := encrypt.ReadStatus(e.keyFile, e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if s.Plaintext != 0 || s.Keys[0].Secrets != 1 {
		t.Errorf("status: %d plaintext, %d sealed with the active key; want 0 and 1", s.Plaintext, s.Keys[0].Secrets)
	}
}

// TestEncryptPlaintextValueReads is the read path for a plaintext value the open
// has not rewritten (written by an older skiff while it ran): the ring
// passes JSON through and calls it stale.
func TestEncryptPlaintextValueReads(t *testing.T) {
	e := newEnv(t)
	ring, _, err := encrypt.LoadOrCreate(e.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(`{"kind":"Secret"}`)
	got, stale, err := ring.TransformFromStorage(plain, []byte("secrets/default/x"))
	if err != nil || !stale || string(got) != string(plain) {
		t.Errorf("plaintext: %q, stale %v, %v", got, stale, err)
	}
	sealed, _ := ring.TransformToStorage(plain, []byte("secrets/default/x"))
	again, _ := ring.TransformToStorage(plain, []byte("secrets/default/x"))
	if bytes.Equal(sealed, again) {
		t.Error("two seals of one value are equal: the nonce is not fresh")
	}
	got, stale, err = ring.TransformFromStorage(sealed, []byte("secrets/default/x"))
	if err != nil || stale || string(got) != string(plain) {
		t.Errorf("sealed: %q, stale %v, %v", got, stale, err)
	}
	for _, bad := range []string{"", "garbage", "skiff:enc:secretbox:v1:k:xx", "skiff:enc:aesgcm:v1:k", "skiff:enc:aesgcm:v1:" + ring.Active() + ":short"} {
		if _, _, err := ring.TransformFromStorage([]byte(bad), []byte("secrets/default/x")); err == nil {
			t.Errorf("%q opened", bad)
		}
	}
}

func TestEncryptRotate(t *testing.T) {
	e := newEnv(t)
	_, reg, closeStore := e.open()
	const n = 300 // more than one batch of rewrites
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("s%03d", i)
		if _, err := reg.Create(ctx, "secrets", "default", newSecret(names[i])); err != nil {
			t.Fatal(err)
		}
	}
	cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "settings"}, Data: map[string]string{"color": "plain-config-value"}}
	if _, err := reg.Create(ctx, "configmaps", "default", cm); err != nil {
		t.Fatal(err)
	}
	closeStore()
	old, _ := encrypt.Load(e.keyFile)

	now := time.Now().Add(time.Hour) // a name unlike the first key's
	name, s, err := encrypt.Rotate(e.keyFile, e.dbPath, now)
	if err != nil {
		t.Fatal(err)
	}
	if name == old.Active() {
		t.Fatalf("rotate kept key %s", name)
	}
	if len(s.Keys) != 1 || s.Keys[0].Name != name || !s.Keys[0].Active || s.Keys[0].Secrets != n || len(s.Unreadable) != 0 || s.Plaintext != 0 {
		t.Errorf("status after rotate: %+v; want only %s, active, sealing %d", s, name, n)
	}
	ring, _ := encrypt.Load(e.keyFile)
	if got := ring.Names(); len(got) != 1 || got[0] != name {
		t.Errorf("key file after rotate: %v, want [%s]", got, name)
	}
	raw := e.raw()
	if c := bytes.Count(raw, []byte("skiff:enc:aesgcm:v1:"+name+":")); c != n {
		t.Errorf("state.db has %d values sealed with the new key, want %d", c, n)
	}
	if bytes.Contains(raw, []byte("skiff:enc:aesgcm:v1:"+old.Active()+":")) {
		t.Error("state.db still holds values sealed with the old key (compaction should drop free pages)")
	}
	if !bytes.Contains(raw, []byte("plain-config-value")) {
		t.Error("rotation changed the ConfigMap")
	}
	assertHidden(t, raw, names...)

	_, reg, _ = e.open()
	list, err := reg.List(ctx, "secrets", "default", api.ListOptions{})
	if err != nil || len(list.Items) != n {
		t.Fatalf("list after rotate: %v, %d items", err, len(list.Items))
	}
	for i, o := range list.Items {
		wantPlain(t, o, names[i])
	}
}

// TestEncryptRotateKilledMidway: a rotation that stopped after the new key went
// in the file, with some secrets rewritten and some not, loses nothing:
// every secret reads, and Reencrypt finishes the job.
func TestEncryptRotateKilledMidway(t *testing.T) {
	e := newEnv(t)
	_, reg, closeStore := e.open()
	for _, name := range []string{"a", "b"} {
		if _, err := reg.Create(ctx, "secrets", "default", newSecret(name)); err != nil {
			t.Fatal(err)
		}
	}
	closeStore()
	first, _ := encrypt.Load(e.keyFile)
	before, _ := os.ReadFile(e.keyFile)
	sealedA := getRaw(t, e.dbPath, "secrets", "default/a")
	newKey, _, err := encrypt.Rotate(e.keyFile, e.dbPath, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(e.keyFile)
	// Put back the state midway: both keys in the ring, a still under
	// the old one.
	var oldF, newF struct {
		Kind     string            `json:"kind"`
		Provider string            `json:"provider"`
		Keys     []json.RawMessage `json:"keys"`
	}
	json.Unmarshal(before, &oldF)
	json.Unmarshal(after, &newF)
	newF.Keys = append(newF.Keys, oldF.Keys...)
	midway, _ := json.Marshal(newF)
	os.WriteFile(e.keyFile, midway, 0o600)
	putRaw(t, e.dbPath, "secrets", "default/a", func([]byte) []byte { return sealedA })

	s, err := encrypt.ReadStatus(e.keyFile, e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if s.Sealed[first.Active()] != 1 || s.Sealed[newKey] != 1 || len(s.Keys) != 2 {
		t.Fatalf("midway status: %+v", s)
	}
	s, err = encrypt.Reencrypt(e.keyFile, e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Keys) != 1 || s.Keys[0].Name != newKey || s.Keys[0].Secrets != 2 {
		t.Errorf("after reencrypt: %+v", s.Keys)
	}
	_, reg, _ = e.open()
	for _, name := range []string{"a", "b"} {
		got, err := reg.Get(ctx, "secrets", "default", name)
		if err != nil {
			t.Fatal(err)
		}
		wantPlain(t, got, name)
	}
}

func TestEncryptRotateRefusedWhileServerRuns(t *testing.T) {
	e := newEnv(t)
	e.open()
	before, _ := os.ReadFile(e.keyFile)
	_, _, err := encrypt.Rotate(e.keyFile, e.dbPath, time.Now().Add(time.Hour))
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("rotate while the store is open: %v", err)
	}
	if after, _ := os.ReadFile(e.keyFile); !bytes.Equal(after, before) {
		t.Error("a refused rotate changed the key file")
	}
	if _, err := encrypt.ReadStatus(e.keyFile, e.dbPath); err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("status while the store is open: %v", err)
	}
}
