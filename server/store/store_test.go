package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

func newStore(t testing.TB, cfg Config) *Bolt {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "state.db")
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func pod(ns, name, node string, labels map[string]string) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:       api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "c", Image: "busybox"}}},
	}
}

func podKey(ns, name string) api.Key { return api.Key{Resource: "pods", Namespace: ns, Name: name} }

func rv(obj api.Object) int64 {
	n, _ := strconv.ParseInt(obj.GetObjectMeta().ResourceVersion, 10, 64)
	return n
}

var ctx = context.Background()

func TestCreateGet(t *testing.T) {
	s := newStore(t, Config{})
	got, err := s.Create(ctx, pod("default", "web", "", nil))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	m := got.GetObjectMeta()
	if m.UID == "" || m.CreationTimestamp.IsZero() || m.Generation != 1 || rv(got) != 1 {
		t.Errorf("Create set uid=%q created=%v generation=%d rv=%d; want all set, generation 1, rv 1", m.UID, m.CreationTimestamp, m.Generation, rv(got))
	}
	if tm := got.GetTypeMeta(); tm.Kind != "Pod" || tm.APIVersion != "v1" {
		t.Errorf("type meta = %+v, want v1 Pod", tm)
	}
	again, err := s.Get(ctx, podKey("default", "web"))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if again.GetObjectMeta().UID != m.UID || rv(again) != 1 {
		t.Errorf("Get = uid %q rv %d, want %q 1", again.GetObjectMeta().UID, rv(again), m.UID)
	}
	if _, err := s.Create(ctx, pod("default", "web", "", nil)); !errdefs.IsAlreadyExists(err) {
		t.Errorf("second Create err = %v, want already exists", err)
	}
	if _, err := s.Get(ctx, podKey("default", "nope")); !errdefs.IsNotFound(err) {
		t.Errorf("Get missing err = %v, want not found", err)
	}
	if _, err := s.Get(ctx, podKey("other", "web")); !errdefs.IsNotFound(err) {
		t.Errorf("Get in other namespace err = %v, want not found", err)
	}
	if s.Revision() != 1 {
		t.Errorf("Revision = %d, want 1", s.Revision())
	}
}

func TestCreateDoesNotChangeInput(t *testing.T) {
	s := newStore(t, Config{})
	in := pod("default", "web", "", nil)
	if _, err := s.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	if in.ResourceVersion != "" || in.UID != "" {
		t.Errorf("Create changed its input: rv %q uid %q", in.ResourceVersion, in.UID)
	}
}

func TestGenerateName(t *testing.T) {
	s := newStore(t, Config{})
	p := pod("default", "", "", nil)
	p.GenerateName = "web-"
	a, err := s.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	an, bn := a.GetObjectMeta().Name, b.GetObjectMeta().Name
	if len(an) != len("web-")+5 || an[:4] != "web-" || an == bn {
		t.Errorf("generated names %q and %q; want two different web-xxxxx", an, bn)
	}
	if _, err := s.Create(ctx, pod("default", "", "", nil)); !errdefs.IsInvalid(err) {
		t.Errorf("Create without name err = %v, want invalid", err)
	}
}

func TestUpdateConcurrency(t *testing.T) {
	s := newStore(t, Config{})
	created, _ := s.Create(ctx, pod("default", "web", "", nil))
	first := api.Clone(created.(*api.Pod))
	first.Labels = map[string]string{"a": "1"}
	updated, err := s.Update(ctx, first, UpdateOptions{})
	if err != nil {
		t.Fatalf("Update with current rv: %v", err)
	}
	if rv(updated) != 2 {
		t.Errorf("rv after update = %d, want 2", rv(updated))
	}
	stale := api.Clone(created.(*api.Pod)) // still rv 1
	stale.Labels = map[string]string{"a": "2"}
	if _, err := s.Update(ctx, stale, UpdateOptions{}); !errdefs.IsConflict(err) {
		t.Errorf("Update with stale rv err = %v, want conflict", err)
	}
	stale.ResourceVersion = "" // unconditional
	if _, err := s.Update(ctx, stale, UpdateOptions{}); err != nil {
		t.Errorf("unconditional Update: %v", err)
	}
	wrongUID := api.Clone(stale)
	wrongUID.UID = "not-the-uid"
	if _, err := s.Update(ctx, wrongUID, UpdateOptions{}); !errdefs.IsConflict(err) {
		t.Errorf("Update with other uid err = %v, want conflict", err)
	}
	if _, err := s.Update(ctx, pod("default", "missing", "", nil), UpdateOptions{}); !errdefs.IsNotFound(err) {
		t.Errorf("Update of missing err = %v, want not found", err)
	}
}

