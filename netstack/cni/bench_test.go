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
