package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skiffhq/skiff/scripts/testimages"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// The node end-to-end tests run `skiff server` with its embedded agent,
// real containerd, runc and CNI, inside a network namespace the test
// makes (the "node"), joined to the host by a veth pair: every address
// the tests reach — the API, pod IPs, host ports — lives in namespaces
// the test created, and the host's own bridges and firewall are not
// touched.

// testNode is one node namespace and the skiff server running in it.
type testNode struct {
	t          testing.TB
	netns      string // name under /run/netns
	hostIf     string
	nodeIP     string
	hostIP     string
	dataDir    string
	cgroupRoot string
	srv        *e2eServer
	client     client.Backend
	name       string
	// serverArgs are extra flags for `skiff server`, agentArgs for
	// `skiff agent`.
	serverArgs, agentArgs []string
}

func mustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newTestNode makes the node namespace: veth to the host, loopback up, a
// default route through the host side.
func newTestNode(t testing.TB, idx int) *testNode {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the node end-to-end tests need root (containerd, runc, network namespaces); scripts/test.sh runs them as root")
	}
	for _, bin := range []string{"ip", "nsenter", "containerd", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: run scripts/install-deps.sh", bin)
		}
	}
	id := fmt.Sprintf("%d%d", os.Getpid()%100000, idx)
	n := &testNode{
		t:          t,
		netns:      "skiffe2e" + id,
		hostIf:     "ske" + id,
		hostIP:     fmt.Sprintf("10.251.%d.1", idx),
		nodeIP:     fmt.Sprintf("10.251.%d.2", idx),
		dataDir:    t.TempDir(),
		cgroupRoot: "/skiff-e2e-" + id,
		name:       "node-e2e-" + strconv.Itoa(idx),
	}
	mustRun(t, "ip", "netns", "add", n.netns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.netns).Run() })
	mustRun(t, "ip", "link", "add", n.hostIf, "type", "veth", "peer", "name", "eth0", "netns", n.netns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", n.hostIf).Run() })
	mustRun(t, "ip", "addr", "add", n.hostIP+"/24", "dev", n.hostIf)
	mustRun(t, "ip", "link", "set", n.hostIf, "up")
	in := func(args ...string) { mustRun(t, "ip", append([]string{"-n", n.netns}, args...)...) }
	in("link", "set", "lo", "up")
	in("addr", "add", n.nodeIP+"/24", "dev", "eth0")
	in("link", "set", "eth0", "up")
	in("route", "add", "default", "via", n.hostIP)
	return n
}

// start builds the test images into the data directory's images/ (the
// air-gapped import path) and runs the server in the node namespace.
func (n *testNode) start() {
	t := n.t
	t.Helper()
	if _, err := testimages.Build(filepath.Join(n.dataDir, "images")); err != nil {
		t.Fatal(err)
	}
	n.srv = n.startServer("0")
	cfg, err := client.LoadConfig(n.srv.config)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.client = c
	t.Cleanup(n.cleanup)
	n.waitNodeReady()
}