func TestUpdateKeepsServerFields(t *testing.T) {
	s := newStore(t, Config{})
	created, _ := s.Create(ctx, pod("default", "web", "", nil))
	in := api.Clone(created.(*api.Pod))
	in.UID = ""
	in.CreationTimestamp = api.Time{}
	in.Generation = 99
	got, err := s.Update(ctx, in, UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, c := got.GetObjectMeta(), created.GetObjectMeta()
	if m.UID != c.UID || !m.CreationTimestamp.Equal(c.CreationTimestamp.Time) || m.Generation != 1 {
		t.Errorf("update changed server fields: uid %q created %v generation %d; want %q %v 1", m.UID, m.CreationTimestamp, m.Generation, c.UID, c.CreationTimestamp)
	}
}

func TestGenerationAndStatus(t *testing.T) {
	s := newStore(t, Config{})
	created, _ := s.Create(ctx, pod("default", "web", "", nil))
	p := api.Clone(created.(*api.Pod))

	p.Labels = map[string]string{"x": "y"}
	p.Status.Phase = "Running" // ignored by a main-resource update
	got, err := s.Update(ctx, p, UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gp := got.(*api.Pod)
	if gp.Generation != 1 || gp.Status.Phase != "" {
		t.Errorf("label update: generation %d phase %q; want 1 and the stored (empty) status", gp.Generation, gp.Status.Phase)
	}

	gp.Spec.Containers[0].Image = "busybox:2"
	got, _ = s.Update(ctx, gp, UpdateOptions{})
	if g := got.GetObjectMeta().Generation; g != 2 {
		t.Errorf("spec update: generation %d, want 2", g)
	}

	st := api.Clone(got.(*api.Pod))
	st.Status.Phase = "Running"
	st.Spec.Containers[0].Image = "ignored"
	st.Labels = map[string]string{"ignored": "yes"}
	got, err = s.Update(ctx, st, UpdateOptions{Subresource: "status"})
	if err != nil {
		t.Fatal(err)
	}
	gp = got.(*api.Pod)
	if gp.Status.Phase != "Running" || gp.Spec.Containers[0].Image != "busybox:2" || gp.Labels["ignored"] != "" || gp.Generation != 2 {
		t.Errorf("status update: phase %q image %q labels %v generation %d; want Running, busybox:2, unchanged labels, 2",
			gp.Status.Phase, gp.Spec.Containers[0].Image, gp.Labels, gp.Generation)
	}
	if _, err := s.Update(ctx, st, UpdateOptions{Subresource: "scale"}); !errdefs.IsNotFound(err) {
		t.Errorf("unknown subresource err = %v, want not found", err)
	}
	cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: "default"}}
	s.Create(ctx, cm)
	if _, err := s.Update(ctx, cm, UpdateOptions{Subresource: "status"}); !errdefs.IsNotFound(err) {
		t.Errorf("status of a kind without one err = %v, want not found", err)
	}
}

