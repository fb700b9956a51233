package containerd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/cap"
	"github.com/containerd/containerd/v2/pkg/netns"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// capMask is the bitmask /proc/PID/status shows for a set of capabilities.
func capMask(t *testing.T, caps []string) uint64 {
	t.Helper()
	var m uint64
	for _, c := range caps {
		b := slices.Index(cap.Known(), c) // in bit order
		if b < 0 {
			t.Fatalf("capMask: no bit for %s", c)
		}
		m |= 1 << b
	}
	return m
}

// procStatus reads the Cap*, NoNewPrivs and Uid lines of a process's
// /proc status, as the host sees them.
func procStatus(t *testing.T, pid uint32) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		out[k] = strings.TrimSpace(v)
	}
	return out
}

func hexMask(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatalf("capability mask %q: %v", s, err)
	}
	return v
}

// ownNetNS gives s a network namespace of its own, so that what
// NET_ADMIN allows changes nothing of the host's.
func ownNetNS(t *testing.T, s *container.Spec) {
	t.Helper()
	ns, err := netns.NewNetNS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Registered before run's cleanup, so it runs after the container
	// has gone.
	t.Cleanup(func() { ns.Remove() })
	s.NetNSPath = ns.GetPath()
}

// execCase is a command run in the container and whether it must
// succeed.
type execCase struct {
	cmd  []string
	ok   bool
	want string // a substring of stdout, if set
}

func checkExecs(t *testing.T, r *Runtime, id string, cases []execCase) {
	t.Helper()
	for _, tt := range cases {
		var out, errOut bytes.Buffer
		code, err := r.Exec(context.Background(), id, container.ExecSpec{Command: tt.cmd, Stdout: &out, Stderr: &errOut})
		if err != nil {
			t.Errorf("exec %q: %v", tt.cmd, err)
			continue
		}
		if (code == 0) != tt.ok || !strings.Contains(out.String(), tt.want) {
			t.Errorf("exec %q: code %d, stdout %q, stderr %q; want success %v and %q", tt.cmd, code, out.String(), errOut.String(), tt.ok, tt.want)
		}
	}
}

// startSecure runs sleep with sec in a network namespace of its own and
// returns the /proc status of its first process.
func startSecure(t *testing.T, r *Runtime, sec container.Security) (container.Spec, map[string]string) {
	t.Helper()
	s := testSpec(t, "sleep", "1000")
	s.Security = sec
	ownNetNS(t, &s)
	run(t, r, s)
	st := waitState(t, r, s.ID, container.StateRunning)
	// Running comes when runc's init is told to start, a moment before it
	// execs the command: its user is set by then, but its capabilities
	// are what they become only at the exec (flaked once: CapEff still
	// the default set for uid 65534).
	cmdline := fmt.Sprintf("/proc/%d/cmdline", st.PID)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, err := os.ReadFile(cmdline); err == nil && bytes.HasPrefix(b, []byte("sleep\x00")) {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(cmdline)
			t.Fatalf("the container's process is still %q, not sleep, 5 s after it was Running", b)
		}
	}
	return s, procStatus(t, st.PID)
}

func checkCaps(t *testing.T, status map[string]string, eff, bnd uint64) {
	t.Helper()
	for k, want := range map[string]uint64{"CapEff": eff, "CapPrm": eff, "CapBnd": bnd, "CapInh": 0, "CapAmb": 0} {
		if got := hexMask(t, status[k]); got != want {
			t.Errorf("%s = %016x, want %016x", k, got, want)
		}
	}
}

// TestSecurityDefault: a plain container has Docker's capabilities and
// no_new_privs, and cannot do what CAP_NET_ADMIN or CAP_SYS_ADMIN allow.
func TestSecurityDefault(t *testing.T) {
	r := newTestRuntime(t)
	s, status := startSecure(t, r, container.Security{})
	def := capMask(t, dockerCaps)
	if def != 0xa80425fb {
		t.Fatalf("Docker's default mask computed as %x", def)
	}
	checkCaps(t, status, def, def)
	if status["NoNewPrivs"] != "1" {
		t.Errorf("NoNewPrivs = %q, want 1", status["NoNewPrivs"])
	}
	checkExecs(t, r, s.ID, []execCase{
		{[]string{"grep", "NoNewPrivs", "/proc/self/status"}, true, "1"},
		{[]string{"ip", "link", "set", "lo", "mtu", "1300"}, false, ""},
		{[]string{"ip", "addr", "add", "10.9.9.9/32", "dev", "lo"}, false, ""},
		{[]string{"sh", "-c", "mkdir -p /m && mount -t tmpfs none /m"}, false, ""},
		{[]string{"sh", "-c", "echo 1 > /proc/sys/kernel/sysrq"}, false, ""}, // read-only /proc/sys
		{[]string{"chown", "65534", "/bin"}, true, ""},                       // CAP_CHOWN is in the default set
		{[]string{"sh", "-c", "ulimit -n 4096"}, false, ""},                  // raising the hard limit needs CAP_SYS_RESOURCE
	})
}

