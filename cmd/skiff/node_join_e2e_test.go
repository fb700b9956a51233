package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/scripts/testimages"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// TestNodeJoin runs a server node and, in a second network namespace
// linked to it by its own veth ("the LAN"), `skiff agent --server --token`.
// The agent joins, registers a Ready node with its own pod subnet, keeps
// a lease in the server's memory and runs a pod bound to it; a token that
// pins another CA is refused before the secret leaves the machine; a
// restarted agent needs no token.
func TestNodeJoin(t *testing.T) {
	srv, ag, token := newJoinPair(t, 6, 7)
	if !strings.Contains(srv.srv.log.String(), "skiff agent --server") || !strings.Contains(srv.srv.log.String(), token) {
		t.Errorf("the server did not print the join command; log:\n%s", tail(srv.srv.log.String(), 20))
	}
	serverURL := srv.srv.url

	t.Run("a token pinning another CA is refused before the secret is sent", func(t *testing.T) {
		bad := "SK10" + strings.Repeat("0", 64) + "::" + token[strings.Index(token, "::")+2:]
		cmd := exec.Command("nsenter", "--net=/run/netns/"+ag.netns, "--", skiffBin, "agent",
			"--server", serverURL, "--token", bad, "--data-dir", t.TempDir(), "--node-name", "impostor",
			"--run-dir", filepath.Join(t.TempDir(), "run"))
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "does not match the join token") || !strings.Contains(string(out), "nothing was sent") {
			t.Fatalf("agent with a mismatched CA hash: %v\n%s", err, out)
		}
		if strings.Contains(srv.srv.log.String(), "node joined") {
			t.Errorf("the server issued a certificate to the impostor; log:\n%s", tail(srv.srv.log.String(), 20))
		}
		if _, err := client.For[*api.Node](srv.client, "").Get(context.Background(), "impostor"); err == nil {
			t.Error("a node named impostor was registered")
		}
	})

	ag.srv = ag.startAgent(serverURL, token)
	t.Cleanup(ag.cleanup)
	ag.waitNodeReady()

	nodes := client.For[*api.Node](srv.client, "")
	a, err := nodes.Get(context.Background(), ag.name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := nodes.Get(context.Background(), srv.name)
	if err != nil {
		t.Fatal(err)
	}
	if a.Spec.PodCIDR == "" || a.Spec.PodCIDR == s.Spec.PodCIDR {
		t.Errorf("pod subnets: agent %q, server %q; want two different /24s", a.Spec.PodCIDR, s.Spec.PodCIDR)
	}
	// The scheduler's image locality reads these.
	listed := false
	for _, img := range a.Status.Images {
		for _, n := range img.Names {
			listed = listed || n == testimages.Ref("httpd")
		}
	}
	if !listed || a.Status.Images[0].SizeBytes <= 0 {
		t.Errorf("node images %+v: want %s listed with its size", a.Status.Images, testimages.Ref("httpd"))
	}
	if got := nodeInternalIP(a); got != ag.nodeIP {
		t.Errorf("agent node address %q, want %s", got, ag.nodeIP)
	}

	var first client.Lease
	ag.eventually(10*time.Second, "a lease", func() (bool, string) {
		l, err := ag.client.(*client.HTTP).GetLease(context.Background(), ag.name)
		first = l
		return err == nil, fmt.Sprint(err)
	})
	ag.eventually(15*time.Second, "lease renewed", func() (bool, string) {
		l := ag.lease()
		return l.RenewTime.After(first.RenewTime), fmt.Sprintf("lease %+v", l)
	})
	if first.Holder != "system:node:"+ag.name {
		t.Errorf("lease holder %q", first.Holder)
	}

	// The unreachable-node test evicts every pod of the agent's node, and
	// their shells ignore SIGTERM: a short grace keeps the test short.
	quick := int64(1)
	pod := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "on-agent"},
		Spec:       api.PodSpec{NodeName: ag.name, TerminationGracePeriodSeconds: &quick, Containers: []api.Container{container("web", "httpd")}},
	}
	ag.create(pod)
	p := ag.waitPod("on-agent", 60*time.Second, "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning && isReady(p) })
	if !podIPIn(p.Status.PodIP, a.Spec.PodCIDR) {
		t.Errorf("pod IP %s outside the agent's subnet %s", p.Status.PodIP, a.Spec.PodCIDR)
	}

	// A talker on each node: logs and exec go through the server to the
	// embedded agent and to the joined one alike.
	for _, n := range []*testNode{srv, ag} {
		talker := container("talk", "busybox", "sh", "-c", `i=0; while true; do echo "line $i"; i=$((i+1)); sleep 0.2; done`)
		n.create(&api.Pod{
			ObjectMeta: api.ObjectMeta{Name: "talker-" + n.name},
			Spec:       api.PodSpec{NodeName: n.name, TerminationGracePeriodSeconds: &quick, Containers: []api.Container{talker, container("quiet", "sleep")}},
		})
	}
	for _, n := range []*testNode{srv, ag} {
		name := "talker-" + n.name
		n.waitPod(name, 60*time.Second, "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning && isReady(p) })
		t.Run("logs and exec through the server to "+n.name, func(t *testing.T) { testLogsAndExec(t, srv.srv, name) })
	}

	t.Run("another node's certificate does not open an agent", func(t *testing.T) {
		cfg, err := client.LoadConfig(filepath.Join(ag.dataDir, "agent", "node.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair([]byte(cfg.ClientCertificate), []byte(cfg.ClientKey))
		if err != nil {
			t.Fatal(err)
		}
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, Certificates: []tls.Certificate{pair}}}}
		resp, err := hc.Get("https://" + srv.nodeIP + ":10250/containerLogs/default/talker-" + srv.name + "/talk")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("node %s's certificate reached node %s's agent: %s %q", ag.name, srv.name, resp.Status, body)
		}
	})

	t.Run("the agent answers only the API server", func(t *testing.T) {
		// The embedded agent's endpoint is reachable from here; with no
		// client certificate, or with the admin's token, it refuses.
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		for _, token := range []string{"", adminToken(t, srv.srv)} {
			req, _ := http.NewRequest("GET", "https://"+srv.nodeIP+":10250/containerLogs/default/talker-"+srv.name+"/talk", nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "line ") {
				t.Errorf("agent endpoint without the server's certificate (token %v): %s %q", token != "", resp.Status, body)
			}
		}
	})

	t.Run("a restarted agent uses its saved certificate", func(t *testing.T) {
		pid := ag.ctr("task", "ls")
		ag.srv.kill9()
		restarted := time.Now()
		ag.srv = ag.startAgent(serverURL, "")
		ag.eventually(30*time.Second, "the restarted agent running", func() (bool, string) {
			return strings.Contains(ag.srv.log.String(), "agent running"), tail(ag.srv.log.String(), 5)
		})
		ag.eventually(15*time.Second, "lease renewed by the restarted agent", func() (bool, string) {
			l := ag.lease()
			return l.RenewTime.After(restarted), fmt.Sprintf("lease %+v", l)
		})
		if strings.Contains(ag.srv.log.String(), "joining") {
			t.Errorf("the agent joined again; log:\n%s", tail(ag.srv.log.String(), 20))
		}
		ag.eventually(10*time.Second, "same tasks", func() (bool, string) {
			now := ag.ctr("task", "ls")
			return now == pid, now
		})
	})

	t.Run("an unreachable node's pods are evicted, and stopped when it returns", func(t *testing.T) {
		testUnreachableNode(t, srv, ag, serverURL)
	})
}