func TestNoopUpdateWritesNothing(t *testing.T) {
	s := newStore(t, Config{})
	created, _ := s.Create(ctx, pod("default", "web", "", map[string]string{"a": "b"}))
	before := s.Stats()
	got, err := s.Update(ctx, created, UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rv(got) != rv(created) {
		t.Errorf("no-op update moved rv %d → %d", rv(created), rv(got))
	}
	if after := s.Stats(); after != before {
		t.Errorf("no-op update committed: stats %+v → %+v", before, after)
	}
}

func TestList(t *testing.T) {
	s := newStore(t, Config{})
	for i := 0; i < 10; i++ {
		ns := "a"
		if i%2 == 1 {
			ns = "b"
		}
		node := fmt.Sprintf("n%d", i%3)
		s.Create(ctx, pod(ns, fmt.Sprintf("p%02d", i), node, map[string]string{"app": "web", "i": strconv.Itoa(i)}))
	}
	s.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: "a"}})
	sel := func(s string) api.Selector {
		t.Helper()
		l, err := api.ParseSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	fsel := func(s string) api.Selector {
		t.Helper()
		l, err := api.ParseFieldSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, tc := range []struct {
		name string
		opts ListOptions
		want int
	}{
		{"all", ListOptions{}, 10},
		{"namespace a", ListOptions{Namespace: "a"}, 5},
		{"namespace none", ListOptions{Namespace: "zzz"}, 0},
		{"label", ListOptions{Labels: sel("i in (1,2,3)")}, 3},
		{"label and namespace", ListOptions{Namespace: "b", Labels: sel("i in (1,2,3)")}, 2},
		{"node field", ListOptions{Fields: fsel("spec.nodeName=n0")}, 4},
		{"node field not", ListOptions{Fields: fsel("spec.nodeName!=n0")}, 6},
	} {
		res, err := s.List(ctx, "pods", tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(res.Items) != tc.want || res.Revision != 11 {
			t.Errorf("%s: %d items at rev %d, want %d at 11", tc.name, len(res.Items), res.Revision, tc.want)
		}
	}
	if _, err := s.List(ctx, "widgets", ListOptions{}); !errdefs.IsNotFound(err) {
		t.Errorf("list unknown resource err = %v, want not found", err)
	}
}

func TestListPaging(t *testing.T) {
	s := newStore(t, Config{})
	for i := 0; i < 25; i++ {
		s.Create(ctx, pod("default", fmt.Sprintf("p%02d", i), "", nil))
	}
	var names []string
	opts := ListOptions{Limit: 10}
	var firstRev int64
	for page := 0; ; page++ {
		res, err := s.List(ctx, "pods", opts)
		if err != nil {
			t.Fatal(err)
		}
		if page == 0 {
			firstRev = res.Revision
			s.Create(ctx, pod("default", "zz-late", "", nil)) // written while paging
		}
		if res.Revision != firstRev {
			t.Errorf("page %d revision %d, want the first page's %d", page, res.Revision, firstRev)
		}
		for _, o := range res.Items {
			names = append(names, o.GetObjectMeta().Name)
		}
		if res.Continue == "" {
			break
		}
		opts.Continue = res.Continue
	}
	if len(names) != 26 || names[0] != "p00" || names[24] != "p24" {
		t.Errorf("paged list gave %d names (%v), want p00..p24 and zz-late", len(names), names)
	}
	if _, err := s.List(ctx, "pods", ListOptions{Continue: "!!garbage"}); !errors.Is(err, errdefs.ErrBadRequest) {
		t.Errorf("bad continue err = %v, want bad request", err)
	}
}

func TestDeleteFinalizers(t *testing.T) {
	s := newStore(t, Config{})
	cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: "default", Finalizers: []string{"skiff.dev/test"}}}
	s.Create(ctx, cm)
	w, _ := s.Watch(ctx, "configmaps", WatchOptions{})
	defer w.Stop()

	got, err := s.Delete(ctx, api.Key{Resource: "configmaps", Namespace: "default", Name: "c"}, api.DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetObjectMeta().DeletionTimestamp == nil {
		t.Fatal("delete of an object with finalizers did not set deletionTimestamp")
	}
	again, err := s.Delete(ctx, api.Key{Resource: "configmaps", Namespace: "default", Name: "c"}, api.DeleteOptions{})
	if err != nil || rv(again) != rv(got) {
		t.Errorf("second delete: rv %d err %v; want unchanged rv %d", rv(again), err, rv(got))
	}
	live, err := s.Get(ctx, api.Key{Resource: "configmaps", Namespace: "default", Name: "c"})
	if err != nil {
		t.Fatalf("object with finalizers vanished: %v", err)
	}
	c := api.Clone(live.(*api.ConfigMap))
	c.Finalizers = nil
	if _, err := s.Update(ctx, c, UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, api.Key{Resource: "configmaps", Namespace: "default", Name: "c"}); !errdefs.IsNotFound(err) {
		t.Errorf("after finalizers removed, Get err = %v, want not found", err)
	}
	wantTypes(t, w, api.Modified, api.Deleted)
}

func TestDeletePodGrace(t *testing.T) {
	s := newStore(t, Config{})
	s.Create(ctx, pod("default", "bound", "n1", nil))
	s.Create(ctx, pod("default", "unbound", "", nil))

	if _, err := s.Delete(ctx, podKey("default", "unbound"), api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, podKey("default", "unbound")); !errdefs.IsNotFound(err) {
		t.Errorf("unbound pod not deleted at once: %v", err)
	}

	got, _ := s.Delete(ctx, podKey("default", "bound"), api.DeleteOptions{})
	m := got.GetObjectMeta()
	if m.DeletionTimestamp == nil || m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("bound pod delete: deletionTimestamp %v grace %v; want set and 30", m.DeletionTimestamp, m.DeletionGracePeriodSeconds)
	}
	// A status update by the agent while it stops the pod keeps it.
	st := api.Clone(got.(*api.Pod))
	st.Status.Phase = "Running"
	if _, err := s.Update(ctx, st, UpdateOptions{Subresource: "status"}); err != nil {
		t.Fatal(err)
	}
	ten := int64(10)
	shorter, _ := s.Delete(ctx, podKey("default", "bound"), api.DeleteOptions{GracePeriodSeconds: &ten})
	if g := shorter.GetObjectMeta().DeletionGracePeriodSeconds; g == nil || *g != 10 {
		t.Errorf("shorter grace: %v, want 10", g)
	}
	zero := int64(0)
	if _, err := s.Delete(ctx, podKey("default", "bound"), api.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, podKey("default", "bound")); !errdefs.IsNotFound(err) {
		t.Errorf("after grace 0 delete, Get err = %v, want not found", err)
	}
}

