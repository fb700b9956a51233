package logs

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"
)

// BenchmarkWrite writes 100-byte lines (99 bytes and a newline) to a
// rotating file: one line a Write, as a chatty container's FIFO often
// gives them, and 40 lines a Write, as a busy one does.
func BenchmarkWrite(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 99), '\n')
	for _, bc := range []struct {
		name  string
		lines int
	}{{"line=100B/write=1line", 1}, {"line=100B/write=40lines", 40}} {
		b.Run(bc.name, func(b *testing.B) {
			w, err := NewWriter(filepath.Join(b.TempDir(), "0.log"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			chunk := bytes.Repeat(line, bc.lines)
			out := w.Stream(Stdout)
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := out.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRead reads a full 10 MiB log of 100-byte lines.
func BenchmarkRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), "0.log")
	w, err := NewWriter(path, Options{MaxSize: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	chunk := bytes.Repeat(append(bytes.Repeat([]byte("x"), 99), '\n'), 1024)
	for range 100 {
		w.Stream(Stdout).Write(chunk)
	}
	w.Close()
	b.SetBytes(int64(100 * len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Read(context.Background(), path, ReadOptions{Tail: -1}, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
