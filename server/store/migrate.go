package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// A migration moves the schema from version-1 to version. Migrations run in
// order, each in its own transaction together with the version bump, so a
// crash leaves the database at a whole version.
type migration struct {
	version uint64
	name    string
	apply   func(tx *bolt.Tx) error
}

var (
	bucketMeta    = []byte("meta")
	bucketObjects = []byte("objects")
	keySchema     = []byte("schema")
	keyRevision   = []byte("revision")
)

// migrations is the ordered schema history. Append only; never edit a
// released migration. Versions are 1, 2, 3… (TestMigrationsOrdered).
var migrations = []migration{
	{version: 1, name: "create meta and objects buckets", apply: func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketObjects} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}},
}

// schemaVersion reads the schema version; 0 for a new database.
func schemaVersion(tx *bolt.Tx) uint64 {
	b := tx.Bucket(bucketMeta)
	if b == nil {
		return 0
	}
	return decodeUint(b.Get(keySchema))
}

// migrate brings db to the last version in ms. It writes nothing when the
// database is already there, and refuses a database newer than ms.
func migrate(db *bolt.DB, ms []migration) error {
	var current uint64
	if err := db.View(func(tx *bolt.Tx) error {
		current = schemaVersion(tx)
		return nil
	}); err != nil {
		return err
	}
	latest := uint64(len(ms))
	if current > latest {
		return fmt.Errorf("state database schema version %d is newer than this skiff understands (%d): run a newer skiff", current, latest)
	}
	for _, m := range ms[current:] {
		err := db.Update(func(tx *bolt.Tx) error {
			if err := m.apply(tx); err != nil {
				return err
			}
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			return meta.Put(keySchema, encodeUint(m.version))
		})
		if err != nil {
			return fmt.Errorf("migrate state database to version %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

func encodeUint(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func decodeUint(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
