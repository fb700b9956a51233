package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/store/atomicfile"
)

// A Transformer turns the stored JSON of one resource's objects into what
// is kept on disk and back: server/store/encrypt's key ring seals Secrets
// with AES-GCM. aad is the object's store key ("secrets/<namespace>/<name>"),
// which an authenticated transformer binds the bytes to, so that a value
// copied under another key does not read.
//
// The transform sits here, in the store, and not in server/registry,
// because the store is the one place where bytes reach the disk: every
// path in — the registry's writes, the store's own finalizer and
// deletion rewrites, GetRaw's pass-through reads, lists, the transaction
// reads an update compares against — goes through put and plain below,
// so none can bypass it. Watches need nothing: the in-memory history
// keeps decoded objects, which is plaintext in memory, never on disk.
type Transformer interface {
	// TransformToStorage returns the bytes to store for plain.
	TransformToStorage(plain, aad []byte) ([]byte, error)
	// TransformFromStorage returns the plaintext of stored; stale says
	// it is not in the form TransformToStorage writes now (plaintext
	// from before the transformer, an older key) and should be
	// rewritten.
	//
	// stored is bbolt's memory-mapped page, valid only during the read
	// transaction; plain is kept after it (GetRaw hands it to the API
	// server), so plain must not share memory with stored: copy, even
	// when the value passes through unchanged. (GetRaw copies a result
	// that does anyway, so a transformer that gets this wrong costs a
	// copy, not a crash.)
	TransformFromStorage(stored, aad []byte) (plain []byte, stale bool, err error)
	// Stale is TransformFromStorage's stale without the work of
	// decrypting; an error says the value cannot be read at all (its
	// key is unknown), which Open reports before it writes anything.
	Stale(stored []byte) (bool, error)
}

// ValueError is a stored value of one object that its transformer cannot
// read (or write): a ciphertext that fails authentication, a key that is
// not in the key file. It names the object.
type ValueError struct {
	Resource string // "secrets"
	Key      string // the object's key in its bucket: "<namespace>/<name>" or "<name>"
	Err      error
}

func (e *ValueError) Error() string { return fmt.Sprintf("%s %q: %v", e.Resource, e.Key, e.Err) }
func (e *ValueError) Unwrap() error { return e.Err }

// transformers holds the Transformer of each resource that has one
// (Config.Transformers); a resource without one is stored as it is.
type transformers map[string]Transformer

// storeKey is the additional authenticated data of an object's value:
// "<resource>/<namespace>/<name>", or "<resource>/<name>".
func storeKey(resource string, key []byte) []byte {
	return append([]byte(resource+"/"), key...)
}

// plain returns the JSON of the value stored at key in resource's bucket.
// The result may alias data (no transformer), which lives in the mmap
// only during the transaction.
func (ts transformers) plain(resource string, key, data []byte) ([]byte, error) {
	tf := ts[resource]
	if tf == nil {
		return data, nil
	}
	out, _, err := tf.TransformFromStorage(data, storeKey(resource, key))
	if err != nil {
		return nil, fmt.Errorf("store: read %w", &ValueError{resource, string(key), err})
	}
	return out, nil
}

// stored returns the bytes to keep on disk for the JSON plain at key.
func (ts transformers) stored(resource string, key, plain []byte) ([]byte, error) {
	tf := ts[resource]
	if tf == nil {
		return plain, nil
	}
	out, err := tf.TransformToStorage(plain, storeKey(resource, key))
	if err != nil {
		return nil, fmt.Errorf("store: write %w", &ValueError{resource, string(key), err})
	}
	return out, nil
}

// rewriteBatch is how many values one transaction of rewriteStale
// rewrites: a kill midway loses nothing (every value is in the old or
// the new form, and both read), and one transaction stays small.
const rewriteBatch = 256