// TestSecurityAddNetAdmin: capabilities.add NET_ADMIN lets the container
// configure its own network namespace, and nothing more.
func TestSecurityAddNetAdmin(t *testing.T) {
	r := newTestRuntime(t)
	s, status := startSecure(t, r, container.Security{CapAdd: []string{"NET_ADMIN"}})
	want := capMask(t, append(slices.Clone(dockerCaps), "CAP_NET_ADMIN"))
	checkCaps(t, status, want, want)
	checkExecs(t, r, s.ID, []execCase{
		{[]string{"ip", "link", "set", "lo", "mtu", "1300"}, true, ""},
		{[]string{"ip", "link", "show", "lo"}, true, "mtu 1300"},
		{[]string{"ip", "addr", "add", "10.9.9.9/32", "dev", "lo"}, true, ""},
		{[]string{"sh", "-c", "mkdir -p /m && mount -t tmpfs none /m"}, false, ""},
	})
}

// TestSecurityDropAll: drop ALL leaves a root process with no
// capabilities at all; adding one back gives exactly that one.
func TestSecurityDropAll(t *testing.T) {
	r := newTestRuntime(t)
	s, status := startSecure(t, r, container.Security{CapDrop: []string{"ALL"}})
	checkCaps(t, status, 0, 0)
	checkExecs(t, r, s.ID, []execCase{
		{[]string{"chown", "65534", "/bin"}, false, ""},
		{[]string{"id", "-u"}, true, "0"},
	})
	_, status = startSecure(t, r, container.Security{CapDrop: []string{"ALL"}, CapAdd: []string{"NET_BIND_SERVICE"}})
	one := capMask(t, []string{"CAP_NET_BIND_SERVICE"})
	checkCaps(t, status, one, one)
}

// TestSecurityPrivileged: a privileged container has every capability
// skiff has, may gain privileges, and may mount.
func TestSecurityPrivileged(t *testing.T) {
	r := newTestRuntime(t)
	s, status := startSecure(t, r, container.Security{Privileged: true})
	self := procStatus(t, uint32(os.Getpid()))
	node := hexMask(t, self["CapBnd"])
	checkCaps(t, status, node, node)
	if status["NoNewPrivs"] != "0" {
		t.Errorf("NoNewPrivs = %q, want 0", status["NoNewPrivs"])
	}
	checkExecs(t, r, s.ID, []execCase{
		{[]string{"sh", "-c", "mkdir -p /m && mount -t tmpfs none /m && umount /m"}, true, ""},
		{[]string{"ip", "link", "set", "lo", "mtu", "1300"}, true, ""},
		{[]string{"ls", "/dev/kmsg"}, true, ""}, // host devices
	})
}

// TestSecurityAllowEscalation: allowPrivilegeEscalation turns
// no_new_privs off and keeps the default capabilities.
func TestSecurityAllowEscalation(t *testing.T) {
	r := newTestRuntime(t)
	_, status := startSecure(t, r, container.Security{AllowPrivilegeEscalation: true})
	if status["NoNewPrivs"] != "0" {
		t.Errorf("NoNewPrivs = %q, want 0", status["NoNewPrivs"])
	}
	def := capMask(t, dockerCaps)
	checkCaps(t, status, def, def)
}

