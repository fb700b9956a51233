package cni

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
)

// The tests that run plugins run inside a network namespace of their own
// that plays the node: TestMain re-executes the test binary with
// CLONE_NEWNET, so every thread of that process, and every plugin it execs,
// is in the node namespace. The bridges, veth host ends and iptables rules
// the plugins make live there and vanish with the process; the host's are
// never touched. Pod namespaces are pinned under t.TempDir() and torn down
// by each test.

const (
	// nodeEnv is set in the re-executed test binary.
	nodeEnv = "SKIFF_CNI_TEST_NODE"
	// nodeAddr is the node's own address, on a veth in the node
	// namespace; hostPorts are dialled there.
	nodeAddr = "198.51.100.1"
)

func TestMain(m *testing.M) {
	if os.Getenv(nodeEnv) == "1" {
		if err := setupNode(); err != nil {
			fmt.Fprintln(os.Stderr, "set up test node netns:", err)
			os.Exit(1)
		}
		os.Exit(m.Run())
	}
	if os.Geteuid() != 0 {
		// Without root only the tests that touch no network run.
		os.Exit(m.Run())
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), nodeEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			os.Exit(ee.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "re-exec test binary in a new netns:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// setupNode brings up lo and the node's address in the fresh namespace.
func setupNode() error {
	lo, err := netlinksafe.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return err
	}
	// A veth pair stands in for the node's uplink (the dummy module may not
	// be loadable where the tests run).
	uplink := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "node0"}, PeerName: "node0-peer"}
	if err := netlink.LinkAdd(uplink); err != nil {
		return fmt.Errorf("add veth node0: %w", err)
	}
	addr, err := netlink.ParseAddr(nodeAddr + "/24")
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(uplink, addr); err != nil {
		return fmt.Errorf("add %s to node0: %w", nodeAddr, err)
	}
	for _, name := range []string{"node0", "node0-peer"} {
		l, err := netlinksafe.LinkByName(name)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", name, err)
		}
	}
	return nil
}

// requireNode skips t unless it runs in the test node namespace.
func requireNode(t testing.TB) {
	t.Helper()
	if os.Getenv(nodeEnv) != "1" {
		t.Skip("needs root: runs real CNI plugins in a test-owned node netns")
	}
}

// testLog logs to the test's output.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTestManager returns a Manager on bridge ("" for the default) with its
// state under t.TempDir() and no pod cidr; edits change the Config before
// New. When New fails (it needs the plugins) the test is skipped without
// root, where they may be missing, and fails as root, where CI runs it.
func newTestManager(t testing.TB, bridge string, edits ...func(*Config)) *Manager {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{
		NetNSDir: dir + "/netns",
		StateDir: dir + "/cni",
		Bridge:   bridge,
		Log:      testLog(t),
	}
	for _, edit := range edits {
		edit(&cfg)
	}
	m, err := New(cfg)
	switch {
	case err == nil:
		return m
	case os.Geteuid() != 0:
		t.Skipf("New (needs the plugins in %v): %v", DefaultPluginDirs(), err)
	default:
		t.Fatalf("New: %v", err)
	}
	return nil
}

// newNodeManager returns a Manager on bridge with the pod cidr set, its
// state under t.TempDir(). At the end of the test it tears down what is
// left and fails the test if anything stays pinned.
func newNodeManager(t testing.TB, bridge, cidr string, edits ...func(*Config)) *Manager {
	t.Helper()
	requireNode(t)
	m := newTestManager(t, bridge, edits...)
	if err := m.SetPodCIDR(cidr); err != nil {
		t.Fatalf("SetPodCIDR(%q): %v", cidr, err)
	}
	t.Cleanup(func() { cleanupManager(t, m) })
	return m
}

// cleanupManager tears down every sandbox of m; runs before TempDir's own
// clean-up, which would fail on a still-mounted netns file.
func cleanupManager(t testing.TB, m *Manager) {
	t.Helper()
	uids, err := m.List()
	if err != nil {
		t.Errorf("cleanup: List: %v", err)
	}
	for _, uid := range uids {
		t.Errorf("cleanup: sandbox %s left behind by the test", uid)
		if err := m.Teardown(t.Context(), uid); err != nil {
			t.Errorf("cleanup: Teardown(%s): %v", uid, err)
			unpinNetNS(m.netnsPath(uid))
		}
	}
	if err := deleteLink(m.cfg.Bridge); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// setupPod sets up the sandbox of pod uid in namespace default, named
// uid, and fails the test if that fails.
func setupPod(t testing.TB, m *Manager, uid string) Sandbox {
	t.Helper()
	sb, err := m.Setup(t.Context(), PodNetwork{UID: uid, Namespace: "default", Name: uid})
	if err != nil {
		t.Fatalf("Setup(%s): %v", uid, err)
	}
	return sb
}

// cachePath is libcni's cache entry of pod uid.
func cachePath(m *Manager, uid string) string {
	return filepath.Join(m.cfg.cacheDir(), "results", NetworkName+"-"+uid+"-"+IfName)
}

// deleteLink removes a link of the node namespace if it exists.
func deleteLink(name string) error {
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		if _, ok := err.(netlink.LinkNotFoundError); ok {
			return nil
		}
		return err
	}
	return netlink.LinkDel(l)
}

// bridgeAddrs returns the addresses on the node's bridge.
func bridgeAddrs(t testing.TB, name string) []string {
	t.Helper()
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		t.Fatalf("bridge %s: %v", name, err)
	}
	addrs, err := netlinksafe.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatalf("bridge %s addresses: %v", name, err)
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.IPNet.String())
	}
	return out
}

// ipIn reports whether ip is in cidr.
func ipIn(ip net.IP, cidr string) bool {
	_, n, err := net.ParseCIDR(cidr)
	return err == nil && n.Contains(ip)
}