// newJoinPair makes two nodes linked by a veth of their own ("the LAN":
// 10.250.<si>.1 on the server node, .2 on the other), starts the server
// on the first, and readies the second for `skiff agent` (its images,
// and the server's client for reading pods). It returns the join token.
func newJoinPair(t testing.TB, si, ai int, serverArgs ...string) (srv, ag *testNode, token string) {
	t.Helper()
	srv, ag = newTestNode(t, si), newTestNode(t, ai)
	// Fast failover, so the lifecycle test need not wait a minute.
	lan := func(host int) string { return fmt.Sprintf("10.250.%d.%d", si, host) }
	// The nodes know each other by their LAN addresses (their
	// InternalIPs), where each routes to the other's pods.
	srv.serverArgs = append([]string{"--node-not-ready-seconds", "10", "--pod-eviction-seconds", "3", "--node-ip", lan(1)}, serverArgs...)
	mustRun(t, "ip", "-n", srv.netns, "link", "add", "eth1", "type", "veth", "peer", "name", "lan0", "netns", ag.netns)
	mustRun(t, "ip", "-n", srv.netns, "addr", "add", lan(1)+"/24", "dev", "eth1")
	mustRun(t, "ip", "-n", srv.netns, "link", "set", "eth1", "up")
	mustRun(t, "ip", "-n", ag.netns, "addr", "add", lan(2)+"/24", "dev", "lan0")
	mustRun(t, "ip", "-n", ag.netns, "link", "set", "lan0", "up")
	// The server listens on its node IP only; reach it over the LAN.
	mustRun(t, "ip", "-n", ag.netns, "route", "add", srv.nodeIP+"/32", "via", lan(1), "dev", "lan0")
	ag.nodeIP = lan(2)
	srv.start()
	b, err := os.ReadFile(filepath.Join(srv.dataDir, "node-token"))
	if err != nil {
		t.Fatal(err)
	}
	ag.client = srv.client
	if _, err := testimages.Build(filepath.Join(ag.dataDir, "images")); err != nil {
		t.Fatal(err)
	}
	return srv, ag, strings.TrimSpace(string(b))
}

