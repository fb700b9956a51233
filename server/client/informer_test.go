package client_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/apiserver"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// The informer and typed client are tested against the real thing: the
// registry over a real bbolt store, in process and over HTTPS.

func newRegistry(t *testing.T, dir string, history int) (*registry.Registry, *store.Bolt) {
	t.Helper()
	st, err := store.Open(store.Config{Path: filepath.Join(dir, "state.db"), HistorySize: history})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{Store: st, BookmarkInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.EnsureNamespaces(context.Background()); err != nil {
		t.Fatal(err)
	}
	return reg, st
}

// serve runs the API over HTTPS for reg on addr until the returned stop.
func serve(t *testing.T, reg *registry.Registry, dir, addr string) (client.Config, func()) {
	t.Helper()
	pki, err := auth.EnsurePKI(filepath.Join(dir, "pki"), auth.PKIConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	token, _, _ := auth.EnsureAdminToken(filepath.Join(dir, "pki"))
	hash, _ := auth.LoadTokenHash(filepath.Join(dir, "pki"))
	srv, err := apiserver.New(apiserver.Config{Backend: reg, Auth: auth.NewStaticToken(hash, auth.Identity{Name: "admin"})})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for try := 0; try < 50; try++ { // the port may still be held by the previous server
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln, pki.ServerTLSConfig()); close(done) }()
	cfg := client.Config{Server: "https://" + ln.Addr().String(), CA: string(pki.CAPEM()), Token: token}
	return cfg, func() { cancel(); <-done }
}

// recorder is a handler that logs what it is told.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) OnAdd(o *api.ConfigMap) { r.add("add " + o.Name + "=" + o.Data["v"]) }
func (r *recorder) OnUpdate(old, new *api.ConfigMap) {
	r.add("update " + new.Name + "=" + old.Data["v"] + "→" + new.Data["v"])
}
func (r *recorder) OnDelete(o *api.ConfigMap) { r.add("delete " + o.Name) }
func (r *recorder) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		have := map[string]bool{}
		for _, e := range r.events {
			have[e] = true
		}
		r.mu.Unlock()
		all := true
		for _, w := range want {
			all = all && have[w]
		}
		if all {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf("handler saw %v; want to include %v", r.events, want)
}

func cm(name, v string) *api.ConfigMap {
	return &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{"group": name[:1]}}, Data: map[string]string{"v": v}}
}

func TestInformerInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg, st := newRegistry(t, t.TempDir(), 0)
	defer st.Close()
	cms := client.For[*api.ConfigMap](reg, "default")
	for i := 0; i < 1200; i++ { // more than one list page
		if _, err := cms.Create(ctx, cm(fmt.Sprintf("a%04d", i), "1")); err != nil {
			t.Fatal(err)
		}
	}
	inf := client.NewInformer[*api.ConfigMap](reg, "default", api.ListOptions{}, nil)
	rec := &recorder{}
	inf.AddHandler(rec)
	inf.AddIndex("group", func(c *api.ConfigMap) []string { return []string{c.Labels["group"]} })
	go inf.Run(ctx)
	if !inf.WaitForSync(ctx) {
		t.Fatal("no sync")
	}
	if n := len(inf.List()); n != 1200 {
		t.Fatalf("cache holds %d after sync, want 1200", n)
	}
	// An index added while running is built from the cache at once.
	inf.AddIndex("late", func(c *api.ConfigMap) []string { return []string{c.Name[:2]} })
	if n := len(inf.ByIndex("late", "a0")); n != 1000 {
		t.Errorf("late index a0 holds %d, want 1000", n)
	}
	cms.Create(ctx, cm("b1", "1"))
	got, _ := cms.Get(ctx, "a0001")
	got = api.Clone(got)
	got.Data["v"] = "2"
	cms.Update(ctx, got)
	cms.Delete(ctx, "a0002", api.DeleteOptions{})
	rec.waitFor(t, "add a0000=1", "add b1=1", "update a0001=1→2", "delete a0002")
	if c, ok := inf.Get("default", "a0001"); !ok || c.Data["v"] != "2" {
		t.Errorf("cache a0001 = %v", c)
	}
	if _, ok := inf.Get("default", "a0002"); ok {
		t.Error("deleted object still cached")
	}
	if n := len(inf.ByIndex("group", "b")); n != 1 {
		t.Errorf("ByIndex(group, b) = %d objects, want 1", n)
	}
	if n := len(inf.ByIndex("group", "a")); n != 1199 {
		t.Errorf("ByIndex(group, a) = %d objects, want 1199", n)
	}
}

