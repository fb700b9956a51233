package hollow_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"

	"github.com/skiffhq/skiff/server/controller/nodeipam"
	"github.com/skiffhq/skiff/server/nodelease"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// testServer is the part of a skiff server hollow nodes need: the real
// store on disk, the registry over it, the lease table and nodeipam
// handing out /24s of a /12 (4,096 nodes; the server's default /16
// holds only 256).
type testServer struct {
	store  *store.Bolt
	reg    *registry.Registry
	leases *nodelease.Table
	calls  *countingBackend // what the hollow nodes ask of the registry
}

// leaseRenewer renews leases straight in the table, as the embedded
// agent's does in cmd/skiff.
type leaseRenewer struct{ t *nodelease.Table }

func (l leaseRenewer) RenewLease(_ context.Context, node string, d time.Duration) error {
	l.t.Renew(node, "skiff:node:"+node, d)
	return nil
}

func newTestServer(tb testing.TB, ctx context.Context) *testServer {
	tb.Helper()
	st, err := store.Open(store.Config{Path: filepath.Join(tb.TempDir(), "state.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		tb.Fatal(err)
	}
	if err := reg.EnsureNamespaces(ctx); err != nil {
		tb.Fatal(err)
	}
	ipam, err := nodeipam.New(nodeipam.Config{Backend: reg, ClusterCIDR: "10.32.0.0/12"})
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	ictx, cancel := context.WithCancel(ctx)
	go func() { ipam.Run(ictx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	return &testServer{store: st, reg: reg, leases: nodelease.New(nil), calls: &countingBackend{Backend: reg, n: map[string]int{}}}
}

// countingBackend counts calls by method and resource.
type countingBackend struct {
	client.Backend
	mu sync.Mutex
	n  map[string]int
}

func (c *countingBackend) count(method, resource string) {
	c.mu.Lock()
	c.n[method+" "+resource]++
	c.mu.Unlock()
}

// take returns the counts so far, "GET nodes=12 …", and resets them.
func (c *countingBackend) take() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	total := 0
	for k, v := range c.n {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
		total += v
	}
	sort.Strings(parts)
	c.n = map[string]int{}
	return strings.Join(parts, " "), total
}

func (c *countingBackend) Create(ctx context.Context, resource, namespace string, obj api.Object) (api.Object, error) {
	c.count("create", resource)
	return c.Backend.Create(ctx, resource, namespace, obj)
}

func (c *countingBackend) Get(ctx context.Context, resource, namespace, name string) (api.Object, error) {
	c.count("get", resource)
	return c.Backend.Get(ctx, resource, namespace, name)
}

func (c *countingBackend) List(ctx context.Context, resource, namespace string, opts api.ListOptions) (*client.ObjectList, error) {
	c.count("list", resource)
	return c.Backend.List(ctx, resource, namespace, opts)
}

func (c *countingBackend) Update(ctx context.Context, resource, namespace string, obj api.Object, sub string) (api.Object, error) {
	c.count("update"+strings.TrimSuffix("/"+sub, "/"), resource)
	return c.Backend.Update(ctx, resource, namespace, obj, sub)
}

func (c *countingBackend) Patch(ctx context.Context, resource, namespace, name string, patch []byte, sub string) (api.Object, error) {
	c.count("patch", resource)
	return c.Backend.Patch(ctx, resource, namespace, name, patch, sub)
}

func (c *countingBackend) Delete(ctx context.Context, resource, namespace, name string, opts api.DeleteOptions) (api.Object, error) {
	c.count("delete", resource)
	return c.Backend.Delete(ctx, resource, namespace, name, opts)
}

func (c *countingBackend) Watch(ctx context.Context, resource, namespace string, opts api.ListOptions) (api.Watcher, error) {
	c.count("watch", resource)
	return c.Backend.Watch(ctx, resource, namespace, opts)
}
