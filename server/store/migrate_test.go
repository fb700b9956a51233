package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestMigrationsOrdered(t *testing.T) {
	for i, m := range migrations {
		if m.version != uint64(i+1) {
			t.Errorf("migration %d (%s) has version %d, want %d", i, m.name, m.version, i+1)
		}
		if m.name == "" || m.apply == nil {
			t.Errorf("migration %d has no name or function", m.version)
		}
	}
}

func openRaw(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func version(t *testing.T, db *bolt.DB) uint64 {
	var v uint64
	db.View(func(tx *bolt.Tx) error { v = schemaVersion(tx); return nil })
	return v
}

func TestMigrateStepByStep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var ran []string
	step := func(name string) migration {
		return migration{name: name, apply: func(tx *bolt.Tx) error {
			ran = append(ran, name)
			_, err := tx.CreateBucketIfNotExists([]byte(name))
			return err
		}}
	}
	v1 := []migration{migrations[0]}
	v2 := append(v1, step("two"))
	v3 := append(v2, step("three"))
	for i := range v3 {
		v3[i].version = uint64(i + 1)
	}

	db := openRaw(t, path)
	if err := migrate(db, v3[:1]); err != nil {
		t.Fatal(err)
	}
	if got := version(t, db); got != 1 {
		t.Errorf("after v1: version %d", got)
	}
	if err := migrate(db, v3); err != nil {
		t.Fatal(err)
	}
	if got := version(t, db); got != 3 || strings.Join(ran, ",") != "two,three" {
		t.Errorf("after v3: version %d, ran %v; want 3 and two,three", got, ran)
	}
	db.Close()

	// Up to date: nothing runs and nothing is written.
	before, _ := os.Stat(path)
	time.Sleep(20 * time.Millisecond)
	db = openRaw(t, path)
	ran = nil
	if err := migrate(db, v3); err != nil || len(ran) != 0 {
		t.Errorf("re-migrate: ran %v err %v; want nothing", ran, err)
	}
	// A database newer than the binary is refused, not damaged.
	err := migrate(db, v3[:2])
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("older binary on newer database: err %v, want a 'newer' error", err)
	}
	db.Close()
	after, _ := os.Stat(path)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("state.db written with nothing to migrate")
	}
}

func TestMigrationFailureLeavesWholeVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	bad := append([]migration{migrations[0]}, migration{version: 2, name: "fails", apply: func(tx *bolt.Tx) error {
		tx.CreateBucketIfNotExists([]byte("half"))
		return os.ErrInvalid
	}})
	db := openRaw(t, path)
	defer db.Close()
	if err := migrate(db, bad); err == nil || !strings.Contains(err.Error(), "version 2 (fails)") {
		t.Errorf("failing migration err = %v, want one naming version 2 (fails)", err)
	}
	db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("half")) != nil {
			t.Error("failed migration left its half-done change")
		}
		return nil
	})
	if got := version(t, db); got != 1 {
		t.Errorf("version after failed migration %d, want 1", got)
	}
}
