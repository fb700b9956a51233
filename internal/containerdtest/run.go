package containerdtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// RunImage runs a host-network container of image in namespace, under
// the cgroup cgroupParent/<id>, with its own command or with args when
// given; it waits (up to 30 s, then kills it) for it to exit, removes it and returns its
// output. It fails the test when the container cannot run or exits other
// than 0.
func RunImage(t testing.TB, c *containerd.Client, namespace, cgroupParent, image string, args ...string) string {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), namespace)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	img, err := c.GetImage(ctx, image)
	if err != nil {
		t.Fatalf("get image %s: %v", image, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	id := "run-" + hex.EncodeToString(b)
	opts := []oci.SpecOpts{oci.WithImageConfig(img), oci.WithHostNamespace(specs.NetworkNamespace),
		oci.WithCgroup(cgroupParent + "/" + id)}
	if len(args) > 0 {
		opts = append(opts, oci.WithProcessArgs(args...))
	}
	ctr, err := c.NewContainer(ctx, id, containerd.WithImage(img), containerd.WithNewSnapshot(id, img), containerd.WithNewSpec(opts...))
	if err != nil {
		t.Fatalf("container of %s: %v", image, err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup)
	var out lockedBuffer
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, &out)))
	if err != nil {
		t.Fatalf("task of %s: %v", image, err)
	}
	exit, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("wait for the task of %s: %v", image, err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start the task of %s: %v", image, err)
	}
	st := <-exit
	task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	if err := st.Error(); err != nil {
		t.Fatalf("%q in %s did not exit: %v: %s", args, image, err, out.String())
	}
	if st.ExitCode() != 0 {
		t.Fatalf("%q in %s exited %d: %s", args, image, st.ExitCode(), out.String())
	}
	return out.String()
}

// lockedBuffer is a bytes.Buffer safe for the two writers of a task's
// stdout and stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
