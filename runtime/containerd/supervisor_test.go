package containerd

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// busyboxImage writes an OCI-layout tarball of one uncompressed layer
// holding /bin/busybox (Debian's busybox-static) and its applets, named
// skiff.test/busybox:latest, and returns its path.
func busyboxImage(t *testing.T) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed to build the test image (scripts/install-deps.sh installs it): %v", err)
	}
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	lw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	lw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))})
	lw.Write(bb)
	for _, a := range []string{"sh", "echo", "sleep", "cat"} {
		lw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	lw.Close()

	blobs := map[string][]byte{}
	add := func(b []byte) (string, int) {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
		blobs[d] = b
		return d, len(b)
	}
	ld, ls := add(layer.Bytes())
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"/bin/sh"}, "Env": []string{"PATH=/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{ld}}})
	cd, cs := add(cfg)
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}}})
	md, ms := add(man)
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{map[string]any{
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
		"annotations": map[string]string{"io.containerd.image.name": "skiff.test/busybox:latest", "org.opencontainers.image.ref.name": "latest"}}}})

	path := filepath.Join(t.TempDir(), "busybox-oci.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	put := func(name string, b []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
	}
	put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	put("index.json", index)
	for d, b := range blobs {
		put("blobs/sha256/"+d[len("sha256:"):], b)
	}
	tw.Close()
	f.Close()
	return path
}

// TestSupervisedContainerd runs a real containerd child, imports an image
// through it, kills containerd with SIGKILL, and checks that the
// supervisor brings it back with the image still there.
func TestSupervisedContainerd(t *testing.T) {
	dir := t.TempDir()
	s, err := NewSupervisor(SupervisorConfig{RootDir: filepath.Join(dir, "root"), StateDir: filepath.Join(dir, "run")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("supervisor did not stop containerd within 20s")
		}
	}()

	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	defer ccancel()
	c, err := Connect(cctx, s.Address())
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(busyboxImage(t))
	names, err := ImportImages(ctx, c, f)
	f.Close()
	c.Close()
	if err != nil || len(names) != 1 || names[0] != "skiff.test/busybox:latest" {
		t.Fatalf("import: %v %v", names, err)
	}

	first := s.PID()
	if first == 0 {
		t.Fatal("no containerd pid")
	}
	syscall.Kill(first, syscall.SIGKILL)
	deadline := time.Now().Add(20 * time.Second)
	for (s.PID() == 0 || s.PID() == first) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if s.PID() == 0 || s.PID() == first {
		t.Fatal("containerd not restarted after SIGKILL")
	}
	c, err = Connect(cctx, s.Address())
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	defer c.Close()
	imgs, err := c.ListImages(cctx)
	if err != nil || len(imgs) != 1 || imgs[0].Name() != "skiff.test/busybox:latest" {
		t.Errorf("images after restart: %v %v", imgs, err)
	}

	// Starting again writes nothing when the config is unchanged.
	cfgPath := filepath.Join(dir, "root", "config.toml")
	before, _ := os.Stat(cfgPath)
	time.Sleep(10 * time.Millisecond)
	if _, err := s.writeConfig(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(cfgPath)
	if !before.ModTime().Equal(after.ModTime()) {
		t.Error("unchanged containerd config rewritten")
	}
}

func TestSupervisorConfigErrors(t *testing.T) {
	if _, err := NewSupervisor(SupervisorConfig{}); err == nil {
		t.Error("missing directories accepted")
	}
	_, err := NewSupervisor(SupervisorConfig{Binary: "no-such-containerd", RootDir: "/x", StateDir: "/y"})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("--containerd-socket")) {
		t.Errorf("missing binary: %v, want a hint", err)
	}
}
