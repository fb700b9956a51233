package apiserver

import (
	"bufio"
	"encoding/json"
	"net/http"

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
	buf := bufio.NewWriterSize(rw, 32<<10)
	enc := json.NewEncoder(buf)
	ch := w.ResultChan()
	for {
		var e api.WatchEvent
		var ok bool
		select {
		case e, ok = <-ch:
		case <-r.Context().Done():
			return nil
		}
		for {
			if !ok {
				buf.Flush()
				rc.Flush()
				return nil
			}
			if err := enc.Encode(toWire(e)); err != nil {
				return nil
			}
			if e.Type == api.Error {
				buf.Flush()
				rc.Flush()
				return nil
			}
			select {
			case e, ok = <-ch:
				continue
			default:
			}
			break
		}
		if buf.Flush() != nil || rc.Flush() != nil {
			return nil // the client went away
		}
	}
}

func toWire(e api.WatchEvent) wireEvent {
	if e.Type == api.Error {
		return wireEvent{Type: api.Error, Object: statusOf(e.Err)}
	}
	return wireEvent{Type: e.Type, Object: e.Object}
}
