package record

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestEventsCoalesce(t *testing.T) {
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := reg.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r := New(reg, "job-controller", clk.Now, nil)
	obj := api.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: "default", Name: "pi", UID: "u1"}
	for i := range 1000 {
		r.Eventf(obj, api.EventTypeNormal, "SuccessfulCreate", "Created pod: pi-%d", i)
		if i%100 == 0 {
			r.Flush(ctx)
		}
	}
	for range 50 {
		r.Eventf(obj, api.EventTypeWarning, "FailedCreate", "Error creating: the same")
	}
	r.Flush(ctx)
	evs, _, _, err := client.For[*api.Event](reg, "default").List(ctx, api.ListOptions{FieldSelector: "involvedObject.uid=u1"})
	if err != nil {
		t.Fatal(err)
	}
	var total int32
	combined := 0
	for _, ev := range evs {
		total += ev.Count
		if strings.HasPrefix(ev.Message, "(combined from similar events)") {
			combined++
		}
		if ev.Source.Component != "job-controller" || ev.InvolvedObject != obj {
			t.Errorf("event %s from %q about %+v, want job-controller about %+v", ev.Name, ev.Source.Component, ev.InvolvedObject, obj)
		}
	}
	if len(evs) != distinctMessages+2 || combined != 1 || total != 1050 {
		t.Errorf("%d events (%d combined) counting %d; want %d, 1 combined, counting 1050", len(evs), combined, total, distinctMessages+2)
	}
	rev := st.Revision()
	r.Flush(ctx)
	if st.Revision() != rev {
		t.Error("a flush with nothing new wrote")
	}
	clk.advance(eventWindow + time.Second)
	r.Flush(ctx)
	r.mu.Lock()
	n := len(r.events)
	r.mu.Unlock()
	if n != 0 {
		t.Errorf("%d events remembered after a quiet window, want 0", n)
	}
}
