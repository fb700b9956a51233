package cni

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSetupTwoPodsReachEachOther(t *testing.T) {
	m := newNodeManager(t, "skt-pods", "10.88.1.0/24")
	ctx := t.Context()

	a := setupPod(t, m, "pod-a")
	defer m.Teardown(ctx, "pod-a")
	b := setupPod(t, m, "pod-b")
	defer m.Teardown(ctx, "pod-b")

	for _, sb := range []Sandbox{a, b} {
		if !ipIn(sb.IP, "10.88.1.0/24") || sb.IP.Equal(net.ParseIP("10.88.1.1")) {
			t.Errorf("%s: IP %v, want an address in 10.88.1.0/24 other than the gateway", sb.UID, sb.IP)
		}
		if got, want := sb.Gateway.String(), "10.88.1.1"; got != want {
			t.Errorf("%s: Gateway %s, want %s", sb.UID, got, want)
		}
		if got, want := sb.CIDR.String(), "10.88.1.0/24"; got != want {
			t.Errorf("%s: CIDR %s, want %s", sb.UID, got, want)
		}
		if got, want := sb.NetNSPath, filepath.Join(m.cfg.NetNSDir, sb.UID); got != want {
			t.Errorf("%s: NetNSPath %s, want %s", sb.UID, got, want)
		}
	}
	if a.IP.Equal(b.IP) {
		t.Errorf("both pods got %v", a.IP)
	}
	if got := bridgeAddrs(t, "skt-pods"); !slices.Contains(got, "10.88.1.1/24") {
		t.Errorf("bridge addresses %v, want 10.88.1.1/24 among them", got)
	}

	serveInNetNS(t, b.NetNSPath, ":8080", "pod b")
	got, err := dialGreeting(a.NetNSPath, net.JoinHostPort(b.IP.String(), "8080"))
	if err != nil || got != "pod b" {
		t.Errorf("dial pod b from pod a: got %q, %v; want %q", got, err, "pod b")
	}
	// lo is up inside the pod.
	serveInNetNS(t, a.NetNSPath, "127.0.0.1:8081", "pod a lo")
	got, err = dialGreeting(a.NetNSPath, "127.0.0.1:8081")
	if err != nil || got != "pod a lo" {
		t.Errorf("dial 127.0.0.1 inside pod a: got %q, %v; want %q", got, err, "pod a lo")
	}
	// And the pod is not reachable from itself through b's listener on a's
	// loopback: the namespaces are really separate.
	if _, err := dialGreeting(a.NetNSPath, "127.0.0.1:8080"); err == nil {
		t.Errorf("dial 127.0.0.1:8080 inside pod a: reached pod b's listener")
	}
}

func TestHostPort(t *testing.T) {
	m := newNodeManager(t, "skt-hp", "10.88.2.0/24")
	ctx := t.Context()
	pod := PodNetwork{UID: "pod-web", Namespace: "default", Name: "web",
		Ports: []PortMapping{{HostPort: 18080, ContainerPort: 8080, Protocol: "TCP"}}}
	sb, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	serveInNetNS(t, sb.NetNSPath, ":8080", "pod web")

	hostPort := net.JoinHostPort(nodeAddr, "18080")
	got, err := dialGreeting("", hostPort)
	if err != nil || got != "pod web" {
		t.Errorf("dial hostPort %s from the node: got %q, %v; want %q", hostPort, got, err, "pod web")
	}
	// Hairpin: the pod reaches itself through the node's hostPort.
	got, err = dialGreeting(sb.NetNSPath, hostPort)
	if err != nil || got != "pod web" {
		t.Errorf("dial hostPort %s from the pod itself: got %q, %v; want %q", hostPort, got, err, "pod web")
	}

	if err := m.Teardown(ctx, pod.UID); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if _, err := dialGreeting("", hostPort); !isRefused(err) {
		t.Errorf("dial hostPort %s after Teardown: %v, want a refused connection", hostPort, err)
	}
}

