package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/client"
)

// The end-to-end tests run the built skiff binary: a real server on
// loopback with its own data directory, and the CLI against it.

var skiffBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	skiffBin = filepath.Join(dir, "skiff")
	build := exec.Command("go", "build", "-o", skiffBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build skiff:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type e2eServer struct {
	t       testing.TB
	dataDir string
	config  string // admin.yaml
	url     string
	cmd     *exec.Cmd
	log     *lockedBuffer
	started time.Duration // process start to /readyz 200
	exited  chan struct{} // closed when the process has exited
}

// startServer runs `skiff server` on dataDir; listen "" picks a free port;
// extra flags follow the ones it always passes.
func startServer(t testing.TB, dataDir, listen string, flags ...string) *e2eServer {
	t.Helper()
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	s := &e2eServer{t: t, dataDir: dataDir, config: filepath.Join(dataDir, "admin.yaml"), log: &lockedBuffer{}}
	// A server config file, so that the file path is exercised too; the
	// flags win over it.
	serverCfg := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(serverCfg, []byte("logLevel: info\nbookmarkSeconds: 1\nlisten: 127.0.0.1:1\n"), 0o600)
	// The control plane alone: node_e2e_test.go runs the agent.
	s.cmd = exec.Command(skiffBin, append([]string{"server", "--data-dir", dataDir, "--listen", listen, "--config", serverCfg, "--disable-agent"}, flags...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	begin := time.Now()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() { s.stop() })
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			t.Fatalf("server exited: %v; log:\n%s", s.cmd.ProcessState, s.log)
		default:
		}
		if cfg, err := client.LoadConfig(s.config); err == nil && s.ready(cfg, listen) {
			s.url = cfg.Server
			s.started = time.Since(begin)
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("server not ready in 15s; log:\n%s", s.log)
	return nil
}

func (s *e2eServer) ready(cfg client.Config, listen string) bool {
	if !strings.HasSuffix(listen, ":0") && !strings.HasSuffix(cfg.Server, listen[strings.LastIndex(listen, ":"):]) {
		return false // admin.yaml from an earlier run, not yet rewritten
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(cfg.CA))
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(cfg.Server + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

func (s *e2eServer) port() string {
	u, _ := url.Parse(s.url)
	return u.Port()
}

func (s *e2eServer) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.t.Errorf("server did not stop within 10s of SIGTERM; log:\n%s", s.log)
		s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *e2eServer) kill9() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

type result struct {
	out, err string
	code     int
}

// skiff runs the CLI with the server's admin config.
func (s *e2eServer) skiff(stdin string, args ...string) result {
	s.t.Helper()
	return runSkiff(s.t, []string{"SKIFF_CONFIG=" + s.config}, stdin, args...)
}

func runSkiff(t testing.TB, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(skiffBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run skiff %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

func (r result) must(t *testing.T, args ...string) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("skiff %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.out, r.err)
	}
	return r
}

const manifest = `# the shop
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {GREETING: hello}
---
apiVersion: v1
kind: Pod
metadata: {name: solo, namespace: shop, labels: {app: solo}}
spec:
  containers: [{name: c, image: busybox}]
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestE2EApplyGetDescribeDelete(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "")
	t.Logf("server ready %v after start", s.started)
	dir := t.TempDir()
	m := writeFile(t, dir, "shop.yaml", manifest)

	r := s.skiff("", "apply", "-f", m).must(t)
	for _, want := range []string{"namespace/shop created", "deployment/web created", "service/web created", "configmap/settings created", "pod/solo created"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Index(r.out, "namespace/shop") > strings.Index(r.out, "deployment/web") {
		t.Errorf("namespace not applied first:\n%s", r.out)
	}
	r = s.skiff("", "apply", "-f", m).must(t)
	if strings.Count(r.out, "unchanged") != 5 {
		t.Errorf("re-apply of the same manifest:\n%s\nwant five unchanged", r.out)
	}
	m2 := writeFile(t, dir, "shop.yaml", strings.Replace(manifest, "replicas: 2", "replicas: 3", 1))
	r = s.skiff("", "apply", "-f", m2).must(t)
	if !strings.Contains(r.out, "deployment/web configured") || !strings.Contains(r.out, "spec.replicas: 2 → 3") {
		t.Errorf("apply of a change:\n%s\nwant deployment/web configured with spec.replicas: 2 → 3", r.out)
	}
	// From stdin too.
	if r := s.skiff(manifest, "apply", "-f", "-").must(t); !strings.Contains(r.out, "deployment/web configured") {
		t.Errorf("apply from stdin:\n%s", r.out)
	}

	// The Deployment's pods are in shop too: ask for the one pod by label.
	r = s.skiff("", "get", "pods", "-n", "shop", "-l", "app=solo", "-o", "json").must(t)
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Metadata struct{ Name, Namespace, ResourceVersion string } `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.out), &list); err != nil || list.Kind != "List" || len(list.Items) != 1 || list.Items[0].Metadata.Name != "solo" {
		t.Errorf("get pods -o json: %v\n%s", err, r.out)
	}
	r = s.skiff("", "get", "deployments", "-n", "shop").must(t)
	if !strings.Contains(r.out, "NAME") || !strings.Contains(r.out, "UP-TO-DATE") || !strings.Contains(r.out, "web") || !strings.Contains(r.out, "0/2") {
		t.Errorf("get deployments table:\n%s", r.out)
	}
	r = s.skiff("", "get", "deploy,svc,cm", "-n", "shop").must(t)
	for _, want := range []string{"deployment/web", "service/web", "configmap/settings", "UP-TO-DATE", "CLUSTER-IP"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("get deploy,svc,cm lacks %q:\n%s", want, r.out)
		}
	}
	r = s.skiff("", "get", "po", "-A", "-l", "app=solo").must(t)
	if !strings.Contains(r.out, "NAMESPACE") || !strings.Contains(r.out, "shop") || !strings.Contains(r.out, "solo") {
		t.Errorf("get po -A -l app=solo:\n%s", r.out)
	}
	r = s.skiff("", "get", "po", "-A", "-l", "app=nothing").must(t)
	if r.out != "" || !strings.Contains(r.err, "No resources found") {
		t.Errorf("empty get: out %q err %q", r.out, r.err)
	}
	r = s.skiff("", "get", "svc", "web", "-n", "shop", "-o", "yaml").must(t)
	if !strings.Contains(r.out, "kind: Service") || !strings.Contains(r.out, "targetPort: 8080") {
		t.Errorf("get svc web -o yaml:\n%s", r.out)
	}
	r = s.skiff("", "get", "widgets")
	if r.code != 1 || !strings.Contains(r.err, "unknown kind") || !strings.Contains(r.err, "deployments (deploy)") {
		t.Errorf("get widgets: %d %q", r.code, r.err)
	}

	r = s.skiff("", "describe", "pod", "solo", "-n", "shop").must(t)
	for _, want := range []string{"Name:", "solo", "Image:", "busybox", "Events:", "<none>"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("describe pod lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, lastAppliedAnnotation) {
		t.Errorf("describe shows the last-applied annotation:\n%s", r.out)
	}

	r = s.skiff("", "delete", "pod", "solo", "-n", "shop").must(t)
	if !strings.Contains(r.out, `pod "solo" deleted`) {
		t.Errorf("delete pod: %s", r.out)
	}
	r = s.skiff("", "delete", "pod", "solo", "-n", "shop")
	if r.code != 1 || !strings.Contains(r.err, "not found") {
		t.Errorf("delete missing pod: %d %q", r.code, r.err)
	}
	s.skiff("", "delete", "pod", "solo", "-n", "shop", "--ignore-not-found").must(t)
	r = s.skiff("", "delete", "-f", m2, "--ignore-not-found").must(t)
	if !strings.Contains(r.out, `deployment "web" deleted`) || !strings.Contains(r.out, `namespace "shop"`) {
		t.Errorf("delete -f:\n%s\n%s", r.out, r.err)
	}
}

func TestE2EBadManifestChangesNothing(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "")
	bad := `apiVersion: apps/v1
kind: Deployment
metadata: {namespace: default}
spec:
  replicas: -1
  replica: 2
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers: [{name: c, image: busybox, imagePullPolcy: Always}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: fine}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c, image: busybox, ports: [{containerPort: "eighty"}]}]
`
	m := writeFile(t, t.TempDir(), "bad.yaml", bad)
	r := s.skiff("", "apply", "-f", m)
	if r.code != 1 {
		t.Fatalf("apply of a bad manifest: exit %d, want 1\n%s%s", r.code, r.out, r.err)
	}
	for _, want := range []string{
		"bad.yaml: document 1 (Deployment \"\"): spec.replica: unknown field",
		"document 1 (Deployment \"\"): spec.template.spec.containers[0].imagePullPolcy: unknown field",
		"document 1 (Deployment \"\"): metadata.name: required",
		"document 1 (Deployment \"\"): spec.replicas",
		"document 3 (Pod \"p\"): spec.containers[0].ports[0].containerPort",
		"nothing was applied",
	} {
		if !strings.Contains(r.err, want) {
			t.Errorf("error output lacks %q:\n%s", want, r.err)
		}
	}
	if r := s.skiff("", "get", "configmaps").must(t); strings.Contains(r.out, "fine") {
		t.Errorf("a bad manifest still created the good document:\n%s", r.out)
	}
	r = s.skiff("", "apply", "-f", writeFile(t, t.TempDir(), "x.yaml", "kind: Gizmo\napiVersion: v1\nmetadata: {name: g}\n"))
	if r.code != 1 || !strings.Contains(r.err, `kind: unsupported value "Gizmo"`) {
		t.Errorf("unknown kind: %d %s", r.code, r.err)
	}
	r = s.skiff("", "apply", "-f", writeFile(t, t.TempDir(), "y.yaml", "kind: [unclosed\n"))
	if r.code != 1 || !strings.Contains(r.err, "y.yaml: document 1") {
		t.Errorf("malformed YAML: %d %s", r.code, r.err)
	}
}

