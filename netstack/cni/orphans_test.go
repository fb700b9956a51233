package cni

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCleanupOrphans(t *testing.T) {
	m := newNodeManager(t, "skt-orph", "10.88.5.0/24")
	ctx := t.Context()
	for _, uid := range []string{"pod-keep", "pod-drop", "pod-lost"} {
		setupPod(t, m, uid)
	}
	defer m.Teardown(ctx, "pod-keep")
	// pod-lost loses its netns (say, removed by hand): its cache entry and
	// address stay behind.
	if err := unpinNetNS(m.netnsPath("pod-lost")); err != nil {
		t.Fatal(err)
	}
	// A stale allocation of a pod long gone.
	stale := filepath.Join(m.hostLocalDir(), "10.88.5.200")
	if err := os.WriteFile(stale, []byte("pod-ghost\r\neth0"), 0o644); err != nil {
		t.Fatal(err)
	}

	removed, err := m.CleanupOrphans(ctx, func(uid string) bool { return uid == "pod-keep" })
	if err != nil {
		t.Fatalf("CleanupOrphans: %v", err)
	}
	for _, want := range []string{"sandbox pod-drop", "cni cache entry of pod-lost", "host-local allocation 10.88.5.200 of pod-ghost"} {
		if !slices.Contains(removed, want) {
			t.Errorf("CleanupOrphans removed %q, want %q among them", removed, want)
		}
	}
	if got, err := m.List(); err != nil || !slices.Equal(got, []string{"pod-keep"}) {
		t.Errorf("List after CleanupOrphans: %v, %v; want [pod-keep]", got, err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale allocation: %v, want removed", err)
	}
	allocs, err := m.allocations()
	if err != nil || len(allocs) != 1 || allocs[0].uid != "pod-keep" {
		t.Errorf("allocations after CleanupOrphans: %v, %v; want only pod-keep's", allocs, err)
	}
	if uids, err := m.cachedUIDs(); err != nil || !slices.Equal(uids, []string{"pod-keep"}) {
		t.Errorf("cache entries after CleanupOrphans: %v, %v; want [pod-keep]", uids, err)
	}
	if _, ok := m.Get("pod-keep"); !ok {
		t.Errorf("Get(pod-keep) after CleanupOrphans: absent, want kept")
	}
	if rules := natRulesOf(t, "pod-drop"); len(rules) > 0 {
		t.Errorf("iptables rules of pod-drop left: %q", rules)
	}
	if rules := natRulesOf(t, "pod-lost"); len(rules) > 0 {
		t.Errorf("iptables rules of pod-lost left: %q", rules)
	}

	// Nothing left to do the second time.
	removed, err = m.CleanupOrphans(ctx, func(uid string) bool { return uid == "pod-keep" })
	if err != nil || len(removed) != 0 {
		t.Errorf("second CleanupOrphans: %q, %v; want nothing removed", removed, err)
	}
}

// TestCachedUIDsSkipsBadEntry: an unreadable cache entry is reported, and
// the entries after it are still listed for clean-up.
func TestCachedUIDsSkipsBadEntry(t *testing.T) {
	m := &Manager{cfg: Config{StateDir: t.TempDir()}}
	if err := os.MkdirAll(filepath.Dir(cachePath(m, "x")), 0o700); err != nil {
		t.Fatal(err)
	}
	for uid, content := range map[string]string{"pod-a": "not json", "pod-b": `{"containerId":"pod-b"}`} {
		if err := os.WriteFile(cachePath(m, uid), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	uids, err := m.cachedUIDs()
	if err == nil || !strings.Contains(err.Error(), NetworkName+"-pod-a-"+IfName) {
		t.Errorf("cachedUIDs error %v, want one naming pod-a's entry", err)
	}
	if !slices.Equal(uids, []string{"pod-b"}) {
		t.Errorf("cachedUIDs = %v, want [pod-b]", uids)
	}
}
