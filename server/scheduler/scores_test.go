package scheduler

import (
	"reflect"
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

func TestLeastAllocated(t *testing.T) {
	nodes := []*NodeInfo{
		infoOn(node("empty", "4", "8Gi")),
		infoOn(node("half", "4", "8Gi"), pod("a", requests("2", "4Gi"))),
		infoOn(node("full", "4", "8Gi"), pod("a", requests("4", "8Gi"))),
	}
	got := runScore(t, LeastAllocated{}, pod("p", requests("1", "2Gi")), snapshotOf(nodes...), nodes)
	// empty: (4-1)/4=75, (8-2)/8=75; half: 25, 25; full: over capacity = 0.
	if want := []int64{75, 25, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("scores %v, want %v", got, want)
	}
	// A pod without requests counts as 100m and 200Mi.
	got = runScore(t, LeastAllocated{}, pod("p"), snapshotOf(nodes[0]), nodes[:1])
	if got[0] != (3900*100/4000+(8192-200)*100/8192)/2 {
		t.Errorf("best-effort score %d", got[0])
	}
}

func TestBalancedAllocation(t *testing.T) {
	nodes := []*NodeInfo{
		infoOn(node("balanced", "4", "8Gi"), pod("a", requests("1", "2Gi"))),
		infoOn(node("cpu-heavy", "4", "8Gi"), pod("a", requests("3", "0"))),
	}
	got := runScore(t, BalancedAllocation{}, pod("p", requests("1", "2Gi")), snapshotOf(nodes...), nodes)
	// balanced: 0.5 and 0.5 → 100; cpu-heavy: 1.0 and 0.25 → 1-0.375 → 62.
	if want := []int64{100, 62}; !reflect.DeepEqual(got, want) {
		t.Errorf("scores %v, want %v", got, want)
	}
}

func TestImageLocality(t *testing.T) {
	big := api.ContainerImage{Names: []string{"docker.io/library/postgres:16"}, SizeBytes: 500 << 20}
	small := api.ContainerImage{Names: []string{"docker.io/library/busybox:1.36"}, SizeBytes: 2 << 20}
	nodes := []*NodeInfo{
		NewNodeInfo(node("has", "1", "1Gi", withImages(big))),
		NewNodeInfo(node("small", "1", "1Gi", withImages(small))),
		NewNodeInfo(node("none", "1", "1Gi")),
	}
	got := runScore(t, ImageLocality{}, pod("p", image("postgres:16")), snapshotOf(nodes...), nodes)
	// 500Mi × 1/3 of nodes ≈ 166Mi: (166-23)/(1000-23) ≈ 14.
	if got[0] != 14 || got[1] != 0 || got[2] != 0 {
		t.Errorf("scores %v, want [14 0 0]", got)
	}
}

func TestNormalizeImage(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                      "docker.io/library/nginx:latest",
		"nginx:1.25":                 "docker.io/library/nginx:1.25",
		"user/app":                   "docker.io/user/app:latest",
		"registry.local:5000/app":    "registry.local:5000/app:latest",
		"registry.local:5000/app:v1": "registry.local:5000/app:v1",
		"ghcr.io/o/app@sha256:abc":   "ghcr.io/o/app@sha256:abc",
		"docker.io/library/redis:7":  "docker.io/library/redis:7",
		"localhost/app":              "localhost/app:latest",
	} {
		if got := normalizeImage(in); got != want {
			t.Errorf("normalizeImage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, c := range []struct {
		in      []int64
		reverse bool
		want    []int64
	}{
		{[]int64{0, 5, 10}, false, []int64{0, 50, 100}},
		{[]int64{0, 5, 10}, true, []int64{100, 50, 0}},
		{[]int64{0, 0}, false, []int64{0, 0}},
		{[]int64{0, 0}, true, []int64{100, 100}},
	} {
		got := append([]int64(nil), c.in...)
		normalize(got, c.reverse)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("normalize(%v, %v) = %v, want %v", c.in, c.reverse, got, c.want)
		}
	}
	got := []int64{-10, 0, 10}
	minMax(got)
	if want := []int64{0, 50, 100}; !reflect.DeepEqual(got, want) {
		t.Errorf("minMax = %v, want %v", got, want)
	}
}
