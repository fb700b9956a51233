package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Config configures a Bolt store.
type Config struct {
	// Path of the database file, e.g. /var/lib/skiff/state.db.
	Path string
	// HistorySize is how many changes are kept in memory for watches to
	// resume from. Default 4096.
	HistorySize int
	// MaxBatch caps how many writes share one transaction. Default 512.
	MaxBatch int
	// Transformers, by resource ("secrets"), turn objects' JSON into
	// what is written to disk and back (server/store/encrypt seals
	// Secrets). Open checks that every stored value of these resources
	// can be read, and rewrites those not in the transformer's current
	// form (plaintext, an older key) before it serves anything; see
	// Transformer.
	Transformers map[string]Transformer
	Log          *slog.Logger
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	if c.Path == "" {
		return errors.New("store: path is required")
	}
	if c.HistorySize < 0 || c.MaxBatch < 0 {
		return errors.New("store: history size and max batch must not be negative")
	}
	return nil
}

// Bolt is the bbolt-backed Store.
type Bolt struct {
	db       *bolt.DB
	log      *slog.Logger
	maxBatch int
	hist     *history
	tf       transformers

	writes   chan *writeOp
	rev      atomic.Int64 // last committed revision
	commits  atomic.Int64 // transactions committed
	changes  atomic.Int64 // changes committed
	stop     chan struct{}
	stopOnce sync.Once
	closeMu  sync.RWMutex // held to read while queueing a write; to write by Close
	closed   bool
	writerWG sync.WaitGroup
}

var _ Store = (*Bolt)(nil)

// Open opens (creating if needed) the database at cfg.Path, brings its
// schema up to date and starts the writer. Opening an up-to-date database
// writes nothing.
func Open(cfg Config) (*Bolt, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.HistorySize == 0 {
		cfg.HistorySize = 4096
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 512
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := openDB(cfg.Path)
	if err != nil {
		return nil, err
	}
	if err := migrate(db, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", cfg.Path, err)
	}
	n := 0
	if len(cfg.Transformers) > 0 {
		if n, err = rewriteStale(db, cfg.Transformers); err != nil {
			db.Close()
			return nil, fmt.Errorf("store: %s: %w", cfg.Path, err)
		}
	}
	// What was rewritten — by this open, or by one that died or failed
	// before its compaction — may linger in free pages: copy the live
	// pages to a fresh file.
	pending, err := compactPending(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", cfg.Path, err)
	}
	if pending {
		if err := compact(db, cfg.Path); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		cfg.Log.Info("compacted the database after rewriting stored values in their transformer's current form", "values", n, "path", cfg.Path)
		if db, err = openDB(cfg.Path); err != nil {
			return nil, err
		}
	}
	var rev int64
	if err := db.View(func(tx *bolt.Tx) error {
		rev = int64(decodeUint(tx.Bucket(bucketMeta).Get(keyRevision)))
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", cfg.Path, err)
	}
	s := &Bolt{
		db:       db,
		log:      cfg.Log,
		maxBatch: cfg.MaxBatch,
		hist:     newHistory(cfg.HistorySize, rev),
		tf:       cfg.Transformers,
		writes:   make(chan *writeOp, cfg.MaxBatch),
		stop:     make(chan struct{}),
	}
	s.rev.Store(rev)
	s.writerWG.Add(1)
	go s.writer()
	return s, nil
}

// openDB opens the bbolt file at path for writing.
func openDB(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: time.Second,
		// The freelist is rebuilt at open instead of written on every
		// commit: fewer bytes per write on flash.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, openError(path, err)
	}
	return db, nil
}

func openError(path string, err error) error {
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("store: %s is locked by another process (is another skiff server running?)", path)
	}
	return fmt.Errorf("store: open %s: %w", path, err)
}

// Stats are counters of the store's work since Open.
type Stats struct {
	Revision int64 // revision of the last change
	Commits  int64 // write transactions committed (each one fsync)
	Changes  int64 // changes committed; Changes/Commits is the batching factor
}

// Stats returns the store's counters.
func (s *Bolt) Stats() Stats {
	return Stats{Revision: s.rev.Load(), Commits: s.commits.Load(), Changes: s.changes.Load()}
}

// Revision returns the revision of the last committed change.
func (s *Bolt) Revision() int64 { return s.rev.Load() }

// Close stops the writer, ends every watch and closes the database. Writes
// still queued fail with errdefs.ErrUnavailable.
func (s *Bolt) Close() error {
	s.closeMu.Lock()
	s.closed = true
	s.closeMu.Unlock()
	s.stopOnce.Do(func() { close(s.stop) })
	s.writerWG.Wait()
	s.hist.close()
	return s.db.Close()
}

// objectKey is the key of an object inside its resource bucket.
func objectKey(namespace, name string) []byte {
	if namespace == "" {
		return []byte(name)
	}
	return []byte(namespace + "/" + name)
}

// Get reads one object.
func (s *Bolt) Get(ctx context.Context, key api.Key) (api.Object, error) {
	var obj api.Object
	err := s.view(key, func(k api.Kind, data []byte) (err error) {
		obj, err = decode(k, data)
		return err
	})
	return obj, err
}