func TestE2EStaleUpdateConflicts(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "")
	dir := t.TempDir()
	s.skiff("", "apply", "-f", writeFile(t, dir, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: one}\n")).must(t)
	live := s.skiff("", "get", "cm", "c", "-o", "yaml").must(t).out
	first := writeFile(t, dir, "a.yaml", strings.Replace(live, "k: one", "k: two", 1))
	s.skiff("", "apply", "-f", first).must(t)
	stale := writeFile(t, dir, "b.yaml", strings.Replace(live, "k: one", "k: three", 1))
	r := s.skiff("", "apply", "-f", stale)
	if r.code != 1 || !strings.Contains(r.err, "conflict") || !strings.Contains(r.err, "resourceVersion") {
		t.Errorf("apply with a stale resourceVersion: %d\n%s", r.code, r.err)
	}
	if out := s.skiff("", "get", "cm", "c", "-o", "json").must(t).out; !strings.Contains(out, `"k": "two"`) {
		t.Errorf("the stale update changed the object:\n%s", out)
	}
}

func TestE2EWatch(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "")
	cmd := exec.Command(skiffBin, "get", "configmaps", "-w")
	cmd.Env = append(os.Environ(), "SKIFF_CONFIG="+s.config)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	time.Sleep(300 * time.Millisecond)
	s.skiff("", "apply", "-f", writeFile(t, t.TempDir(), "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched}\n")).must(t)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l := <-lines:
			if strings.HasPrefix(l, "watched") {
				return
			}
		case <-deadline:
			t.Fatal("get -w printed no row for a configmap created meanwhile")
		}
	}
}

