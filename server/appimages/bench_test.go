package appimages

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/skiffhq/skiff/internal/containerdtest"
	"github.com/skiffhq/skiff/scripts/testimages"
)

// benchNS numbers the namespaces the benchmark pulls into, one per pull.
var benchNS atomic.Int64

// BenchmarkPull pulls one image of ~34 MiB (a busybox with 32 MiB of
// random bytes appended, so the layer is the image's own) (a) through the
// Handler and (b) from Debian's docker-registry, both on the loopback,
// each into a namespace of its own (the test containerd does not share
// content across namespaces), and reports both rates and their ratio.
// Pulls fetch and do not unpack: unpacking costs the same either way.
//
//	go test -run '^$' -bench BenchmarkPull -benchtime 10x ./server/appimages/
//
// benchImage is the ~34 MiB image the benchmarks pull, served by the
// Handler and by a docker-registry.
type benchImage struct {
	c             *containerd.Client
	target, layer ocispec.Descriptor
	size          int64 // target and all it reaches
	handlerAddr   string
	handlerHosts  docker.RegistryHosts
	handlerRef    string
	registryAddr  string
	registryHosts docker.RegistryHosts
	registryRef   string
}

// newBenchImage makes the image, serves it through a Handler on the
// loopback and pushes it to a docker-registry on the loopback.
func newBenchImage(tb testing.TB) *benchImage {
	c := testClient(tb)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		tb.Fatalf("busybox-static is needed (scripts/install-deps.sh installs it): %v", err)
	}
	extra := make([]byte, 32<<20)
	rand.Read(extra)
	noisy := filepath.Join(tb.TempDir(), "busybox")
	if err := os.WriteFile(noisy, append(bb, extra...), 0o755); err != nil {
		tb.Fatal(err)
	}
	target := importImage(tb, c, testimages.Spec{Name: "bench", Cmd: []string{"/bin/sh"}, Busybox: noisy},
		testHost+"/apps/bench:1", testHost+"/apps/bench@")
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	// The size is of the target and all it reaches.
	var size int64
	var layer ocispec.Descriptor
	reach, _, err := walk(ctx, c.ContentStore(), target)
	if err != nil {
		tb.Fatal(err)
	}
	for _, d := range reach {
		size += d.Size
		if images.IsLayerType(d.MediaType) {
			layer = d
		}
	}

	h, err := New(Config{
		Containerd: func(context.Context) (*containerd.Client, error) { return c, nil },
		Namespace:  testNamespace,
		Host:       testHost,
	})
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	tb.Cleanup(func() { srv.Close() })
	handlerHosts := func(string) ([]docker.RegistryHost, error) {
		return []docker.RegistryHost{{
			Client: http.DefaultClient, Host: l.Addr().String(), Scheme: "http", Path: "/v2",
			Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
		}}, nil
	}
	handlerRef := testHost + "/apps/bench@" + target.Digest.String()

	if _, err := exec.LookPath("docker-registry"); err != nil {
		tb.Skip("docker-registry not found: scripts/install-deps.sh installs it (Debian package docker-registry)")
	}
	addr := containerdtest.StartRegistry(tb)
	registryHosts := docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost))
	registryRef := addr + "/apps/bench@" + target.Digest.String()
	if err := c.Push(ctx, addr+"/apps/bench:1", target, containerd.WithResolver(docker.NewResolver(docker.ResolverOptions{Hosts: registryHosts}))); err != nil {
		tb.Fatalf("push to the registry at %s: %v", addr, err)
	}

	return &benchImage{c: c, target: target, layer: layer, size: size,
		handlerAddr: l.Addr().String(), handlerHosts: handlerHosts, handlerRef: handlerRef,
		registryAddr: addr, registryHosts: registryHosts, registryRef: registryRef}
}