// startServer runs skiff in the node on port ("0": any; a restart passes
// the port it had, so clients keep working).
func (n *testNode) startServer(port string) *e2eServer {
	t := n.t
	s := &e2eServer{t: t, dataDir: n.dataDir, config: filepath.Join(n.dataDir, "admin.yaml"), log: &lockedBuffer{}}
	none := filepath.Join(t.TempDir(), "none.yaml")
	os.WriteFile(none, nil, 0o600)
	args := []string{"--net=/run/netns/" + n.netns, "--",
		skiffBin, "server", "--data-dir", n.dataDir, "--listen", n.nodeIP + ":" + port, "--config", none,
		"--run-dir", filepath.Join(n.dataDir, "run"), "--cgroup-root", n.cgroupRoot,
		"--cluster-cidr", "10.252.0.0/16", "--node-name", n.name}
	s.cmd = exec.Command("nsenter", append(args, n.serverArgs...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			t.Fatalf("server exited: %v; log:\n%s", s.cmd.ProcessState, s.log)
		default:
		}
		if cfg, err := client.LoadConfig(s.config); err == nil && s.ready(cfg, ":"+port) {
			s.url = cfg.Server
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server not ready in 30s; log:\n%s", s.log)
	return nil
}

func (n *testNode) waitNodeReady() {
	n.t.Helper()
	n.eventually(60*time.Second, "node Ready with a pod subnet", func() (bool, string) {
		node, err := client.For[*api.Node](n.client, "").Get(context.Background(), n.name)
		if err != nil {
			return false, err.Error()
		}
		for _, c := range node.Status.Conditions {
			if c.Type == api.NodeReady && c.Status == api.ConditionTrue && node.Spec.PodCIDR != "" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("node %+v", node.Status.Conditions)
	})
}

// eventually polls cond until it holds or the time is up.
func (n *testNode) eventually(d time.Duration, what string, cond func() (bool, string)) {
	n.t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(100 * time.Millisecond)
	}
	n.t.Fatalf("%s: not within %s; last: %s\nserver log:\n%s", what, d, last, tail(n.srv.log.String(), 60))
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func (n *testNode) pods() *client.Resource[*api.Pod] {
	return client.For[*api.Pod](n.client, "default")
}

func (n *testNode) create(p *api.Pod) *api.Pod {
	n.t.Helper()
	p.Namespace = "default"
	p.Spec.NodeName = n.name
	got, err := n.pods().Create(context.Background(), p)
	if err != nil {
		n.t.Fatalf("create pod %s: %v", p.Name, err)
	}
	return got
}

func (n *testNode) get(name string) *api.Pod {
	n.t.Helper()
	p, err := n.pods().Get(context.Background(), name)
	if err != nil {
		n.t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

// waitPod waits until cond holds for the pod.
func (n *testNode) waitPod(name string, d time.Duration, what string, cond func(*api.Pod) bool) *api.Pod {
	n.t.Helper()
	var got *api.Pod
	n.eventually(d, "pod "+name+" "+what, func() (bool, string) {
		p, err := n.pods().Get(context.Background(), name)
		if err != nil {
			return false, err.Error()
		}
		got = p
		return cond(p), statusLine(p)
	})
	return got
}

func statusLine(p *api.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s ip=%s msg=%q", p.Status.Phase, p.Status.PodIP, p.Status.Message)
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
	}
	for _, cs := range append(append([]api.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, " [%s restarts=%d ready=%v", cs.Name, cs.RestartCount, cs.Ready)
		switch {
		case cs.State.Waiting != nil:
			fmt.Fprintf(&b, " waiting %s %q", cs.State.Waiting.Reason, cs.State.Waiting.Message)
		case cs.State.Running != nil:
			b.WriteString(" running")
		case cs.State.Terminated != nil:
			fmt.Fprintf(&b, " terminated %s %d", cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
		}
		b.WriteString("]")
	}
	return b.String()
}

func isReady(p *api.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// deletePod deletes and waits until the API no longer has the pod.
func (n *testNode) deletePod(name string, grace *int64, d time.Duration) {
	n.t.Helper()
	if _, err := n.pods().Delete(context.Background(), name, api.DeleteOptions{GracePeriodSeconds: grace}); err != nil {
		n.t.Fatalf("delete pod %s: %v", name, err)
	}
	n.eventually(d, "pod "+name+" gone", func() (bool, string) {
		p, err := n.pods().Get(context.Background(), name)
		if err != nil {
			return strings.Contains(err.Error(), "not found"), err.Error()
		}
		return false, statusLine(p)
	})
}

// ctr runs containerd's own CLI against the node's containerd.
func (n *testNode) ctr(args ...string) string {
	n.t.Helper()
	sock := filepath.Join(n.dataDir, "run", "containerd", "containerd.sock")
	return mustRun(n.t, "ctr", append([]string{"--address", sock, "-n", "skiff"}, args...)...)
}

// cleanup deletes every pod (checking the agent tears them down), stops
// the server and its containerd, and kills anything of the test's left.
func (n *testNode) cleanup() {
	t := n.t
	ctx := context.Background()
	if list, _, _, err := n.pods().List(ctx, api.ListOptions{}); err == nil {
		// A grace period above 0 keeps each pod in the API until the
		// agent has stopped it and confirms.
		one := int64(1)
		for _, p := range list {
			n.pods().Delete(ctx, p.Name, api.DeleteOptions{GracePeriodSeconds: &one})
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if l, _, _, err := n.pods().List(ctx, api.ListOptions{}); err == nil && len(l) == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	n.srv.stop()
	// A server that died leaves its containerd running: it is the test's.
	if b, err := os.ReadFile(filepath.Join(n.dataDir, "run", "containerd", "containerd.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cmdline), n.dataDir) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	// Whatever still runs in the test's cgroups is the test's own.
	killed := 0
	for _, f := range globAll("/sys/fs/cgroup/*"+n.cgroupRoot+"/**/cgroup.procs", "/sys/fs/cgroup"+n.cgroupRoot+"/**/cgroup.procs") {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(l); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
				killed++
			}
		}
	}
	if killed > 0 {
		t.Errorf("%d processes were left in the node's cgroups after every pod was deleted", killed)
	}
	time.Sleep(200 * time.Millisecond)
	for _, d := range globAll("/sys/fs/cgroup/*"+n.cgroupRoot, "/sys/fs/cgroup"+n.cgroupRoot) {
		removeTree(d)
	}
	// Shims of this node's containerd (their command line names its socket).
	sock := filepath.Join(n.dataDir, "run", "containerd")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "containerd-shim") && strings.Contains(string(b), sock) {
			pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	exec.Command("umount", "-R", filepath.Join(n.dataDir, "containerd")).Run()
	mounts, _ := os.ReadFile("/proc/self/mounts")
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], n.dataDir) {
			syscall.Unmount(f[1], syscall.MNT_DETACH)
		}
	}
}

func globAll(patterns ...string) []string {
	var out []string
	for _, p := range patterns {
		if strings.Contains(p, "**") {
			base, rest, _ := strings.Cut(p, "/**/")
			roots, _ := filepath.Glob(base)
			for _, r := range roots {
				filepath.Walk(r, func(path string, fi os.FileInfo, err error) error {
					if err == nil && !fi.IsDir() && fi.Name() == rest {
						out = append(out, path)
					}
					return nil
				})
			}
			continue
		}
		m, _ := filepath.Glob(p)
		out = append(out, m...)
	}
	return out
}

// removeTree removes a cgroup directory tree, deepest first.
func removeTree(dir string) {
	var dirs []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i])
	}
}

func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func container(name, image string, args ...string) api.Container {
	c := api.Container{Name: name, Image: testimages.Ref(image), ImagePullPolicy: api.PullNever}
	if len(args) > 0 {
		c.Command = args
	}
	return c
}

// TestNodeRunsPods is the first acceptance point of the node runtime: a
// pod with an init container and two containers reaches Running and
// Ready with an IP from the node's subnet, serves HTTP to another pod by
// IP and on its hostPort; deleting it leaves nothing behind.
func TestNodeRunsPods(t *testing.T) {
	n := newTestNode(t, 1)
	n.start()
	node, _ := client.For[*api.Node](n.client, "").Get(context.Background(), n.name)
	_, subnet, err := net.ParseCIDR(node.Spec.PodCIDR)
	if err != nil {
		t.Fatalf("node podCIDR %q: %v", node.Spec.PodCIDR, err)
	}

	work := api.VolumeMount{Name: "work", MountPath: "/work"}
	initC := container("init", "busybox", "sh", "-c", "echo made-by-init > /work/ready")
	initC.VolumeMounts = []api.VolumeMount{work}
	web := container("web", "httpd")
	web.Ports = []api.ContainerPort{{Name: "http", ContainerPort: 8080, HostPort: 18080}}
	web.ReadinessProbe = &api.Probe{ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Path: "/", Port: api.FromString("http")}}, PeriodSeconds: 1}
	side := container("side", "busybox", "sh", "-c", "cat /work/ready; exec sleep 3600")
	side.VolumeMounts = []api.VolumeMount{work}
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "web"}, Spec: api.PodSpec{
		Volumes:        []api.Volume{{Name: "work", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}}},
		InitContainers: []api.Container{initC},
		Containers:     []api.Container{web, side},
	}})
	pod := n.waitPod("web", 60*time.Second, "Running and Ready", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning && isReady(p) })
	ip := net.ParseIP(pod.Status.PodIP)
	if ip == nil || !subnet.Contains(ip) {
		t.Errorf("pod IP %q is not in the node's subnet %s", pod.Status.PodIP, subnet)
	}
	if ics := pod.Status.InitContainerStatuses; len(ics) != 1 || ics[0].State.Terminated == nil || ics[0].State.Terminated.ExitCode != 0 {
		t.Errorf("init container status: %s", statusLine(pod))
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running == nil || !cs.Ready || cs.RestartCount != 0 || !strings.HasPrefix(cs.ContainerID, "containerd://") {
			t.Errorf("container %s: %s", cs.Name, statusLine(pod))
		}
	}
	// The side container read what the init container wrote.
	sideLog := n.logFile(pod, "side", 0)
	if !strings.Contains(sideLog, "made-by-init") {
		t.Errorf("side container's log %q lacks the init container's file", sideLog)
	}

	// Another pod reaches it by IP.
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "fetch"}, Spec: api.PodSpec{
		RestartPolicy: api.RestartPolicyNever,
		Containers:    []api.Container{container("fetch", "busybox", "wget", "-qO-", "http://"+pod.Status.PodIP+":8080/")},
	}})
	fetch := n.waitPod("fetch", 60*time.Second, "Succeeded", func(p *api.Pod) bool { return isTerminalPhase(p.Status.Phase) })
	if fetch.Status.Phase != api.PodSucceeded {
		t.Errorf("fetch pod: %s", statusLine(fetch))
	}
	if out := n.logFile(fetch, "fetch", 0); !strings.Contains(out, "hello from skiff") {
		t.Errorf("fetch pod's output %q, want the page", out)
	}
	if fetch.Status.PodIP == pod.Status.PodIP {
		t.Errorf("two pods share IP %s", fetch.Status.PodIP)
	}

	// The host port answers on the node's address.
	var body string
	n.eventually(20*time.Second, "hostPort 18080 answers", func() (bool, string) {
		body, err = httpGet("http://" + n.nodeIP + ":18080/")
		return err == nil && strings.Contains(body, "hello from skiff"), fmt.Sprint(body, err)
	})

	// Deleting leaves no netns, IP allocation, cgroup or container.
	n.deletePod("web", nil, 45*time.Second)
	netnsFile := filepath.Join(n.dataDir, "run", "netns", pod.UID)
	if _, err := os.Stat(netnsFile); !os.IsNotExist(err) {
		t.Errorf("netns %s still there (%v)", netnsFile, err)
	}
	if left := globAll(filepath.Join(n.dataDir, "run", "cni") + "/**/" + pod.Status.PodIP); len(left) > 0 {
		t.Errorf("IP allocation of %s left: %v", pod.Status.PodIP, left)
	}
	if left := globAll("/sys/fs/cgroup/*" + n.cgroupRoot + "/pod" + pod.UID); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		id := strings.TrimPrefix(cs.ContainerID, "containerd://")
		if out := n.ctr("containers", "ls", "-q"); strings.Contains(out, id) {
			t.Errorf("container %s (%s) still in containerd", cs.Name, id)
		}
	}
	if _, err := httpGet("http://" + n.nodeIP + ":18080/"); err == nil {
		t.Error("hostPort still answers after the pod was deleted")
	}
}

func isTerminalPhase(p api.PodPhase) bool { return p == api.PodSucceeded || p == api.PodFailed }

// logFile reads the log of one run of a container, as the agent writes it.
func (n *testNode) logFile(p *api.Pod, container string, attempt int) string {
	n.t.Helper()
	var b []byte
	path := filepath.Join(n.dataDir, "pods", p.UID, "logs", container, fmt.Sprintf("%d.log", attempt))
	n.eventually(10*time.Second, "log file "+path, func() (bool, string) {
		var err error
		b, err = os.ReadFile(path)
		return err == nil && len(b) > 0, fmt.Sprint(err)
	})
	return string(b)
}

// lockedBuffer is a process's output, read by the test while it runs.
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