func TestDeletePreconditions(t *testing.T) {
	s := newStore(t, Config{})
	created, _ := s.Create(ctx, pod("default", "p", "", nil))
	other := "other"
	if _, err := s.Delete(ctx, podKey("default", "p"), api.DeleteOptions{Preconditions: &api.Preconditions{UID: &other}}); !errdefs.IsConflict(err) {
		t.Errorf("uid precondition err = %v, want conflict", err)
	}
	if _, err := s.Delete(ctx, podKey("default", "p"), api.DeleteOptions{Preconditions: &api.Preconditions{ResourceVersion: &other}}); !errdefs.IsConflict(err) {
		t.Errorf("rv precondition err = %v, want conflict", err)
	}
	uid := created.GetObjectMeta().UID
	if _, err := s.Delete(ctx, podKey("default", "p"), api.DeleteOptions{Preconditions: &api.Preconditions{UID: &uid}}); err != nil {
		t.Errorf("delete with right uid: %v", err)
	}
	if _, err := s.Delete(ctx, podKey("default", "p"), api.DeleteOptions{}); !errdefs.IsNotFound(err) {
		t.Errorf("delete missing err = %v, want not found", err)
	}
}

// wantTypes reads len(types) events from w and checks their types.
func wantTypes(t *testing.T, w api.Watcher, types ...api.EventType) []api.WatchEvent {
	t.Helper()
	var got []api.WatchEvent
	for range types {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed after %d events, want %v", len(got), types)
			}
			got = append(got, e)
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out after %d events, want %v", len(got), types)
		}
	}
	for i, e := range got {
		if e.Type != types[i] {
			t.Errorf("event %d: type %s (err %v), want %s", i, e.Type, e.Err, types[i])
		}
	}
	return got
}