func BenchmarkPull(b *testing.B) {
	im := newBenchImage(b)
	c, target, size := im.c, im.target, im.size
	handlerRef, handlerHosts, registryRef, registryHosts := im.handlerRef, im.handlerHosts, im.registryRef, im.registryHosts
	pull := func(ref string, hosts docker.RegistryHosts) time.Duration {
		ns := fmt.Sprintf("bench-%d", benchNS.Add(1))
		nctx := namespaces.WithNamespace(context.Background(), ns)
		start := time.Now()
		img, err := c.Pull(nctx, ref, containerd.WithResolver(docker.NewResolver(docker.ResolverOptions{Hosts: hosts})))
		took := time.Since(start)
		if err != nil {
			b.Fatalf("pull %s: %v", ref, err)
		}
		if img.Target().Digest != target.Digest {
			b.Fatalf("pull %s: got %s, want %s", ref, img.Target().Digest, target.Digest)
		}
		if err := c.ImageService().Delete(nctx, ref, images.SynchronousDelete()); err != nil {
			b.Fatalf("delete %s: %v", ref, err)
		}
		if err := c.NamespaceService().Delete(nctx, ns); err != nil {
			b.Fatalf("delete namespace %s: %v", ns, err)
		}
		return took
	}
	// One of each first, so that neither pays for warming up.
	pull(handlerRef, handlerHosts)
	pull(registryRef, registryHosts)

	var viaHandler, viaRegistry time.Duration
	n := 0
	for b.Loop() {
		viaHandler += pull(handlerRef, handlerHosts)
		viaRegistry += pull(registryRef, registryHosts)
		n++
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(n) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(viaHandler), "handler-MB/s")
	b.ReportMetric(mbps(viaRegistry), "registry-MB/s")
	b.ReportMetric(mbps(viaHandler)/mbps(viaRegistry), "handler/registry")
	b.ReportMetric(float64(size)/1e6, "MB/image")
}

// BenchmarkBlobGet downloads the benchmark image's layer (~34 MiB) with
// a plain HTTP GET, from the Handler and from docker-registry: the rate of
// serving alone, without a puller's writing.
//
//	go test -run '^$' -bench BenchmarkBlobGet ./server/appimages/
func BenchmarkBlobGet(b *testing.B) {
	im := newBenchImage(b)
	get := func(url string) time.Duration {
		start := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || n != im.layer.Size {
			b.Fatalf("GET %s: %d, %d bytes (%v), want 200 and %d bytes", url, resp.StatusCode, n, err, im.layer.Size)
		}
		return time.Since(start)
	}
	handlerURL := "http://" + im.handlerAddr + "/v2/apps/bench/blobs/" + im.layer.Digest.String()
	registryURL := "http://" + im.registryAddr + "/v2/apps/bench/blobs/" + im.layer.Digest.String()
	get(handlerURL)
	get(registryURL)
	var viaHandler, viaRegistry time.Duration
	n := 0
	for b.Loop() {
		viaHandler += get(handlerURL)
		viaRegistry += get(registryURL)
		n++
	}
	mbps := func(d time.Duration) float64 { return float64(im.layer.Size) * float64(n) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(viaHandler), "handler-MB/s")
	b.ReportMetric(mbps(viaRegistry), "registry-MB/s")
	b.ReportMetric(mbps(viaHandler)/mbps(viaRegistry), "handler/registry")
}

// BenchmarkReach measures what reachability costs a blob request: HEAD of
// a layer with the reach of the repository's images cached (every request
// after the first) and with the cache emptied before each request (a walk
// of the manifests each time).
//
//	go test -run '^$' -bench BenchmarkReach ./server/appimages/
func BenchmarkReach(b *testing.B) {
	c := testClient(b)
	target := importImage(b, c, testimages.Spec{Name: "busybox", Cmd: []string{"/bin/sh"}}, testHost+"/apps/reach:1", testHost+"/apps/reach@")
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	reach, _, err := walk(ctx, c.ContentStore(), target)
	if err != nil {
		b.Fatal(err)
	}
	var layer ocispec.Descriptor
	for _, d := range reach {
		if images.IsLayerType(d.MediaType) {
			layer = d
		}
	}
	h, err := New(Config{
		Containerd: func(context.Context) (*containerd.Client, error) { return c, nil },
		Namespace:  testNamespace,
		Host:       testHost,
	})
	if err != nil {
		b.Fatal(err)
	}
	path := "/v2/apps/reach/blobs/" + layer.Digest.String()
	for _, tc := range []struct {
		name  string
		empty bool
	}{{"cached", false}, {"walk", true}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if tc.empty {
					h.cache.mu.Lock()
					h.cache.reaches = nil
					h.cache.mu.Unlock()
				}
				w := &discardWriter{header: http.Header{}}
				h.ServeHTTP(w, mustRequest(b, "HEAD", path))
				if w.status != 0 && w.status != 200 {
					b.Fatalf("HEAD %s: %d", path, w.status)
				}
			}
		})
	}
}

// discardWriter is an http.ResponseWriter that keeps the status only.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

func mustRequest(b *testing.B, method, path string) *http.Request {
	r, err := http.NewRequest(method, path, nil)
	if err != nil {
		b.Fatal(err)
	}
	return r
}
