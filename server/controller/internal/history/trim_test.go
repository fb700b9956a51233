package history

import (
	"fmt"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestTrim(t *testing.T) {
	ref := func(n int32) *int32 { return &n }
	tests := []struct {
		name  string
		live  map[string]bool
		limit *int32
		want  string // left, oldest first
	}{
		{"default limit keeps ten", nil, nil, "r3 r4 r5 r6 r7 r8 r9 r10 r11 r12"},
		{"limit 2", nil, ref(2), "r11 r12"},
		{"limit 0", nil, ref(0), ""},
		{"live ones stay and do not count", map[string]bool{"r1": true, "r12": true}, ref(1), "r1 r11 r12"},
		{"all live", map[string]bool{"r1": true, "r2": true, "r3": true, "r4": true, "r5": true, "r6": true, "r7": true, "r8": true, "r9": true, "r10": true, "r11": true, "r12": true}, ref(0), "r1 r2 r3 r4 r5 r6 r7 r8 r9 r10 r11 r12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, ctx, revs := newRegistry(t)
			var all []*api.ControllerRevision
			for i := 1; i <= 12; i++ {
				r, err := revs.Create(ctx, rev(t, fmt.Sprintf("r%d", i), int64(i), "busybox"))
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, r)
			}
			live := func(r *api.ControllerRevision) bool { return tt.live[r.Name] }
			if err := Trim(ctx, reg, all, live, tt.limit, "stateful set default/web"); err != nil {
				t.Fatal(err)
			}
			left, _, _, err := revs.List(ctx, api.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			Sort(left)
			if got := names(left); got != tt.want {
				t.Errorf("left %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTrimGoneOrReplaced: a revision already deleted is no error; one
// replaced by another of its name is left alone, and the failed delete
// (a conflict: another UID) is the error, naming the revision and owner.
func TestTrimGoneOrReplaced(t *testing.T) {
	reg, ctx, revs := newRegistry(t)
	var all []*api.ControllerRevision
	for i := 1; i <= 3; i++ {
		r, err := revs.Create(ctx, rev(t, fmt.Sprintf("r%d", i), int64(i), "busybox"))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	for _, name := range []string{"r1", "r2"} {
		if _, err := revs.Delete(ctx, name, api.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	none := func(*api.ControllerRevision) bool { return false }
	if err := Trim(ctx, reg, all[:2], none, new(int32), "stateful set default/web"); err != nil {
		t.Errorf("Trim of revisions gone: %v, want no error", err)
	}
	if _, err := revs.Create(ctx, rev(t, "r2", 9, "nginx")); err != nil {
		t.Fatal(err)
	}
	err := Trim(ctx, reg, all, none, new(int32), "stateful set default/web")
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "delete revision r2 of stateful set default/web") {
		t.Errorf("Trim of a replaced revision: %v, want a conflict deleting r2", err)
	}
	left, _, _, err := revs.List(ctx, api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(left); got != "r2" || left[0].Revision != 9 {
		t.Errorf("left %q, want the new r2 alone", got)
	}
}