func TestTeardownRemovesEverything(t *testing.T) {
	m := newNodeManager(t, "skt-td", "10.88.3.0/24")
	ctx := t.Context()
	pod := PodNetwork{UID: "pod-td", Namespace: "default", Name: "td",
		Ports: []PortMapping{{HostPort: 18081, ContainerPort: 80}}}
	sb, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	alloc := filepath.Join(m.hostLocalDir(), sb.IP.String())
	cache := cachePath(m, pod.UID)
	for _, p := range []string{sb.NetNSPath, alloc, cache} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("after Setup: %v", err)
		}
	}
	// portmap's DNAT, and no masquerade chain of the pod's own: the
	// bridge plugin does not masquerade, the node's nftables rule does.
	rules := natRulesOf(t, pod.UID)
	if !slices.ContainsFunc(rules, func(r string) bool { return strings.Contains(r, "DNAT") }) ||
		slices.ContainsFunc(rules, func(r string) bool { return strings.Contains(r, "MASQUERADE") }) {
		t.Fatalf("after Setup: iptables rules of %s %q, want portmap DNAT rules and no MASQUERADE", pod.UID, rules)
	}

	if err := m.Teardown(ctx, pod.UID); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	for _, p := range []string{sb.NetNSPath, alloc, cache} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after Teardown: stat %s: %v, want not exist", p, err)
		}
	}
	if rules := natRulesOf(t, pod.UID); len(rules) > 0 {
		t.Errorf("after Teardown: iptables rules of %s left: %q", pod.UID, rules)
	}
	if err := m.Teardown(ctx, pod.UID); err != nil {
		t.Errorf("second Teardown: %v, want nil", err)
	}
	if _, ok := m.Get(pod.UID); ok {
		t.Errorf("Get after Teardown: found, want absent")
	}

	sb2, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatalf("Setup after Teardown: %v", err)
	}
	if !ipIn(sb2.IP, "10.88.3.0/24") {
		t.Errorf("Setup after Teardown: IP %v, want one in 10.88.3.0/24", sb2.IP)
	}
	if err := m.Teardown(ctx, pod.UID); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
}

func TestSetupIsIdempotentAcrossRestart(t *testing.T) {
	m := newNodeManager(t, "skt-idem", "10.88.4.0/24")
	ctx := t.Context()
	pod := PodNetwork{UID: "pod-idem", Namespace: "default", Name: "idem"}
	first, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	again, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatalf("second Setup: %v", err)
	}
	if !again.IP.Equal(first.IP) {
		t.Errorf("second Setup: IP %v, want %v", again.IP, first.IP)
	}

	// A restarted agent: a new Manager over the same directories.
	restarted, err := New(m.cfg)
	if err != nil {
		t.Fatalf("New after restart: %v", err)
	}
	got, ok := restarted.Get(pod.UID)
	if !ok || !got.IP.Equal(first.IP) || !got.Gateway.Equal(first.Gateway) || got.NetNSPath != first.NetNSPath {
		t.Errorf("Get after restart: %+v, %v; want %+v", got, ok, first)
	}
	if err := restarted.SetPodCIDR("10.88.4.0/24"); err != nil {
		t.Fatalf("SetPodCIDR: %v", err)
	}
	again, err = restarted.Setup(ctx, pod)
	if err != nil || !again.IP.Equal(first.IP) {
		t.Errorf("Setup after restart: %v, %v; want IP %v", again.IP, err, first.IP)
	}
	if allocs, err := restarted.allocations(); err != nil || len(allocs) != 1 {
		t.Errorf("host-local allocations after restart: %v, %v; want exactly one", allocs, err)
	}

	// Without libcni's cache Get reads the address from the netns.
	if err := os.Remove(cachePath(m, pod.UID)); err != nil {
		t.Fatal(err)
	}
	got, ok = restarted.Get(pod.UID)
	if !ok || !got.IP.Equal(first.IP) || !got.Gateway.Equal(first.Gateway) || got.CIDR.String() != "10.88.4.0/24" {
		t.Errorf("Get without cache: %+v, %v; want %+v", got, ok, first)
	}
	// Teardown without cache still frees the address (DEL with the current
	// conflist).
	if err := restarted.Teardown(ctx, pod.UID); err != nil {
		t.Fatalf("Teardown without cache: %v", err)
	}
	if allocs, err := restarted.allocations(); err != nil || len(allocs) != 0 {
		t.Errorf("host-local allocations after Teardown: %v, %v; want none", allocs, err)
	}
}

