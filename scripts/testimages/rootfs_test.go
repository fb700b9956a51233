package testimages

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// extractRootfs writes the layer of the busybox image into a new
// directory and returns it.
func extractRootfs(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, Images()[0]); err != nil {
		t.Fatal(err)
	}
	l := readLayout(t, &buf)
	root := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(blobOf(t, l, l.manifest.Layers[0])))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !filepath.IsLocal(h.Name) {
			t.Fatalf("layer entry %q leaves the root", h.Name)
		}
		path := filepath.Join(root, h.Name)
		mode := h.FileInfo().Mode()
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, 0o755)
			if err == nil {
				err = os.Chmod(path, mode&(fs.ModePerm|fs.ModeSticky))
			}
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(path, b, mode.Perm())
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, path)
		default:
			t.Fatalf("layer entry %q of type %c", h.Name, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestRootfs(t *testing.T) {
	root := extractRootfs(t)
	for _, a := range Applets() {
		fi, err := os.Stat(filepath.Join(root, "bin", a))
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("/bin/%s does not resolve to an executable: %v", a, err)
		}
	}
	fi, err := os.Stat(filepath.Join(root, "tmp"))
	if err != nil || fi.Mode()&fs.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("/tmp mode %v, %v; want sticky 0777", fi.Mode(), err)
	}

	if os.Geteuid() != 0 {
		// Without chroot, run busybox from the tree at least.
		out, err := exec.Command(filepath.Join(root, "bin", "sh"), "-c", "echo ok").CombinedOutput()
		if err != nil || string(out) != "ok\n" {
			t.Errorf("sh -c 'echo ok' = %q, %v", out, err)
		}
		t.Skip("chroot needs root; checked busybox runs outside it only")
	}
	tests := []struct {
		args     []string
		env      []string
		want     string
		wantExit int
	}{
		{args: []string{"sh", "-c", "echo ok"}, want: "ok\n"},
		{args: []string{"id", "-u", "nobody"}, want: "65534\n"},
		{args: []string{"id", "-g", "nobody"}, want: "65534\n"},
		{args: []string{"cat", "/www/index.html"}, want: "hello from skiff\n"},
		{args: []string{"sh", "-c", "touch /tmp/x && ls /tmp && rm /tmp/x"}, want: "x\n"},
		{args: []string{"sh", "-c", "seq 3 | tail -n 1"}, want: "3\n"},
		{args: []string{"sh", "-c", "trap 'echo term' TERM; kill -TERM $$; echo after"}, want: "term\nafter\n"},
		// The exit image's entrypoint.
		{args: []string{"sh", "-c", "exit ${EXIT_CODE:-1}"}, env: []string{"EXIT_CODE=7"}, wantExit: 7},
		{args: []string{"sh", "-c", "exit ${EXIT_CODE:-1}"}, wantExit: 1},
	}
	for _, tt := range tests {
		cmd := chrootCommand(root, tt.args, tt.env)
		out, err := cmd.Output()
		code := cmd.ProcessState.ExitCode()
		if string(out) != tt.want || code != tt.wantExit {
			t.Errorf("chroot %q = %q exit %d (%v), want %q exit %d", tt.args, out, code, err, tt.want, tt.wantExit)
		}
	}
}

// TestRootfsHTTPD runs the httpd and badprobe commands in the chroot, on
// a free port instead of 8080, and checks / and /healthz.
func TestRootfsHTTPD(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	root := extractRootfs(t)
	tests := []struct {
		image       string
		wantHealthz int
	}{
		{"httpd", http.StatusOK},
		{"badprobe", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			var args []string
			for _, img := range Images() {
				if img.Name == tt.image {
					args = img.Cmd
				}
			}
			addr := freeAddr(t)
			args = replaceArg(args, "8080", addr)
			cmd := chrootCommand(root, args, nil)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Kill()
				cmd.Wait()
			}()
			client := &http.Client{Timeout: 5 * time.Second}
			var resp *http.Response
			var err error
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if resp, err = client.Get("http://" + addr + "/"); err == nil {
					break
				}
			}
			if err != nil {
				t.Fatalf("GET /: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "hello from skiff\n" {
				t.Errorf("GET / = %d %q, want 200 %q", resp.StatusCode, body, "hello from skiff\n")
			}
			resp, err = client.Get("http://" + addr + "/healthz")
			if err != nil {
				t.Fatalf("GET /healthz: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantHealthz {
				t.Errorf("GET /healthz = %d, want %d", resp.StatusCode, tt.wantHealthz)
			}
		})
	}
}

// chrootCommand runs args[0] from the image's PATH inside root.
func chrootCommand(root string, args, env []string) *exec.Cmd {
	// An absolute path is not looked up on the host; the chroot makes it
	// the image's /bin.
	cmd := exec.Command("/bin/"+args[0], args[1:]...)
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=/bin:/usr/bin"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	return cmd
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// replaceArg returns args with every argument old replaced by new.
func replaceArg(args []string, old, new string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == old {
			a = new
		}
		out[i] = a
	}
	return out
}