// TestInformerSurvivesServerRestart: the server goes away and comes back
// with an empty watch history (the watch's revision has expired); the
// informer lists again and tells handlers exactly what changed meanwhile.
func TestInformerSurvivesServerRestart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	reg, st := newRegistry(t, dir, 0)
	cfg, stop := serve(t, reg, dir, "127.0.0.1:0")
	addr := strings.TrimPrefix(cfg.Server, "https://")
	b, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cms := client.For[*api.ConfigMap](b, "default")
	cms.Create(ctx, cm("keep", "1"))
	cms.Create(ctx, cm("change", "1"))
	cms.Create(ctx, cm("gone", "1"))

	inf := client.NewInformer[*api.ConfigMap](b, "default", api.ListOptions{}, nil)
	rec := &recorder{}
	inf.AddHandler(rec)
	go inf.Run(ctx)
	inf.WaitForSync(ctx)
	cms.Create(ctx, cm("live", "1"))
	rec.waitFor(t, "add live=1")

	// Down: change things behind the informer's back, in the store.
	stop()
	local := client.For[*api.ConfigMap](reg, "default")
	c, _ := local.Get(ctx, "change")
	c = api.Clone(c)
	c.Data["v"] = "2"
	local.Update(ctx, c)
	local.Delete(ctx, "gone", api.DeleteOptions{})
	local.Create(ctx, cm("new", "1"))
	st.Close()

	// Up again on the same data and address, with a fresh history.
	reg2, st2 := newRegistry(t, dir, 0)
	defer st2.Close()
	_, stop2 := serve(t, reg2, dir, addr)
	defer stop2()
	rec.waitFor(t, "update change=1→2", "delete gone", "add new=1")
	var names []string
	for _, o := range inf.List() {
		names = append(names, o.Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "change,keep,live,new" {
		t.Errorf("cache after restart: %v", names)
	}
	for _, e := range rec.events {
		if strings.Contains(e, "keep") && e != "add keep=1" {
			t.Errorf("unchanged object reported again: %s", e)
		}
	}
	// Changes after the relist arrive as usual.
	cms.Create(ctx, cm("after", "1"))
	rec.waitFor(t, "add after=1")
}

// TestInformerRelistsWhenItFallsBehind: a handler slow enough that the
// store's history wraps past the informer's watch; it relists and the
// cache ends equal to the store.
func TestInformerRelistsWhenItFallsBehind(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg, st := newRegistry(t, t.TempDir(), 16)
	defer st.Close()
	inf := client.NewInformer[*api.ConfigMap](reg, "default", api.ListOptions{}, nil)
	gate := make(chan struct{})
	var once sync.Once
	inf.AddHandler(client.HandlerFuncs[*api.ConfigMap]{AddFunc: func(*api.ConfigMap) { once.Do(func() { <-gate }) }})
	go inf.Run(ctx)
	inf.WaitForSync(ctx)
	cms := client.For[*api.ConfigMap](reg, "default")
	for i := 0; i < 200; i++ {
		cms.Create(ctx, cm(fmt.Sprintf("x%03d", i), "1"))
	}
	close(gate)
	deadline := time.Now().Add(10 * time.Second)
	for len(inf.List()) != 200 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(inf.List()); n != 200 {
		t.Errorf("cache holds %d after falling behind, want 200", n)
	}
}

func TestTypedClient(t *testing.T) {
	ctx := context.Background()
	reg, st := newRegistry(t, t.TempDir(), 0)
	defer st.Close()
	pods := client.For[*api.Pod](reg, "default")
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p"}, Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
	created, err := pods.Create(ctx, p)
	if err != nil || created.Spec.RestartPolicy != "Always" {
		t.Fatalf("create: %v %v", created, err)
	}
	created.Status.Phase = "Running"
	if st, err := pods.UpdateStatus(ctx, created); err != nil || st.Status.Phase != "Running" {
		t.Errorf("UpdateStatus: %v %v", st, err)
	}
	items, rv, cont, err := pods.List(ctx, api.ListOptions{})
	if err != nil || len(items) != 1 || rv == "" || cont != "" {
		t.Errorf("List: %d items rv %q cont %q err %v", len(items), rv, cont, err)
	}
	if _, err := pods.Patch(ctx, "p", []byte(`{"metadata":{"labels":{"a":"b"}}}`)); err != nil {
		t.Error(err)
	}
	// RetryOnConflict: an update from a stale read succeeds on retry.
	stale, _ := pods.Get(ctx, "p")
	pods.Patch(ctx, "p", []byte(`{"metadata":{"labels":{"x":"y"}}}`))
	tries := 0
	err = client.RetryOnConflict(ctx, func() error {
		tries++
		cur := stale
		if tries > 1 {
			cur, _ = pods.Get(ctx, "p")
		}
		cur = api.Clone(cur)
		cur.Labels["z"] = "1"
		_, err := pods.Update(ctx, cur)
		return err
	})
	if err != nil || tries != 2 {
		t.Errorf("RetryOnConflict: err %v after %d tries, want success on the 2nd", err, tries)
	}
	if _, err := pods.Delete(ctx, "p", api.DeleteOptions{}); err != nil {
		t.Error(err)
	}
	if _, err := pods.Get(ctx, "p"); !errdefs.IsNotFound(err) {
		t.Errorf("Get after delete: %v", err)
	}
}
