package encrypt_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/store"
	"github.com/skiffhq/skiff/server/store/encrypt"
)

// The benchmarks measure Secrets through a store with the key ring and
// through one without, in the same run on the same disk, and print both
// and x-plain = encrypted / plaintext (1 = encryption costs nothing; a
// create is mostly its fsync, a get mostly decoding).
//
//	go test -run='^$' -bench=. -benchtime=2000x ./server/store/encrypt/

func benchSecret(i int) *api.Secret {
	value := make([]byte, 1024) // a token, a small certificate
	for j := range value {
		value[j] = byte('a' + (i+j)%26)
	}
	return &api.Secret{
		ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("s-%07d", i), Namespace: "default", Labels: map[string]string{"app": "web"}},
		Data:       map[string][]byte{"token": value},
	}
}

// benchStores are a store without encryption and one with, each in its
// own directory.
func benchStores(b *testing.B) (plain, sealed *store.Bolt) {
	b.Helper()
	plain, err := store.Open(store.Config{Path: filepath.Join(b.TempDir(), "state.db")})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	sealed, _, err = encrypt.Open(filepath.Join(dir, "pki", encrypt.KeyFile), store.Config{Path: filepath.Join(dir, "state.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { plain.Close(); sealed.Close() })
	return plain, sealed
}

// parallel runs n calls of fn over workers goroutines and returns the
// calls per second.
func parallel(n, workers int, fn func(i int)) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

func report(b *testing.B, unit string, sealed, plain float64) {
	b.ReportMetric(sealed, unit)
	b.ReportMetric(plain, "plain-"+unit)
	b.ReportMetric(sealed/plain, "x-plain")
}

func BenchmarkSecretCreate(b *testing.B) {
	for _, writers := range []int{1, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			plain, sealed := benchStores(b)
			create := func(s *store.Bolt) func(int) {
				return func(i int) {
					if _, err := s.Create(ctx, benchSecret(i)); err != nil {
						b.Error(err)
					}
				}
			}
			b.ResetTimer()
			s := parallel(b.N, writers, create(sealed))
			p := parallel(b.N, writers, create(plain))
			b.StopTimer()
			report(b, "creates/s", s, p)
		})
	}
}

func BenchmarkSecretGet(b *testing.B) {
	const n = 1000
	plain, sealed := benchStores(b)
	for _, s := range []*store.Bolt{plain, sealed} {
		parallel(n, 32, func(i int) {
			if _, err := s.Create(ctx, benchSecret(i)); err != nil {
				b.Error(err)
			}
		})
	}
	get := func(s *store.Bolt) func(int) {
		return func(i int) {
			if _, err := s.Get(ctx, api.Key{Resource: "secrets", Namespace: "default", Name: fmt.Sprintf("s-%07d", i%n)}); err != nil {
				b.Error(err)
			}
		}
	}
	b.ResetTimer()
	s := parallel(b.N, 2, get(sealed))
	p := parallel(b.N, 2, get(plain))
	b.StopTimer()
	report(b, "gets/s", s, p)
}