func TestE2EAuthAndConfigErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "")
	cfg, _ := client.LoadConfig(s.config)
	cfg.Token = "skiff_wrong"
	wrong := filepath.Join(t.TempDir(), "wrong.yaml")
	client.WriteConfig(wrong, cfg)
	r := runSkiff(t, nil, "", "get", "pods", "--config", wrong)
	if r.code != 1 || !strings.Contains(r.err, "invalid bearer token") {
		t.Errorf("wrong token: %d %q", r.code, r.err)
	}
	home := t.TempDir()
	r = runSkiff(t, []string{"HOME=" + home, "SKIFF_CONFIG="}, "", "get", "pods", "--data-dir", filepath.Join(home, "none"))
	if r.code != 1 || !strings.Contains(r.err, "no client config found") || !strings.Contains(r.err, "admin.yaml") {
		t.Errorf("no config: %d %q", r.code, r.err)
	}
	r = runSkiff(t, []string{"SKIFF_CONFIG=" + s.config}, "", "version")
	if r.code != 0 || !strings.Contains(r.out, "Client:") || !strings.Contains(r.out, "Server:") {
		t.Errorf("version: %d %q %q", r.code, r.out, r.err)
	}
}

// TestE2EKill9KeepsEverything applies objects, kills the server with
// SIGKILL, restarts it on the same data, and checks every object is back
// with the same resourceVersion.
func TestE2EKill9KeepsEverything(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data, "")
	s.skiff("", "apply", "-f", writeFile(t, t.TempDir(), "shop.yaml", manifest)).must(t)
	versions := func(s *e2eServer) map[string]string {
		out := map[string]string{}
		for _, kind := range []string{"namespaces", "deployments", "services", "configmaps", "pods"} {
			r := s.skiff("", "get", kind, "-A", "-o", "json").must(t)
			var l struct {
				Items []struct {
					Metadata struct{ Name, Namespace, ResourceVersion, UID string } `json:"metadata"`
				} `json:"items"`
			}
			json.Unmarshal([]byte(r.out), &l)
			for _, it := range l.Items {
				out[kind+"/"+it.Metadata.Namespace+"/"+it.Metadata.Name] = it.Metadata.ResourceVersion + " " + it.Metadata.UID
			}
		}
		return out
	}
	before := versions(s)
	if len(before) < 7 {
		t.Fatalf("only %d objects before the kill: %v", len(before), before)
	}
	port := s.port()
	s.kill9()
	s2 := startServer(t, data, "127.0.0.1:"+port)
	after := versions(s2)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %q before kill -9, %q after restart", k, v, after[k])
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d objects before, %d after", len(before), len(after))
	}
}

