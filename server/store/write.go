package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// A writeOp is one write waiting for the writer. apply runs inside the
// batch's transaction; it must check everything first and then make at most
// one change through the txn, so that an error leaves nothing behind.
type writeOp struct {
	ctx   context.Context
	apply func(t *txn) (api.Object, error)
	done  chan writeResult // buffered, 1
}

type writeResult struct {
	obj api.Object
	err error
}

// do queues a write and waits for it to be durable.
func (s *Bolt) do(ctx context.Context, apply func(t *txn) (api.Object, error)) (api.Object, error) {
	op := &writeOp{ctx: ctx, apply: apply, done: make(chan writeResult, 1)}
	// Queue under the read lock: Close takes the write lock before it
	// stops the writer, so every queued op is answered (applied, or failed
	// by failQueued) and none is left behind.
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, fmt.Errorf("store is closed: %w", errdefs.ErrUnavailable)
	}
	select {
	case s.writes <- op:
		s.closeMu.RUnlock()
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return nil, ctx.Err()
	}
	// Once queued, wait for the outcome even if ctx ends: the write may
	// already be committed, and the caller must not be told otherwise.
	r := <-op.done
	return r.obj, r.err
}

// writer applies queued writes in batches until Close.
func (s *Bolt) writer() {
	defer s.writerWG.Done()
	batch := make([]*writeOp, 0, s.maxBatch)
	for {
		select {
		case op := <-s.writes:
			batch = append(batch[:0], op)
		case <-s.stop:
			s.failQueued()
			return
		}
	drain:
		for len(batch) < s.maxBatch {
			select {
			case op := <-s.writes:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		s.commit(batch)
	}
}

func (s *Bolt) failQueued() {
	for {
		select {
		case op := <-s.writes:
			op.done <- writeResult{err: fmt.Errorf("store is closed: %w", errdefs.ErrUnavailable)}
		default:
			return
		}
	}
}

// commit applies one batch in one transaction.
func (s *Bolt) commit(batch []*writeOp) {
	results := make([]writeResult, len(batch))
	fail := func(err error) {
		for _, op := range batch {
			op.done <- writeResult{err: err}
		}
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		fail(fmt.Errorf("store: begin: %w", err))
		return
	}
	t := &txn{tx: tx, rev: s.rev.Load(), tf: s.tf}
	for i, op := range batch {
		if err := op.ctx.Err(); err != nil {
			results[i].err = err
			continue
		}
		results[i].obj, results[i].err = op.apply(t)
		if t.fatal != nil {
			break
		}
	}
	if t.fatal != nil {
		tx.Rollback()
		fail(t.fatal)
		return
	}
	if len(t.events) == 0 {
		// Nothing changed: roll back so that not a byte is written.
		tx.Rollback()
	} else {
		if err := tx.Bucket(bucketMeta).Put(keyRevision, encodeUint(uint64(t.rev))); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("store: write revision: %w", err))
			return
		}
		if err := tx.Commit(); err != nil {
			fail(fmt.Errorf("store: commit: %w", err))
			return
		}
		s.rev.Store(t.rev)
		s.commits.Add(1)
		s.changes.Add(int64(len(t.events)))
		s.hist.append(t.events)
	}
	for i, op := range batch {
		op.done <- results[i]
	}
}

// txn is one batch's transaction: it hands out revisions and records the
// events that are published once the transaction commits.
type txn struct {
	tx     *bolt.Tx
	tf     transformers
	rev    int64
	events []event
	// fatal is a storage error that dooms the whole batch.
	fatal error
}

// get reads the current (in-transaction) state of key: the object and
// its JSON (plaintext, whatever its transformer keeps on disk).
func (t *txn) get(k api.Kind, key api.Key) (api.Object, []byte, error) {
	data := storedData(t.tx, k, key)
	if data == nil {
		return nil, nil, notFound(k, key)
	}
	data, err := t.tf.plain(k.Resource, objectKey(key.Namespace, key.Name), data)
	if err != nil {
		return nil, nil, err
	}
	obj, err := decode(k, data)
	if err != nil {
		return nil, nil, err
	}
	return obj, data, nil
}

func (t *txn) exists(k api.Kind, key api.Key) bool {
	return storedData(t.tx, k, key) != nil
}

// put stores obj (owned by the store from here on) at the next revision and
// records the event. prev is the previous state, nil for a create. It
// returns a copy of the stored object for the caller.
func (t *txn) put(k api.Kind, obj api.Object, prev api.Object) (api.Object, error) {
	rev := t.rev + 1
	m := obj.GetObjectMeta()
	m.ResourceVersion = strconv.FormatInt(rev, 10)
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("store: encode %s %q: %w", k.Kind, m.Name, err)
	}
	okey := objectKey(m.Namespace, m.Name)
	stored, err := t.tf.stored(k.Resource, okey, data)
	if err != nil {
		return nil, err // the object's own trouble, not the batch's
	}
	b, err := t.tx.Bucket(bucketObjects).CreateBucketIfNotExists([]byte(k.Resource))
	if err == nil {
		err = b.Put(okey, stored)
	}
	if err != nil {
		t.fatal = fmt.Errorf("store: put %s %q: %w", k.Kind, m.Name, err)
		return nil, t.fatal
	}
	typ := api.Modified
	if prev == nil {
		typ = api.Added
	}
	t.rev = rev
	t.events = append(t.events, newEvent(rev, typ, k.Resource, obj, prev))
	return decode(k, data)
}

// del removes the object whose last state is last (owned by the store from
// here on); the DELETED event carries it with the deletion's revision.
func (t *txn) del(k api.Kind, last api.Object) error {
	rev := t.rev + 1
	m := last.GetObjectMeta()
	if err := resourceBucket(t.tx, k.Resource).Delete(objectKey(m.Namespace, m.Name)); err != nil {
		t.fatal = fmt.Errorf("store: delete %s %q: %w", k.Kind, m.Name, err)
		return t.fatal
	}
	m.ResourceVersion = strconv.FormatInt(rev, 10)
	t.rev = rev
	t.events = append(t.events, newEvent(rev, api.Deleted, k.Resource, last, nil))
	return nil
}
