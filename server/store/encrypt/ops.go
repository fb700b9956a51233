package encrypt

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/skiffhq/skiff/server/store"
)

// Open opens the store of cfg with the key ring at keyFile, creating the
// ring (one new key) when there is none. Opening re-encrypts every Secret
// not sealed with the active key and compacts the file (see store.Open),
// and fails, writing nothing, when a Secret is sealed with a key the ring
// lacks. A key file made by this call is removed again in that case: it
// could never open those Secrets, and the one that can must be restored
// in its place.
func Open(keyFile string, cfg store.Config) (*store.Bolt, *KeyRing, error) {
	ring, created, err := LoadOrCreate(keyFile)
	if err != nil {
		return nil, nil, err
	}
	if ring.warning != "" && cfg.Log != nil {
		cfg.Log.Warn(ring.warning, "path", keyFile)
	}
	cfg.Transformers = ring.Transformers()
	st, err := store.Open(cfg)
	var unknown *UnknownKeyError
	if errors.As(err, &unknown) {
		lacks := "lacks"
		if created {
			// Checked before anything is written: nothing was sealed
			// with the new key.
			os.Remove(keyFile)
			lacks = "lacks (it did not exist; the new one made in its place was removed)"
		}
		which := ""
		var ve *store.ValueError
		if errors.As(err, &ve) {
			which = fmt.Sprintf(" (%s %q is one)", ve.Resource, ve.Key)
		}
		return nil, nil, &openError{err: err, msg: fmt.Sprintf("%s holds secrets encrypted with key %q%s, which %s %s: restore the key file from a backup of the data directory",
			cfg.Path, unknown.Key, which, keyFile, lacks)}
	}
	if err != nil {
		return nil, nil, err
	}
	return st, ring, nil
}

// openError says what to do about a store that does not open with the
// ring, and keeps the store's error to unwrap.
type openError struct {
	msg string
	err error
}

func (e *openError) Error() string { return e.msg }
func (e *openError) Unwrap() error { return e.err }

// Reencrypt seals every Secret in the store at dbPath with the ring's
// active key, compacts the file when anything was rewritten, and then
// drops from the key file every key that no longer seals any Secret. The
// store must not be open elsewhere (a running server holds it). It is
// also how an interrupted Rotate is finished.
//
// Keys are dropped only after the store's Open has rewritten and
// compacted: when the compaction fails (no space for the copy), Reencrypt
// fails with the store's error and the key file keeps every key, and the
// store stays marked for compaction, which its next Open (Reencrypt again,
// or a server start) does first. Dropping a key earlier would lose no
// Secret — every live value is sealed with the active key by then — but
// the point of the ordering is that the command reports success only once
// the file holds neither plaintext nor old-key ciphertext in free pages.
func Reencrypt(keyFile, dbPath string) (*Status, error) {
	if _, err := readable(keyFile, dbPath); err != nil {
		return nil, err
	}
	ring, err := Load(keyFile)
	if err != nil {
		return nil, err
	}
	st, _, err := Open(keyFile, store.Config{Path: dbPath})
	if err != nil {
		return nil, err
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	s, err := ReadStatus(keyFile, dbPath)
	if err != nil {
		return nil, err
	}
	// Keep the keys that still seal something: only a value the store
	// could not rewrite would, and it must stay readable.
	var keep []*key
	for _, k := range ring.keys {
		if k == ring.keys[0] || s.Sealed[k.name] > 0 {
			keep = append(keep, k)
		}
	}
	if len(keep) != len(ring.keys) {
		ring.keys = keep
		if err := ring.save(); err != nil {
			return nil, err
		}
		if s, err = ReadStatus(keyFile, dbPath); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Rotate adds a new key first in the key file, re-encrypts every Secret
// with it and drops the old keys (Reencrypt). Killed midway it loses
// nothing: the old keys stay in the file until every Secret is sealed
// with the new one, and each batch of rewrites is one transaction; run it
// again, or Reencrypt, to finish. It returns the new key's name.
func Rotate(keyFile, dbPath string, now time.Time) (string, *Status, error) {
	// First, while nothing has changed: the store is not held by a
	// server, and every Secret opens (one that does not would stop the
	// rewrite halfway).
	if _, err := readable(keyFile, dbPath); err != nil {
		return "", nil, err
	}
	ring, err := Load(keyFile)
	if err != nil {
		return "", nil, err
	}
	k, err := generateKey(ring.keys, now)
	if err != nil {
		return "", nil, err
	}
	ring.keys = append([]*key{k}, ring.keys...)
	if err := ring.save(); err != nil {
		return "", nil, err
	}
	s, err := Reencrypt(keyFile, dbPath)
	return k.name, s, err
}

// readable is ReadStatus, failing when a Secret does not open or is
// sealed with a key the ring lacks.
func readable(keyFile, dbPath string) (*Status, error) {
	s, err := ReadStatus(keyFile, dbPath)
	if err != nil {
		return nil, err
	}
	if len(s.Unreadable) > 0 {
		return nil, fmt.Errorf("%d secret(s) in %s do not decrypt; nothing was changed: %s",
			len(s.Unreadable), dbPath, strings.Join(s.Unreadable, "; "))
	}
	return s, nil
}

// Status is what is sealed with what.
type Status struct {
	KeyFile string
	Keys    []KeyStatus // the ring's keys, the active one first
	// Sealed counts Secrets by the key that sealed them, including keys
	// the ring lacks.
	Sealed map[string]int
	// Plaintext counts Secrets stored unencrypted (from before
	// encryption; the next open of the store seals them).
	Plaintext int
	// Warnings say what is wrong with the key file short of refusing
	// it: it is readable by its group.
	Warnings []string
	// Unreadable names each Secret that does not open, with why.
	Unreadable []string
}

// KeyStatus is one key of the ring.
type KeyStatus struct {
	Name    string
	Created time.Time
	Active  bool
	Secrets int
}

// ReadStatus reads the key file and opens every stored Secret, read-only:
// it fails while a server holds the store.
func ReadStatus(keyFile, dbPath string) (*Status, error) {
	ring, err := Load(keyFile)
	if err != nil {
		return nil, err
	}
	s := &Status{KeyFile: keyFile, Sealed: map[string]int{}}
	if ring.warning != "" {
		s.Warnings = append(s.Warnings, ring.warning)
	}
	for _, res := range Resources() {
		err := store.ReadStored(dbPath, res, func(objKey string, stored []byte) error {
			name, sealed, err := KeyOf(stored)
			switch {
			case err != nil:
			case !sealed:
				s.Plaintext++
			default:
				s.Sealed[name]++
				_, _, err = ring.TransformFromStorage(stored, []byte(res+"/"+objKey))
			}
			if err != nil {
				s.Unreadable = append(s.Unreadable, fmt.Sprintf("%s %q: %v", res, objKey, err))
			}
			return nil
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	for i, k := range ring.keys {
		s.Keys = append(s.Keys, KeyStatus{Name: k.name, Created: k.created, Active: i == 0, Secrets: s.Sealed[k.name]})
	}
	slices.Sort(s.Unreadable)
	return s, nil
}
