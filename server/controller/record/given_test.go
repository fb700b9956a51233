package record

import (
	"context"
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

type countingEventer struct{ n int }

func (c *countingEventer) Eventf(api.ObjectReference, string, string, string, ...any) { c.n++ }

func TestOrNewKeepsTheGivenEventer(t *testing.T) {
	given := &countingEventer{}
	g := OrNew(given, nil, "test", nil, nil)
	g.Eventf(api.ObjectReference{}, api.EventTypeNormal, "Reason", "message")
	g.Forget("uid") // nothing of its own to tell
	if given.n != 1 {
		t.Errorf("given Eventer heard %d Events, want 1", given.n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Run(ctx); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestOrNewMakesARecorder(t *testing.T) {
	if g := OrNew(nil, nil, "test", nil, nil); g.own == nil || g.Eventer != Eventer(g.own) {
		t.Errorf("OrNew(nil) = %+v, want a Recorder of its own", g)
	}
}