func TestSetupFailureCleansUp(t *testing.T) {
	// A /30 holds the gateway and one pod: the second ADD fails in IPAM.
	m := newNodeManager(t, "skt-full", "10.88.6.0/30")
	ctx := t.Context()
	setupPod(t, m, "pod-fits")
	defer m.Teardown(ctx, "pod-fits")

	_, err := m.Setup(ctx, PodNetwork{UID: "pod-full", Namespace: "default", Name: "full"})
	if err == nil {
		t.Fatalf("Setup(full) in a full /30: nil error, want one")
	}
	for _, want := range []string{`type="bridge"`, "default/full", "pod-full"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Setup(full) error %q, want it to name %s", err, want)
		}
	}
	if _, err := os.Stat(m.netnsPath("pod-full")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after failed Setup: netns file: %v, want removed", err)
	}
	uids, err := m.cachedUIDs()
	if err != nil || !slices.Equal(uids, []string{"pod-fits"}) {
		t.Errorf("after failed Setup: cache entries %v, %v; want [pod-fits]", uids, err)
	}
	if got, err := m.List(); err != nil || !slices.Equal(got, []string{"pod-fits"}) {
		t.Errorf("after failed Setup: List %v, %v; want [pod-fits]", got, err)
	}
}

func TestSetupConcurrent(t *testing.T) {
	m := newNodeManager(t, "skt-conc", "10.88.10.0/24")
	ctx := t.Context()
	const n = 8
	type res struct {
		sb  Sandbox
		err error
	}
	results := make(chan res, n)
	for i := range n {
		go func() {
			uid := fmt.Sprintf("pod-conc-%d", i)
			sb, err := m.Setup(ctx, PodNetwork{UID: uid, Namespace: "default", Name: uid})
			results <- res{sb, err}
		}()
	}
	seen := map[string]string{}
	for range n {
		r := <-results
		if r.err != nil {
			t.Errorf("Setup: %v", r.err)
			continue
		}
		if other, dup := seen[r.sb.IP.String()]; dup {
			t.Errorf("%s and %s both got %v", r.sb.UID, other, r.sb.IP)
		}
		seen[r.sb.IP.String()] = r.sb.UID
	}
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- m.Teardown(ctx, fmt.Sprintf("pod-conc-%d", i)) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Teardown: %v", err)
		}
	}
	if allocs, err := m.allocations(); err != nil || len(allocs) != 0 {
		t.Errorf("allocations after Teardown: %v, %v; want none", allocs, err)
	}
}

func TestSetupRepairsHalfMadeSandbox(t *testing.T) {
	m := newNodeManager(t, "skt-half", "10.88.12.0/24")
	ctx := t.Context()
	// A crash between pinning and ADD leaves a pinned, empty netns; one
	// inside pinning leaves a plain file.
	if err := pinNetNS(m.netnsPath("pod-pinned")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.netnsPath("pod-file"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	for _, uid := range []string{"pod-pinned", "pod-file"} {
		if _, ok := m.Get(uid); ok {
			t.Errorf("Get(%s) of a half-made sandbox: found, want absent", uid)
		}
		sb, err := m.Setup(ctx, PodNetwork{UID: uid, Namespace: "default", Name: uid})
		if err != nil {
			t.Errorf("Setup(%s): %v", uid, err)
			continue
		}
		if got, ok := m.Get(uid); !ok || !got.IP.Equal(sb.IP) || !ipIn(sb.IP, "10.88.12.0/24") {
			t.Errorf("Get(%s) after Setup: %+v, %v; want IP %v in 10.88.12.0/24", uid, got, ok, sb.IP)
		}
		if err := m.Teardown(ctx, uid); err != nil {
			t.Errorf("Teardown(%s): %v", uid, err)
		}
	}
}