// TestE2EIdleWritesNothing: with the server idle and no client writing,
// state.db's size and mtime stay the same and the process writes no bytes.
// SKIFF_IDLE_SECONDS shortens the 60 s wait for a quick local run.
func TestE2EIdleWritesNothing(t *testing.T) {
	t.Parallel()
	idle := 60 * time.Second
	if v := os.Getenv("SKIFF_IDLE_SECONDS"); v != "" {
		n, _ := strconv.Atoi(v)
		idle = time.Duration(n) * time.Second
	}
	data := t.TempDir()
	s := startServer(t, data, "")
	s.skiff("", "apply", "-f", writeFile(t, t.TempDir(), "shop.yaml", manifest)).must(t)
	// An idle watcher stays connected: bookmarks must not cost writes.
	w := exec.Command(skiffBin, "get", "pods", "-A", "-w")
	w.Env = append(os.Environ(), "SKIFF_CONFIG="+s.config)
	out, err := w.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { w.Process.Kill(); w.Wait() }()
	// The watch is open once its first list is printed; then the audit
	// log's flush of its request (every second) and the apply's writes
	// settle. (A fixed second flaked on a loaded machine: the watcher
	// connected late and its audit entry was written inside the window.)
	listed := make(chan struct{})
	go func() {
		r := bufio.NewReader(out)
		if _, err := r.ReadString('\n'); err == nil {
			close(listed)
		}
		io.Copy(io.Discard, r)
	}()
	select {
	case <-listed:
	case <-time.After(30 * time.Second):
		t.Fatal("skiff get pods -w printed nothing in 30 s")
	}
	// Then wait for the apply's tail (controllers' status writes, the
	// audit log's flush) to settle: a quiet 3 s (nothing under the data
	// directory changed, no byte charged) before the window opens.
	// (Measuring from a fixed point flaked under -race on a loaded CI
	// machine: a bbolt commit landed just after the first reading, inside
	// the same coarse mtime tick, so only write_bytes saw it.)
	db := filepath.Join(data, "state.db")
	quiet := func() (os.FileInfo, int64) {
		var last string
		since := time.Now()
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
			st, _ := os.Stat(db)
			wb := writeBytes(t, s.cmd.Process.Pid)
			now := fmt.Sprint(st.Size(), st.ModTime().UnixNano(), wb, lastChange(data).UnixNano())
			if now != last {
				last, since = now, time.Now()
			} else if time.Since(since) >= 3*time.Second {
				return st, wb
			}
		}
		t.Fatalf("the server never stopped writing for 3 s in 60 s; files written:\n%s", changedSince(data, time.Now().Add(-10*time.Second)))
		return nil, 0
	}
	st0, io0 := quiet()
	// One page charged to the server with no file written is let pass
	// once, if a second window is then silent: seen twice in ~8 CI runs
	// (4 KiB, state.db and every file under the data directory untouched;
	// not reproduced here in 8 runs under load with the kernel's
	// writeback_dirty_folio tracepoint on). On ext4 without a journal, as
	// here, an inode's atime update is charged to the reader that way. A
	// file written, more than a page, or a second page fails.
	for window := 1; ; window++ {
		begin := time.Now()
		time.Sleep(idle)
		st1, _ := os.Stat(db)
		io1 := writeBytes(t, s.cmd.Process.Pid)
		if st0.Size() != st1.Size() || !st0.ModTime().Equal(st1.ModTime()) {
			t.Fatalf("state.db changed while idle %v: size %d → %d, mtime %v → %v", idle, st0.Size(), st1.Size(), st0.ModTime(), st1.ModTime())
		}
		if changed := changedSince(data, begin); changed != "" {
			t.Fatalf("the server wrote %d bytes while idle %v; written under the data directory:\n%s", io1-io0, idle, changed)
		}
		switch d := io1 - io0; {
		case d == 0:
			t.Logf("idle %v: state.db %d bytes unchanged, write_bytes %d unchanged, RSS %d kB", idle, st1.Size(), io1, rssKB(t, s.cmd.Process.Pid))
			return
		case d <= 4096 && window == 1:
			t.Logf("idle %v: %d bytes charged to the server, no file under the data directory written; watching another %v", idle, d, idle)
			io0 = io1
		default:
			t.Fatalf("the server wrote %d bytes while idle %v (window %d), no file under the data directory written", d, idle, window)
		}
	}
}

