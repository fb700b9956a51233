package appimages

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

func TestChunkReader(t *testing.T) {
	data := make([]byte, 3*chunkSize+12345)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	for _, tc := range []struct {
		name  string
		seek  int64
		whole bool
		n     int
	}{
		{"all", 0, true, 0},
		{"from a chunk's end", chunkSize - 1, true, 0},
		{"the tail", int64(len(data)) - 7, true, 0},
		{"a span across chunks", chunkSize - 100, false, 300},
		{"at the end", int64(len(data)), true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChunkReader(bytes.NewReader(data), int64(len(data)))
			if _, err := c.Seek(tc.seek, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			var got []byte
			var err error
			if tc.whole {
				got, err = io.ReadAll(c)
			} else {
				got = make([]byte, tc.n)
				_, err = io.ReadFull(c, got)
			}
			want := data[tc.seek:]
			if !tc.whole {
				want = want[:tc.n]
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("got %d bytes (%v), want the %d at %d", len(got), err, len(want), tc.seek)
			}
		})
	}
	t.Run("seek back into the chunk read", func(t *testing.T) {
		c := newChunkReader(bytes.NewReader(data), int64(len(data)))
		buf := make([]byte, 10)
		io.ReadFull(c, buf)
		if off, err := c.Seek(-5, io.SeekCurrent); off != 5 || err != nil {
			t.Fatalf("seek: %d, %v", off, err)
		}
		io.ReadFull(c, buf)
		if !bytes.Equal(buf, data[5:15]) {
			t.Errorf("got %v, want bytes 5 to 15", buf)
		}
		if off, err := c.Seek(-3, io.SeekEnd); off != int64(len(data))-3 || err != nil {
			t.Errorf("seek from the end: %d, %v", off, err)
		}
		if _, err := c.Seek(-1, io.SeekStart); err == nil {
			t.Error("seek before the start: no error")
		}
	})
	t.Run("short store", func(t *testing.T) {
		// The store has fewer bytes than the descriptor says.
		c := newChunkReader(bytes.NewReader(data[:100]), int64(len(data)))
		if _, err := io.ReadAll(c); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("got %v, want unexpected EOF", err)
		}
	})
}

// blockingReaderAt blocks each ReadAt until unblock is closed.
type blockingReaderAt struct {
	data    []byte
	entered chan struct{}
	unblock chan struct{}
}

func (b *blockingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	close(b.entered)
	<-b.unblock
	return copy(p, b.data[off:]), nil
}

// A read still running when the response ends (ServeContent's goroutine
// of a multi-range request, its client gone) finishes before the buffer
// goes back to the pool, and reads after that fail (run with -race).
func TestChunkReaderReleaseDuringRead(t *testing.T) {
	ra := &blockingReaderAt{data: make([]byte, 2*chunkSize), entered: make(chan struct{}), unblock: make(chan struct{})}
	c := newChunkReader(ra, int64(len(ra.data)))
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 10))
		done <- err
	}()
	<-ra.entered
	released := make(chan struct{})
	go func() { c.release(); close(released) }()
	close(ra.unblock)
	if err := <-done; err != nil {
		t.Fatalf("the read in flight: %v", err)
	}
	<-released
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, errReaderReleased) {
		t.Errorf("a read after release: %v, want errReaderReleased", err)
	}
}
