package remote

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkUnpack unpacks a tree of 1000 files of 16 KiB in 50
// directories, the tree of BenchmarkRemoteBuild's larger case.
//
//	go test -run '^$' -bench BenchmarkUnpack ./server/build/remote/
func BenchmarkUnpack(b *testing.B) {
	var entries []entry
	for i := range 1000 {
		entries = append(entries, entry{name: fmt.Sprintf("src/d%02d/f%04d.txt", i%50, i), content: strings.Repeat("x", 16<<10)})
	}
	var buf bytes.Buffer
	if err := tarTree(&buf, makeTree(b, entries)); err != nil {
		b.Fatal(err)
	}
	parent := b.TempDir()
	b.SetBytes(int64(buf.Len()))
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(parent, fmt.Sprint(i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		if _, err := unpackTree(bytes.NewReader(buf.Bytes()), dir, limits{maxBytes: 1 << 30, maxFiles: 100_000}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}