// testUnreachableNode: kill -9 of the agent makes its node NotReady and
// tainted, its pod loses Ready and is deleted — but stays Terminating
// while its container may still run there; the restarted agent stops it
// and the pod is gone; the taints go.
func testUnreachableNode(t *testing.T, srv, ag *testNode, serverURL string) {
	grace := int64(1) // sleep as PID 1 ignores SIGTERM
	ag.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "victim"},
		Spec: api.PodSpec{NodeName: ag.name, TerminationGracePeriodSeconds: &grace, Containers: []api.Container{container("c", "sleep")}}})
	p := ag.waitPod("victim", 60*time.Second, "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning && isReady(p) })
	ctrID := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://")
	ag.srv.kill9()
	killed := time.Now()
	nodes := client.For[*api.Node](srv.client, "")
	ag.eventually(25*time.Second, "node tainted unreachable", func() (bool, string) {
		n, err := nodes.Get(context.Background(), ag.name)
		if err != nil {
			return false, err.Error()
		}
		for _, tn := range n.Spec.Taints {
			if tn.Key == "node.kubernetes.io/unreachable" && tn.Effect == api.TaintEffectNoExecute {
				return true, ""
			}
		}
		return false, fmt.Sprintf("taints %+v", n.Spec.Taints)
	})
	// The last renewal was up to 5 s before the kill.
	if d := time.Since(killed); d < 5*time.Second {
		t.Errorf("tainted %s after the agent died, before the 10 s since its last renewal could have passed", d)
	}
	p = ag.waitPod("victim", 20*time.Second, "deleted and not Ready", func(p *api.Pod) bool { return p.DeletionTimestamp != nil && !isReady(p) })
	// Its container still runs there: nothing may start it again elsewhere
	// until the node says it stopped.
	if !strings.Contains(ag.ctr("task", "ls"), ctrID) {
		t.Errorf("the container of a pod on an unreachable node is gone before its agent came back")
	}
	ag.srv = ag.startAgent(serverURL, "")
	ag.eventually(30*time.Second, "pod gone after the agent came back", func() (bool, string) {
		_, err := ag.pods().Get(context.Background(), "victim")
		return errdefs.IsNotFound(err), fmt.Sprint(err)
	})
	if strings.Contains(ag.ctr("task", "ls"), ctrID) {
		t.Errorf("the evicted pod's container still runs after its agent came back")
	}
	ag.eventually(20*time.Second, "taints gone", func() (bool, string) {
		n, err := nodes.Get(context.Background(), ag.name)
		return err == nil && len(n.Spec.Taints) == 0, fmt.Sprint(err)
	})
}

// startAgent runs `skiff agent` in the node's namespace; token "" relies
// on the credentials a previous start saved.
func (n *testNode) startAgent(serverURL, token string) *e2eServer {
	t := n.t
	s := &e2eServer{t: t, dataDir: n.dataDir, log: &lockedBuffer{}}
	args := []string{"--net=/run/netns/" + n.netns, "--", skiffBin, "agent", "--data-dir", n.dataDir,
		"--run-dir", filepath.Join(n.dataDir, "run"), "--cgroup-root", n.cgroupRoot,
		"--node-name", n.name, "--node-ip", n.nodeIP}
	if token != "" {
		args = append(args, "--server", serverURL, "--token", token)
	}
	s.cmd = exec.Command("nsenter", append(args, n.agentArgs...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.exited) }()
	return s
}

// lease reads the node's lease from the server.
func (n *testNode) lease() client.Lease {
	n.t.Helper()
	l, err := n.client.(*client.HTTP).GetLease(context.Background(), n.name)
	if err != nil {
		n.t.Fatalf("lease of %s: %v", n.name, err)
	}
	return l
}

func podIPIn(ip, cidr string) bool {
	a, err := netip.ParseAddr(ip)
	p, perr := netip.ParsePrefix(cidr)
	return err == nil && perr == nil && p.Contains(a)
}

