package record

import (
	"context"
	"log/slog"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// Eventer records an Event about an object; *Recorder is one. A
// controller's Config may take one (tests pass a fake).
type Eventer interface {
	Eventf(obj api.ObjectReference, eventType, reason, format string, args ...any)
}

var _ Eventer = (*Recorder)(nil)

// Given is the Eventer a controller was given or, if none, a Recorder of
// its own: then Run runs it and Forget tells it; for a given Eventer
// both do nothing, its owner runs it.
type Given struct {
	Eventer
	own *Recorder
}

// OrNew returns given, or if it is nil a new Recorder (as New) for
// component.
func OrNew(given Eventer, b client.Backend, component string, now func() time.Time, log *slog.Logger) *Given {
	if given != nil {
		return &Given{Eventer: given}
	}
	r := New(b, component, now, log)
	return &Given{Eventer: r, own: r}
}

// Run runs the controller's own Recorder until ctx ends; with a given
// Eventer it only waits for ctx.
func (g *Given) Run(ctx context.Context) error {
	if g.own == nil {
		<-ctx.Done()
		return nil
	}
	return g.own.Run(ctx)
}

// Forget tells the controller's own Recorder that the object with uid
// is gone (see Recorder.Forget).
func (g *Given) Forget(uid string) {
	if g.own != nil {
		g.own.Forget(uid)
	}
}
