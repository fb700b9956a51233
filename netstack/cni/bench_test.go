package cni

import (
	"fmt"
	"testing"
)

// BenchmarkSetupTeardown measures one pod's network start and stop:
// pin netns, lo up, CNI ADD (bridge + host-local + portmap with one
// hostPort), then DEL and unpin, inside the test node namespace.
func BenchmarkSetupTeardown(b *testing.B) {
	m := newNodeManager(b, "skt-bench", "10.88.7.0/24")
	ctx := b.Context()
	for i := 0; b.Loop(); i++ {
		uid := fmt.Sprintf("bench-%d", i)
		pod := PodNetwork{UID: uid, Namespace: "bench", Name: uid,
			Ports: []PortMapping{{HostPort: 28080, ContainerPort: 80}}}
		if _, err := m.Setup(ctx, pod); err != nil {
			b.Fatalf("Setup: %v", err)
		}
		if err := m.Teardown(ctx, uid); err != nil {
			b.Fatalf("Teardown: %v", err)
		}
	}
}

// BenchmarkSetup measures Setup alone (Teardown outside the timer), and
// BenchmarkSetupExisting the idempotent path the agent takes on resync.
func BenchmarkSetup(b *testing.B) {
	m := newNodeManager(b, "skt-bsetup", "10.88.8.0/24")
	ctx := b.Context()
	for i := 0; b.Loop(); i++ {
		uid := fmt.Sprintf("bench-%d", i)
		if _, err := m.Setup(ctx, PodNetwork{UID: uid, Namespace: "bench", Name: uid}); err != nil {
			b.Fatalf("Setup: %v", err)
		}
		b.StopTimer()
		if err := m.Teardown(ctx, uid); err != nil {
			b.Fatalf("Teardown: %v", err)
		}
		b.StartTimer()
	}
}

func BenchmarkSetupExisting(b *testing.B) {
	m := newNodeManager(b, "skt-bexist", "10.88.9.0/24")
	ctx := b.Context()
	pod := PodNetwork{UID: "bench-existing", Namespace: "bench", Name: "existing"}
	if _, err := m.Setup(ctx, pod); err != nil {
		b.Fatalf("Setup: %v", err)
	}
	defer m.Teardown(ctx, pod.UID)
	for b.Loop() {
		if _, err := m.Setup(ctx, pod); err != nil {
			b.Fatalf("Setup: %v", err)
		}
	}
}

// BenchmarkSetPodCIDR measures SetPodCIDR when the masquerade rule is in
// place (reads only) and when it changes each time (one nftables batch).
func BenchmarkSetPodCIDR(b *testing.B) {
	m := newNodeManager(b, "skt-bcidr", "10.88.11.0/24")
	b.Run("unchanged", func(b *testing.B) {
		for b.Loop() {
			if err := m.SetPodCIDR("10.88.11.0/24"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("changed", func(b *testing.B) {
		cidrs := []string{"10.88.11.0/24", "10.88.13.0/24"}
		for i := 0; b.Loop(); i++ {
			if err := m.SetPodCIDR(cidrs[i%2]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
