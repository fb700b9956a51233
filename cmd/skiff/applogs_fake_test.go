package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// fakeLogs serves pod logs from memory, as the agent does: without
// Follow what has been written so far (its last TailLines lines), with
// Follow that and then what comes, until the request's ctx ends; like the
// agent's, a follow goes on past the container's exit.
type fakeLogs struct {
	mu      sync.Mutex
	logs    map[string][]byte
	changed chan struct{} // closed and replaced at each write
	opened  []string      // "pod follow=true tail=2", one per request
	// lag makes a follow send only what was there when it was asked
	// for: lines still on their way when the container exits.
	lag bool
}

var _ podLogSource = (*fakeLogs)(nil)

func newFakeLogs() *fakeLogs {
	return &fakeLogs{logs: map[string][]byte{}, changed: make(chan struct{})}
}

func (f *fakeLogs) write(pod, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs[pod] = append(f.logs[pod], text...)
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeLogs) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.opened...)
}

func (f *fakeLogs) PodLogs(ctx context.Context, _, pod string, opts client.LogOptions) (io.ReadCloser, http.Header, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tail := -1
	if opts.TailLines != nil {
		tail = *opts.TailLines
	}
	f.opened = append(f.opened, fmt.Sprintf("%s follow=%t tail=%d", pod, opts.Follow, tail))
	data, ok := f.logs[pod]
	if !ok {
		return nil, nil, fmt.Errorf("pod %s has no log: %w", pod, errdefs.ErrNotFound)
	}
	if tail >= 0 {
		lines := strings.SplitAfter(string(data), "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		data = []byte(strings.Join(lines[max(0, len(lines)-tail):], ""))
	}
	if !opts.Follow {
		return io.NopCloser(bytes.NewReader(bytes.Clone(data))), http.Header{}, nil
	}
	pr, pw := io.Pipe()
	sent := len(f.logs[pod])
	first, lag := bytes.Clone(data), f.lag
	go func() {
		if _, err := pw.Write(first); err != nil {
			return
		}
		if lag {
			<-ctx.Done()
			pw.CloseWithError(ctx.Err())
			return
		}
		for {
			f.mu.Lock()
			more := bytes.Clone(f.logs[pod][sent:])
			sent = len(f.logs[pod])
			changed := f.changed
			f.mu.Unlock()
			if len(more) > 0 {
				if _, err := pw.Write(more); err != nil {
					return
				}
			}
			select {
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			case <-changed:
			}
		}
	}()
	return pr, http.Header{}, nil
}