// GetRaw returns the stored JSON of one object, as it would be encoded: for
// readers that only pass it on (the API server's GET), it saves a decode
// and an encode.
func (s *Bolt) GetRaw(ctx context.Context, key api.Key) ([]byte, error) {
	k, ok := api.LookupResource(key.Resource)
	if !ok {
		return nil, fmt.Errorf("resource %q: %w", key.Resource, errdefs.ErrNotFound)
	}
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		stored := storedData(tx, k, key)
		if stored == nil {
			return notFound(k, key)
		}
		data, err := s.tf.plain(k.Resource, objectKey(key.Namespace, key.Name), stored)
		if err != nil {
			return err
		}
		// stored lives in the mmap only during the transaction. A
		// transformer's result is its own copy (Transformer says so);
		// copy anyway if it is not, or if there is no transformer.
		if aliases(data, stored) {
			data = append([]byte(nil), data...)
		}
		out = data
		return nil
	})
	return out, err
}

// view calls fn with the stored JSON of key (plaintext: transformed
// back), inside a read transaction.
func (s *Bolt) view(key api.Key, fn func(k api.Kind, data []byte) error) error {
	k, ok := api.LookupResource(key.Resource)
	if !ok {
		return fmt.Errorf("resource %q: %w", key.Resource, errdefs.ErrNotFound)
	}
	return s.db.View(func(tx *bolt.Tx) error {
		data := storedData(tx, k, key)
		if data == nil {
			return notFound(k, key)
		}
		data, err := s.tf.plain(k.Resource, objectKey(key.Namespace, key.Name), data)
		if err != nil {
			return err
		}
		return fn(k, data)
	})
}

// storedData is the stored bytes of key (as on disk: see
// transformers.plain), or nil.
func storedData(tx *bolt.Tx, k api.Kind, key api.Key) []byte {
	b := resourceBucket(tx, k.Resource)
	if b == nil {
		return nil
	}
	return b.Get(objectKey(key.Namespace, key.Name))
}

func notFound(k api.Kind, key api.Key) error {
	if key.Namespace != "" {
		return fmt.Errorf("%s %q in namespace %q: %w", k.Kind, key.Name, key.Namespace, errdefs.ErrNotFound)
	}
	return fmt.Errorf("%s %q: %w", k.Kind, key.Name, errdefs.ErrNotFound)
}

func resourceBucket(tx *bolt.Tx, resource string) *bolt.Bucket {
	return tx.Bucket(bucketObjects).Bucket([]byte(resource))
}

func decode(k api.Kind, data []byte) (api.Object, error) {
	obj := k.New()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("store: decode stored %s: %w", k.Kind, err)
	}
	return obj, nil
}

// continueToken is the state of a paged list between pages: the revision
// of the first page, reported for every page so that a watch from it sees
// every change made while paging, and the last key returned.
type continueToken struct {
	Rev   int64  `json:"rv"`
	After string `json:"after"`
}

func encodeContinue(t continueToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.After == "" || t.Rev < 0 {
		return t, fmt.Errorf("continue token %q is malformed: %w", s, errdefs.ErrBadRequest)
	}
	return t, nil
}

// List reads the matching objects of one resource in key order.
func (s *Bolt) List(ctx context.Context, resource string, opts ListOptions) (*ListResult, error) {
	k, ok := api.LookupResource(resource)
	if !ok {
		return nil, fmt.Errorf("resource %q: %w", resource, errdefs.ErrNotFound)
	}
	var tok continueToken
	if opts.Continue != "" {
		var err error
		if tok, err = decodeContinue(opts.Continue); err != nil {
			return nil, err
		}
	}
	res := &ListResult{Items: []api.Object{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		res.Revision = int64(decodeUint(tx.Bucket(bucketMeta).Get(keyRevision)))
		if tok.Rev != 0 {
			res.Revision = tok.Rev
		}
		b := resourceBucket(tx, k.Resource)
		if b == nil {
			return nil
		}
		var prefix []byte
		if opts.Namespace != "" && k.Namespaced {
			prefix = []byte(opts.Namespace + "/")
		}
		c := b.Cursor()
		var key, val []byte
		switch {
		case tok.After != "":
			key, val = c.Seek([]byte(tok.After))
			if key != nil && string(key) == tok.After {
				key, val = c.Next()
			}
		case prefix != nil:
			key, val = c.Seek(prefix)
		default:
			key, val = c.First()
		}
		for ; key != nil && hasPrefix(key, prefix); key, val = c.Next() {
			if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit {
				last := res.Items[len(res.Items)-1].GetObjectMeta()
				res.Continue = encodeContinue(continueToken{Rev: res.Revision, After: string(objectKey(last.Namespace, last.Name))})
				return nil
			}
			val, err := s.tf.plain(k.Resource, key, val)
			if err != nil {
				return err
			}
			obj, err := decode(k, val)
			if err != nil {
				return err
			}
			if matches(obj, opts.Labels, opts.Fields) {
				res.Items = append(res.Items, obj)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func hasPrefix(key, prefix []byte) bool {
	return len(key) >= len(prefix) && string(key[:len(prefix)]) == string(prefix)
}

// matches reports whether obj passes the label and field selectors.
func matches(obj api.Object, labels, fields api.Selector) bool {
	return matchesFields(obj, nil, labels, fields)
}

// matchesFields is matches with obj's selectable fields already made
// (nil: make them if a field selector needs them).
func matchesFields(obj api.Object, objFields map[string]string, labels, fields api.Selector) bool {
	if labels != nil && !labels.Empty() && !labels.Matches(obj.GetObjectMeta().Labels) {
		return false
	}
	if fields != nil && !fields.Empty() {
		if objFields == nil {
			objFields = api.SelectableFields(obj)
		}
		if !fields.Matches(objFields) {
			return false
		}
	}
	return true
}