// TestSecurityRunAsNobody: runAsUser 65534 runs as the image's nobody,
// with its group, and (not root) no effective capabilities.
func TestSecurityRunAsNobody(t *testing.T) {
	r := newTestRuntime(t)
	uid := int64(65534)
	s, status := startSecure(t, r, container.Security{User: &uid})
	if !strings.HasPrefix(status["Uid"], "65534\t") {
		t.Errorf("Uid = %q, want 65534", status["Uid"])
	}
	checkCaps(t, status, 0, capMask(t, dockerCaps))
	checkExecs(t, r, s.ID, []execCase{
		{[]string{"id"}, true, "uid=65534(nobody) gid=65534(nobody)"},
		{[]string{"touch", "/bin/x"}, false, ""},
	})
}

// TestSecurityAddAllDropOne: capabilities.add ALL with drop SYS_ADMIN is
// every capability skiff has but CAP_SYS_ADMIN, as in containerd's CRI
// plugin (a drop wins over an add), so the container cannot mount.
func TestSecurityAddAllDropOne(t *testing.T) {
	node, err := nodeCaps()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(node, "CAP_SYS_ADMIN") {
		t.Fatalf("skiff runs without CAP_SYS_ADMIN (%v): it cannot run containers", node)
	}
	r := newTestRuntime(t)
	s, status := startSecure(t, r, container.Security{CapAdd: []string{"ALL"}, CapDrop: []string{"SYS_ADMIN"}})
	want := capMask(t, without(node, "CAP_SYS_ADMIN"))
	checkCaps(t, status, want, want)
	checkExecs(t, r, s.ID, []execCase{
		{[]string{"sh", "-c", "mkdir -p /m && mount -t tmpfs none /m"}, false, ""},
		{[]string{"ip", "link", "set", "lo", "mtu", "1300"}, true, ""}, // CAP_NET_ADMIN came with ALL
	})
}

// TestSecurityAddBeyondDefault: adding a capability outside the default
// set gives the container exactly that one more if skiff has it, and
// fails at create, naming it, if skiff lacks it (CAP_SYS_RESOURCE in a
// restricted VM). Each capability here takes the path this machine
// calls for, so both root with every capability (CI) and a restricted
// root test a real container; capabilityOpts' unit test covers the
// refusal for every machine.
func TestSecurityAddBeyondDefault(t *testing.T) {
	node, err := nodeCaps()
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRuntime(t)
	for _, c := range []string{"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_PTRACE"} {
		t.Run(c, func(t *testing.T) {
			name := strings.TrimPrefix(c, "CAP_")
			if !slices.Contains(node, c) {
				s := testSpec(t, "sleep", "1000")
				s.Security.CapAdd = []string{name}
				err := r.Create(context.Background(), s)
				if err == nil {
					r.Remove(context.Background(), s.ID)
				}
				if !errdefs.IsInvalid(err) || !strings.Contains(err.Error(), "capabilities.add "+c+": this node cannot grant it") {
					t.Errorf("create adding %s, which skiff lacks: got %v, want invalid naming it", c, err)
				}
				if _, err := r.Inspect(context.Background(), s.ID); !errdefs.IsNotFound(err) {
					t.Errorf("after the refusal: inspect %v, want not found", err)
				}
				return
			}
			s, status := startSecure(t, r, container.Security{CapAdd: []string{name}})
			want := capMask(t, append(slices.Clone(dockerCaps), c))
			checkCaps(t, status, want, want)
			if c == "CAP_SYS_RESOURCE" {
				// Raising a hard limit (containerd's RLIMIT_NOFILE 1024)
				// is what it allows.
				checkExecs(t, r, s.ID, []execCase{{[]string{"sh", "-c", "ulimit -n 4096 && ulimit -H -n"}, true, "4096"}})
			}
		})
	}
}

// TestImageUserForRunAsNonRoot: the agent's runAsNonRoot check reads the
// image's USER through GetImage; the test image has none, so it runs as
// root and a runAsNonRoot pod without runAsUser is refused (see
// runtime/agent's TestCheckImageNonRoot), as kubelet refuses it.
func TestImageUserForRunAsNonRoot(t *testing.T) {
	r := newTestRuntime(t)
	img, err := r.GetImage(context.Background(), testImage)
	if err != nil {
		t.Fatal(err)
	}
	if img.Config.User != "" {
		t.Errorf("test image USER = %q, want none (root)", img.Config.User)
	}
	// And it does run as root.
	s, status := startSecure(t, r, container.Security{})
	if !strings.HasPrefix(status["Uid"], "0\t") {
		t.Errorf("container %s: Uid = %q, want 0", s.ID, status["Uid"])
	}
}