func TestWatchExactlyOnceInOrder(t *testing.T) {
	s := newStore(t, Config{HistorySize: 100000})
	const writers, each, watchers = 8, 200, 10
	var ws []api.Watcher
	for i := 0; i < watchers; i++ {
		w, err := s.Watch(ctx, "pods", WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		ws = append(ws, w)
	}
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				name := fmt.Sprintf("w%d-%d", g, i)
				created, err := s.Create(ctx, pod("default", name, "", nil))
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					p := api.Clone(created.(*api.Pod))
					p.Labels = map[string]string{"touched": "yes"}
					if _, err := s.Update(ctx, p, UpdateOptions{}); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	total := writers*each + writers*each/2
	for i, w := range ws {
		seen := make(map[int64]bool)
		var last int64
		for n := 0; n < total; n++ {
			select {
			case e := <-w.ResultChan():
				r := rv(e.Object)
				if r <= last {
					t.Fatalf("watcher %d: revision %d after %d", i, r, last)
				}
				if seen[r] {
					t.Fatalf("watcher %d: revision %d twice", i, r)
				}
				seen[r], last = true, r
			case <-time.After(10 * time.Second):
				t.Fatalf("watcher %d: got %d of %d events", i, n, total)
			}
		}
		if last != int64(total) {
			t.Errorf("watcher %d: last revision %d, want %d", i, last, total)
		}
	}
	if st := s.Stats(); st.Commits >= st.Changes {
		t.Logf("no batching happened: %+v", st) // timing-dependent; not a failure
	}
}

func TestWatchResume(t *testing.T) {
	s := newStore(t, Config{})
	for i := 0; i < 5; i++ {
		s.Create(ctx, pod("default", fmt.Sprintf("p%d", i), "", nil))
	}
	from := s.Revision()
	s.Delete(ctx, podKey("default", "p0"), api.DeleteOptions{})
	s.Create(ctx, pod("default", "p9", "", nil))
	w, err := s.Watch(ctx, "pods", WatchOptions{Revision: from})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	got := wantTypes(t, w, api.Deleted, api.Added)
	if rv(got[0].Object) != from+1 || got[0].Object.GetObjectMeta().Name != "p0" || rv(got[1].Object) != from+2 {
		t.Errorf("resumed events: %s rv %d, %s rv %d", got[0].Object.GetObjectMeta().Name, rv(got[0].Object), got[1].Object.GetObjectMeta().Name, rv(got[1].Object))
	}
	select {
	case e := <-w.ResultChan():
		t.Errorf("extra event %s rv %d", e.Type, rv(e.Object))
	case <-time.After(50 * time.Millisecond):
	}
}

func TestWatchExpired(t *testing.T) {
	s := newStore(t, Config{HistorySize: 10})
	for i := 0; i < 20; i++ {
		s.Create(ctx, pod("default", fmt.Sprintf("p%d", i), "", nil))
	}
	if _, err := s.Watch(ctx, "pods", WatchOptions{Revision: 5}); !errdefs.IsExpired(err) {
		t.Errorf("watch from compacted revision err = %v, want expired", err)
	}
	if w, err := s.Watch(ctx, "pods", WatchOptions{Revision: 10}); err != nil {
		t.Errorf("watch from oldest kept revision: %v", err)
	} else {
		w.Stop()
	}

	// A watcher that does not read while the ring wraps gets an Error.
	w, err := s.Watch(ctx, "pods", WatchOptions{Revision: 15})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for i := 0; i < 200; i++ {
		s.Create(ctx, pod("default", fmt.Sprintf("q%d", i), "", nil))
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed without an error event")
			}
			if e.Type == api.Error {
				if !errdefs.IsExpired(e.Err) {
					t.Errorf("error event err = %v, want expired", e.Err)
				}
				return
			}
		case <-deadline:
			t.Fatal("slow watcher never told it fell behind")
		}
	}
}

func TestWatchSelectorsAndNamespaces(t *testing.T) {
	s := newStore(t, Config{})
	sel, _ := api.ParseSelector("app=web")
	w, _ := s.Watch(ctx, "pods", WatchOptions{Namespace: "a", Labels: sel})
	defer w.Stop()
	nodeSel, _ := api.ParseFieldSelector("spec.nodeName=n1")
	nw, _ := s.Watch(ctx, "pods", WatchOptions{Fields: nodeSel})
	defer nw.Stop()

	s.Create(ctx, pod("b", "x", "", map[string]string{"app": "web"})) // other namespace
	p, _ := s.Create(ctx, pod("a", "x", "", nil))                     // not matching
	q := api.Clone(p.(*api.Pod))
	q.Labels = map[string]string{"app": "web"}
	p, _ = s.Update(ctx, q, UpdateOptions{}) // starts matching → ADDED
	q = api.Clone(p.(*api.Pod))
	q.Labels = map[string]string{"app": "web", "v": "2"}
	p, _ = s.Update(ctx, q, UpdateOptions{}) // MODIFIED
	q = api.Clone(p.(*api.Pod))
	q.Labels = nil
	s.Update(ctx, q, UpdateOptions{}) // stops matching → DELETED
	wantTypes(t, w, api.Added, api.Modified, api.Deleted)

	// Binding a pod to a node is an ADDED for that node's watch.
	b, _ := s.Create(ctx, pod("a", "bindme", "", nil))
	bp := api.Clone(b.(*api.Pod))
	bp.Spec.NodeName = "n1"
	s.Update(ctx, bp, UpdateOptions{})
	got := wantTypes(t, nw, api.Added)
	if got[0].Object.GetObjectMeta().Name != "bindme" {
		t.Errorf("node watch got %s, want bindme", got[0].Object.GetObjectMeta().Name)
	}
}

