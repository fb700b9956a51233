package apiserver

import (
	"bufio"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/labstack/echo/v5"

	"github.com/skiffhq/skiff/server/api"
)

// wireEvent is a watch event on the wire: one JSON line.
type wireEvent struct {
	Type   api.EventType `json:"type"`
	Object any           `json:"object"`
}

// watch streams events as newline-delimited JSON, flushing after each burst
// (every event that is waiting is written before one flush).
func (s *Server) watch(c *echo.Context, t target) error {
	opts, err := listOptions(c)
	if err != nil {
		return err
	}
	r := c.Request()
	w, err := s.backend.Watch(r.Context(), t.kind.Resource, t.namespace, opts)
	if err != nil {
		return err // before streaming: a plain error answer (410 for expired)
	}
	defer w.Stop()

	rw := c.Response()
	rc := http.NewResponseController(rw)
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil
	}
	ch := w.ResultChan()
	for {
		var e api.WatchEvent
		var ok bool
		select {
		case e, ok = <-ch:
		case <-r.Context().Done():
			return nil
		}
		if !writeBurst(rw, rc, ch, e, ok) {
			return nil
		}
	}
}

// watchBufs holds the buffers watch bursts are written through. A watch
// takes one only while it writes: a server with a thousand idle watches
// (one per node) holds a few buffers, not a thousand.
var watchBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

// writeBurst writes e (ok false: the watch ended) and every event already
// waiting on ch, then flushes once. It reports whether the watch goes on.
func writeBurst(rw http.ResponseWriter, rc *http.ResponseController, ch <-chan api.WatchEvent, e api.WatchEvent, ok bool) bool {
	buf := watchBufs.Get().(*bufio.Writer)
	buf.Reset(rw)
	defer func() {
		buf.Reset(nil)
		watchBufs.Put(buf)
	}()
	enc := json.NewEncoder(buf)
	for ok {
		if enc.Encode(toWire(e)) != nil {
			return false
		}
		if e.Type == api.Error {
			break
		}
		select {
		case e, ok = <-ch:
			continue
		default:
		}
		return buf.Flush() == nil && rc.Flush() == nil // false: the client went away
	}
	buf.Flush()
	rc.Flush()
	return false
}

func toWire(e api.WatchEvent) wireEvent {
	if e.Type == api.Error {
		return wireEvent{Type: api.Error, Object: statusOf(e.Err)}
	}
	return wireEvent{Type: e.Type, Object: e.Object}
}