func nodeInternalIP(n *api.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == api.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// testLogsAndExec drives `skiff logs` and `skiff exec` against a running
// talker pod (container talk prints "line N" every 0.2 s; quiet sleeps).
func testLogsAndExec(t *testing.T, s *e2eServer, pod string) {
	ns := []string{"SKIFF_CONFIG=" + s.config}
	t.Run("logs", func(t *testing.T) {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && !strings.Contains(runSkiff(t, ns, "", "logs", pod, "-c", "talk").out, "line 3") {
			time.Sleep(100 * time.Millisecond)
		}
		r := runSkiff(t, ns, "", "logs", pod)
		if r.code != 0 || !strings.HasPrefix(r.out, "line 0\n") || !strings.Contains(r.err, `Defaulted container "talk" out of: talk, quiet`) {
			t.Fatalf("skiff logs: exit %d\nstdout %q\nstderr %q", r.code, tail(r.out, 3), r.err)
		}
		r = runSkiff(t, ns, "", "logs", pod, "-c", "talk", "--tail", "2", "--timestamps")
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		if r.code != 0 || len(lines) != 2 || !strings.Contains(lines[1], " line ") {
			t.Fatalf("--tail 2 --timestamps: exit %d %q %q", r.code, r.out, r.err)
		}
		if _, err := time.Parse(time.RFC3339Nano, strings.Fields(lines[0])[0]); err != nil {
			t.Errorf("--timestamps line %q: %v", lines[0], err)
		}
		r = runSkiff(t, ns, "", "logs", pod, "-c", "talk", "--previous")
		if r.code == 0 || !strings.Contains(r.err, "previous terminated container") {
			t.Errorf("--previous of a first run: exit %d %q", r.code, r.err)
		}
		r = runSkiff(t, ns, "", "logs", pod, "-c", "nope")
		if r.code == 0 || !strings.Contains(r.err, `container "nope" is not in pod`) {
			t.Errorf("-c nope: exit %d %q", r.code, r.err)
		}
		r = runSkiff(t, []string{"SKIFF_CONFIG=" + badTokenConfig(t, s)}, "", "logs", pod, "-c", "talk")
		if r.code == 0 || !strings.Contains(strings.ToLower(r.err), "invalid bearer token") {
			t.Errorf("a bad token reached the logs: exit %d %q %q", r.code, r.out, r.err)
		}
	})
	t.Run("logs -f follows", func(t *testing.T) {
		cmd := exec.Command(skiffBin, "logs", "-f", "--tail", "0", pod, "-c", "talk")
		cmd.Env = append(os.Environ(), ns...)
		out := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(out.String(), "line ") < 3 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := strings.Count(out.String(), "line "); n < 3 {
			t.Fatalf("logs -f printed %d new lines in 10 s: %q", n, out.String())
		}
	})
	t.Run("exec", func(t *testing.T) {
		r := runSkiff(t, ns, "", "exec", pod, "-c", "talk", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
		if r.code != 7 || r.out != "out\n" || r.err != "err\n" {
			t.Errorf("exec exit 7: code %d out %q err %q", r.code, r.out, r.err)
		}
		r = runSkiff(t, ns, "hello from stdin\n", "exec", "-i", pod, "-c", "quiet", "--", "cat")
		if r.code != 0 || r.out != "hello from stdin\n" {
			t.Errorf("exec -i cat: code %d out %q err %q", r.code, r.out, r.err)
		}
		r = runSkiff(t, ns, "", "exec", pod, "-c", "talk", "--", "no-such-command")
		if r.code == 0 {
			t.Errorf("exec of a missing command succeeded: %q %q", r.out, r.err)
		}
		r = runSkiff(t, []string{"SKIFF_CONFIG=" + badTokenConfig(t, s)}, "", "exec", pod, "--", "true")
		if r.code == 0 || !strings.Contains(strings.ToLower(r.err), "invalid bearer token") {
			t.Errorf("a bad token reached exec: exit %d %q", r.code, r.err)
		}
	})
	t.Run("exec -it gives a shell whose exit code comes back", func(t *testing.T) {
		master, slave := openPty(t)
		cmd := exec.Command(skiffBin, "exec", "-it", pod, "-c", "talk", "--", "sh")
		cmd.Env = append(os.Environ(), ns...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		slave.Close()
		out := &lockedBuffer{}
		go io.Copy(out, master)
		master.Write([]byte("stty size; echo tty-$((6*7))\n"))
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), "tty-42") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.Contains(out.String(), "tty-42") {
			t.Fatalf("no answer from the shell: %q", out.String())
		}
		master.Write([]byte("exit 3\n"))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
				t.Errorf("skiff exec -it exit: %v, want 3; output %q", err, out.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("skiff exec -it did not end after exit 3; output %q", out.String())
		}
		master.Close()
	})
}

func adminToken(t *testing.T, s *e2eServer) string {
	cfg, err := client.LoadConfig(s.config)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Token
}

// badTokenConfig is the server's admin config with a wrong token.
func badTokenConfig(t *testing.T, s *e2eServer) string {
	cfg, err := client.LoadConfig(s.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Token = "not-the-token"
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := client.WriteConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

// openPty opens a pseudo-terminal pair.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}