// changedSince lists what under dir was modified or changed (mtime or
// ctime: written, created, removed from, chmod-ed) after t, "" if
// nothing, for a failure message.
func changedSince(dir string, t time.Time) string {
	var b strings.Builder
	walkChanges(dir, func(p string, at time.Time, size int64) {
		if at.After(t) {
			fmt.Fprintf(&b, "  %s %s %d bytes\n", at.Format("15:04:05.000000"), p, size)
		}
	})
	return b.String()
}

// lastChange is the latest mtime or ctime under dir.
func lastChange(dir string) time.Time {
	var last time.Time
	walkChanges(dir, func(_ string, at time.Time, _ int64) {
		if at.After(last) {
			last = at
		}
	})
	return last
}

// walkChanges calls fn with the later of the mtime and ctime of
// everything under dir, itself included.
func walkChanges(dir string, fn func(path string, at time.Time, size int64)) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		at := fi.ModTime()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if c := time.Unix(st.Ctim.Unix()); c.After(at) {
				at = c
			}
		}
		fn(p, at, fi.Size())
		return nil
	})
}

func writeBytes(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatalf("read /proc/%d/io: %v", pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatalf("no write_bytes in /proc/%d/io", pid)
	return 0
}

func rssKB(_ testing.TB, pid int) int64 { return procStatusKB(pid, "VmRSS:") }

// anonKB is the process's private memory: RSS less the pages mapped from
// files (its own binary's code, shared with every skiff process and
// dropped by the kernel under pressure).
func anonKB(pid int) int64 { return procStatusKB(pid, "RssAnon:") }

func procStatusKB(pid int, field string) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}
