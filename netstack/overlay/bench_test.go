package overlay

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// The benchmarks program one namespace (skiff-ovl-<pid>-<n>-bench) whose
// eth0 (a veth whose peer stays in the namespace; this kernel may have
// no dummy driver) holds 10.252.0.1/16, so that 100+ remote nodes at
// 10.252.1.<i> are all on its subnet. Run them with
//
//	go test -run '^$' -bench . -benchtime 20x ./netstack/overlay/
//
// (BenchmarkSyncWireGuard's namespace is skiff-ovl-wg-<pid>-<n>-bench.)
func benchState(n int) State {
	st := State{Local: Node{Name: "local", IP: netip.MustParseAddr("10.252.0.1"), PodCIDR: netip.MustParsePrefix("10.42.0.0/24")}}
	for i := 1; i <= n; i++ {
		ip := netip.MustParseAddr(fmt.Sprintf("10.252.1.%d", i))
		name := fmt.Sprintf("node%d", i)
		key := sha256.Sum256([]byte(name)) // any 32 bytes will do for a peer's key
		st.Remotes = append(st.Remotes, Node{
			Name:         name,
			IP:           ip,
			PodCIDR:      netip.MustParsePrefix(fmt.Sprintf("10.42.%d.0/24", i)),
			VTEPMAC:      MACFor(ip),
			WireGuardKey: base64.StdEncoding.EncodeToString(key[:]),
		})
	}
	return st
}

// benchNetNS makes the benchmarks' namespace prefix-bench and returns it
// open.
func benchNetNS(b *testing.B, prefix string) *os.File {
	c := &cluster{t: b, prefix: prefix}
	name := c.prefix + "-bench"
	c.netns(name)
	c.ip("-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
	c.ip("-n", name, "link", "set", "eth1", "up")
	c.ip("-n", name, "addr", "add", "10.252.0.1/16", "dev", "eth0")
	c.ip("-n", name, "link", "set", "eth0", "up")
	f, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

func BenchmarkSync(b *testing.B) {
	requireRoot(b)
	f := benchNetNS(b, fmt.Sprintf("skiff-ovl-%d-%d", os.Getpid(), clusterSeq.Add(1)))
	st100, st101 := benchState(100), benchState(101)
	for _, backend := range []Backend{HostGW, VXLAN} {
		o, err := New(Config{Backend: backend, NetNS: int(f.Fd())})
		if err != nil {
			b.Fatal(err)
		}
		sync := func(b *testing.B, st State, want int) {
			res, err := o.Sync(st)
			if err != nil || res.Routes != want {
				b.Fatalf("Sync: %d routes, error %v; want %d routes", res.Routes, err, want)
			}
		}
		b.Run(string(backend)+"/100-nodes-from-empty", func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				if err := o.Cleanup(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				sync(b, st100, 100)
			}
		})
		b.Run(string(backend)+"/one-node-added-to-100", func(b *testing.B) {
			sync(b, st100, 100)
			for b.Loop() {
				sync(b, st101, 101)
				b.StopTimer()
				sync(b, st100, 100)
				b.StartTimer()
			}
		})
		b.Run(string(backend)+"/100-nodes-unchanged", func(b *testing.B) {
			sync(b, st100, 100)
			for b.Loop() {
				sync(b, st100, 100)
			}
		})
		if err := o.Cleanup(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSyncWireGuard is BenchmarkSync for the WireGuard backend
// with 50 peers: the kernel's WireGuard, else wireguard-go.
func BenchmarkSyncWireGuard(b *testing.B) {
	requireWireGuard(b)
	seq := clusterSeq.Add(1)
	f := benchNetNS(b, fmt.Sprintf("skiff-ovl-wg-%d-%d", os.Getpid(), seq))
	dev := fmt.Sprintf("wg%d-%d-b", os.Getpid(), seq)
	o, err := New(Config{Backend: WireGuard, NetNS: int(f.Fd()), Device: dev, WireGuardKeyFile: filepath.Join(b.TempDir(), "wireguard.key")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := o.Cleanup(); err != nil {
			b.Error(err)
		}
	})
	st50, st51 := benchState(50), benchState(51)
	sync := func(b *testing.B, st State, want int) {
		res, err := o.Sync(st)
		if err != nil || res.Routes != want {
			b.Fatalf("Sync: %d routes, error %v; want %d routes", res.Routes, err, want)
		}
	}
	b.Run("50-nodes-from-empty", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if err := o.Cleanup(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			sync(b, st50, 50)
		}
	})
	b.Run("one-node-added-to-50", func(b *testing.B) {
		sync(b, st50, 50)
		for b.Loop() {
			sync(b, st51, 51)
			b.StopTimer()
			sync(b, st50, 50)
			b.StartTimer()
		}
	})
	b.Run("50-nodes-unchanged", func(b *testing.B) {
		sync(b, st50, 50)
		for b.Loop() {
			res, err := o.Sync(st50)
			if err != nil || res.Changes != 0 {
				b.Fatalf("Sync: %d changes, error %v; want none", res.Changes, err)
			}
		}
	})
}