func TestWatchBookmark(t *testing.T) {
	s := newStore(t, Config{})
	s.Create(ctx, pod("default", "p", "", nil))
	s.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: "default"}})
	w, _ := s.Watch(ctx, "pods", WatchOptions{Revision: 1, BookmarkInterval: 20 * time.Millisecond})
	defer w.Stop()
	got := wantTypes(t, w, api.Bookmark)
	if rv(got[0].Object) != 2 {
		t.Errorf("bookmark rv %d, want 2 (the configmap's revision was seen)", rv(got[0].Object))
	}
	if got[0].Object.GetTypeMeta().Kind != "Pod" {
		t.Errorf("bookmark kind %q, want Pod", got[0].Object.GetTypeMeta().Kind)
	}
}

func TestWatchStopAndClose(t *testing.T) {
	s := newStore(t, Config{})
	w, _ := s.Watch(ctx, "pods", WatchOptions{})
	w.Stop()
	select {
	case _, ok := <-w.ResultChan():
		if ok {
			t.Error("event after Stop")
		}
	case <-time.After(time.Second):
		t.Error("channel not closed after Stop")
	}
	w2, _ := s.Watch(ctx, "pods", WatchOptions{})
	s.Close()
	select {
	case <-w2.ResultChan():
	case <-time.After(time.Second):
		t.Error("watch not ended by Close")
	}
	if _, err := s.Create(ctx, pod("default", "late", "", nil)); !errdefs.IsUnavailable(err) {
		t.Errorf("Create after Close err = %v, want unavailable", err)
	}
}

func TestReopenKeepsRevision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	s.Create(ctx, pod("default", "a", "", nil))
	s.Create(ctx, pod("default", "b", "", nil))
	s.Delete(ctx, podKey("default", "b"), api.DeleteOptions{})
	s.Close()

	s = newStore(t, Config{Path: path})
	if s.Revision() != 3 {
		t.Errorf("revision after reopen = %d, want 3 (deletes count)", s.Revision())
	}
	got, err := s.Get(ctx, podKey("default", "a"))
	if err != nil || rv(got) != 1 {
		t.Errorf("after reopen a: rv %v err %v, want 1", got, err)
	}
	if _, err := s.Watch(ctx, "pods", WatchOptions{Revision: 1}); !errdefs.IsExpired(err) {
		t.Errorf("watch from before the restart err = %v, want expired", err)
	}
	w, err := s.Watch(ctx, "pods", WatchOptions{Revision: 3})
	if err != nil {
		t.Fatalf("watch from the current revision: %v", err)
	}
	defer w.Stop()
	c, _ := s.Create(ctx, pod("default", "c", "", nil))
	if rv(c) != 4 {
		t.Errorf("first revision after reopen = %d, want 4", rv(c))
	}
	wantTypes(t, w, api.Added)
}

func TestIdleWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, _ := Open(Config{Path: path})
	p, _ := s.Create(ctx, pod("default", "a", "", nil))
	s.Close()
	before, _ := os.Stat(path)
	time.Sleep(20 * time.Millisecond) // mtime granularity

	s = newStore(t, Config{Path: path})
	s.Get(ctx, podKey("default", "a"))
	s.List(ctx, "pods", ListOptions{})
	s.Update(ctx, p, UpdateOptions{})                                // no change
	s.Update(ctx, pod("default", "a", "", nil), UpdateOptions{})     // conflict? no: unconditional, same content except meta
	s.Delete(ctx, podKey("default", "missing"), api.DeleteOptions{}) // not found
	w, _ := s.Watch(ctx, "pods", WatchOptions{BookmarkInterval: time.Millisecond})
	time.Sleep(20 * time.Millisecond)
	w.Stop()
	after, _ := os.Stat(path)
	if !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Errorf("state.db changed while nothing changed: mtime %v → %v, size %d → %d", before.ModTime(), after.ModTime(), before.Size(), after.Size())
	}
}
