// Package store keeps skiff's objects and the history of their changes. It
// owns durability, revisions, optimistic concurrency, graceful deletion and
// watch; it does not default or validate objects (server/registry does) and
// knows nothing of HTTP.
//
// # Bucket layout (bbolt, state.db)
//
//	meta/                       bucket
//	  "schema"    -> uint64 BE  schema version; see migrate.go
//	  "revision"  -> uint64 BE  revision of the last change, deletions included
//	  "compactPending" -> 0x01  values were rewritten and the file not yet
//	                            compacted: Open compacts first (transform.go)
//	objects/                    bucket
//	  <resource>/               one nested bucket per resource ("pods")
//	    "<namespace>/<name>"    -> object JSON (namespaced kinds)
//	    "<name>"                -> object JSON (cluster-scoped kinds)
//	  secrets/                  (and any resource with a Config.Transformers entry)
//	    "<namespace>/<name>"    -> the transformer's form of the object JSON:
//	                               "skiff:enc:aesgcm:v1:<key>:" nonce ciphertext
//	                               (server/store/encrypt), or JSON from before
//
// Keys sort by namespace, then name, so a namespace is a prefix scan. The
// object's metadata.resourceVersion is the revision of its last change.
//
// # Revisions and writes
//
// One counter, persisted in meta/revision, numbers every change: each
// create, update and delete takes the next revision, so revisions are
// contiguous and the resourceVersion of an object is the revision that last
// touched it. All writes go through one writer goroutine, which takes every
// write that is waiting, applies them in order in one bbolt transaction and
// commits (one fsync) before answering any of them: under load, many writes
// share one fsync (group commit); alone, a write waits for nothing. A write
// is acknowledged only after its transaction is durable. A transaction in
// which nothing changed (an update with the same content, a failed
// precondition) is rolled back, so nothing is written to disk when nothing
// changes: flash cards wear out.
//
// # Values at rest
//
// A resource with a Transformer (Config.Transformers; Secrets, sealed by
// server/store/encrypt) is transformed in put and read back in every read
// path — Get, GetRaw, List, the transaction reads that updates and
// deletes start from — so no path bypasses it; the watch history holds
// decoded objects in memory and needs nothing. Open checks every such
// value before serving (a value sealed with a key the ring lacks fails
// the open, naming the object, with nothing written), rewrites those not
// in the transformer's current form in batches of 256 (one transaction
// each; resourceVersions unchanged, no events), and then compacts the file
// into a fresh copy, since bbolt's free pages keep what was overwritten.
// The first rewrite transaction sets meta/compactPending and only the
// compacted copy lacks it, so an open that dies or fails (no space for
// the copy) between the rewrites and the rename compacts at the next
// open. See transform.go.
//
// # Deletion
//
// A delete removes an object at once unless something must happen first:
// then it sets metadata.deletionTimestamp and the object stays until the
// last of its finalizers is removed by an update (and, for a pod on a
// node, its grace period is over: the agent deletes it again with grace
// 0). The propagation policy of the delete adds the garbage collector's
// finalizers in the same transaction (api.FinalizerForeground,
// api.FinalizerOrphan), and a namespace always gets api.FinalizerNamespace
// and phase Terminating; the store then refuses creates in it, in the
// create's own transaction, so nothing lands there after the collector
// has looked. See Deleter.
//
// # Watch
//
// Committed changes are appended, in revision order, to an in-memory ring of
// the last Config.HistorySize events, which every watcher follows at its own
// pace with its own cursor. A watch from a revision still in the ring
// resumes with no event lost or repeated; from an older revision (or one
// from before the process started) it fails with errdefs.ErrExpired, and
// the client lists again. A watcher that falls so far behind that the ring
// overwrites its cursor gets an Error event of the same class. History is
// not written to disk: keeping it costs memory, not flash.
package store