// rewriteStale brings every value of the transformed resources to the
// form their transformer writes now, without changing any object (their
// resourceVersions stay: no revision, no event). It first checks every
// value, so that a value no transformer can read (a key missing from the
// key file) fails the open before anything is written. It returns how
// many values it rewrote.
func rewriteStale(db *bolt.DB, ts transformers) (int, error) {
	stale := 0
	err := db.View(func(tx *bolt.Tx) error {
		for resource, tf := range ts {
			b := resourceBucket(tx, resource)
			if b == nil {
				continue
			}
			if err := b.ForEach(func(k, v []byte) error {
				s, err := tf.Stale(v)
				if err != nil {
					return &ValueError{resource, string(k), err}
				}
				if s {
					stale++
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || stale == 0 {
		return 0, err
	}
	n := 0
	marked := false
	for resource, tf := range ts {
		var after []byte
		for {
			done := false
			err := db.Update(func(tx *bolt.Tx) error {
				if !marked {
					// Committed with the first rewrites or not at
					// all: whatever they free, the next Open
					// compacts even if this one dies first.
					if err := tx.Bucket(bucketMeta).Put(keyCompactPending, []byte{1}); err != nil {
						return err
					}
				}
				b := resourceBucket(tx, resource)
				if b == nil {
					done = true
					return nil
				}
				// Collect first, then put: a bbolt cursor must not
				// walk a bucket that is being changed under it.
				type kv struct{ k, v []byte }
				var batch []kv
				c := b.Cursor()
				k, v := c.First()
				if after != nil {
					k, v = c.Seek(after)
					if k != nil && string(k) == string(after) {
						k, v = c.Next()
					}
				}
				var last []byte
				for ; k != nil; k, v = c.Next() {
					last = append(last[:0], k...)
					aad := storeKey(resource, k)
					plain, s, err := tf.TransformFromStorage(v, aad)
					if err != nil {
						return &ValueError{resource, string(k), err}
					}
					if !s {
						continue
					}
					out, err := tf.TransformToStorage(plain, aad)
					if err != nil {
						return &ValueError{resource, string(k), err}
					}
					batch = append(batch, kv{append([]byte(nil), k...), out})
					if len(batch) == rewriteBatch {
						break
					}
				}
				done, after = k == nil, last
				for _, e := range batch {
					if err := b.Put(e.k, e.v); err != nil {
						return err
					}
				}
				n += len(batch)
				return nil
			})
			if err == nil {
				marked = true
			}
			if err != nil {
				return n, fmt.Errorf("re-encrypt stored %s: %w", resource, err)
			}
			if done {
				break
			}
		}
	}
	return n, nil
}

// keyCompactPending, in the meta bucket, says values were rewritten
// (rewriteStale's first transaction sets it) and the file has not been
// compacted since: the old bytes — plaintext, values sealed with a key
// being retired — may be in its free pages. Open compacts while it is
// set; the compacted copy does not have it.
var keyCompactPending = []byte("compactPending")

// compactPending reports whether db holds keyCompactPending.
func compactPending(db *bolt.DB) (bool, error) {
	pending := false
	err := db.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			pending = meta.Get(keyCompactPending) != nil
		}
		return nil
	})
	return pending, err
}

// compact rewrites the database at path into a fresh file and puts it in
// place: bbolt keeps freed pages as they were, so after plaintext (or
// values sealed with a key being retired) was rewritten, the old bytes
// may still sit in the file's free pages until they are reused. The copy
// holds only live pages, without keyCompactPending; until it has been
// renamed over path, path keeps the marker, so a compaction that fails or
// is killed is done again at the next Open. db is closed; the caller
// reopens path.
func compact(db *bolt.DB, path string) error {
	return compactWith(db, path, bolt.Compact)
}

// compactWith is compact with bolt.Compact passed in, for tests.
func compactWith(db *bolt.DB, path string, copyDB func(dst, src *bolt.DB, txMaxSize int64) error) error {
	var size int64
	db.View(func(tx *bolt.Tx) error {
		size = tx.Size()
		return nil
	})
	tmp := path + ".compact"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
	if err == nil {
		err = copyDB(dst, db, 4<<20)
		if err == nil {
			err = dst.Update(func(tx *bolt.Tx) error {
				if meta := tx.Bucket(bucketMeta); meta != nil {
					return meta.Delete(keyCompactPending)
				}
				return nil
			})
		}
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return compactError(path, size, err)
	}
	return nil
}

// compactError says that compacting path failed and what to do: it needs
// a second copy of the live data beside the file, at most its size.
func compactError(path string, size int64, err error) error {
	dir := filepath.Dir(path)
	mb := (size + 1<<20 - 1) >> 20
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("compact %s: %w: compacting needs about %d MB free in %s; free space and start again (until then, values rewritten in their new form may remain readable in the file's free pages)", path, err, mb, dir)
	}
	return fmt.Errorf("compact %s: %w: start again to retry (compacting needs about %d MB free in %s; until it succeeds, values rewritten in their new form may remain readable in the file's free pages)", path, err, mb, dir)
}

// aliases reports whether a and b share memory.
func aliases(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	a0 := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	b0 := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return a0 < b0+uintptr(len(b)) && b0 < a0+uintptr(len(a))
}

// ReadStored calls fn with the key and the bytes on disk of every object
// of resource in the database at path, opened read-only (it fails while a
// server holds the file). It is for inspecting what is stored — which
// key seals each Secret — and changes nothing.
func ReadStored(path, resource string, fn func(key string, stored []byte) error) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	k, ok := api.LookupResource(resource)
	if !ok {
		return fmt.Errorf("store: unknown resource %q", resource)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return openError(path, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketObjects) == nil {
			return nil
		}
		b := resourceBucket(tx, k.Resource)
		if b == nil {
			return nil
		}
		return b.ForEach(func(key, v []byte) error {
			return fn(string(key), append([]byte(nil), v...))
		})
	})
}
