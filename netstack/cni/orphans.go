package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// List returns the uids of all pod sandboxes under NetNSDir, sorted. A
// mount point left without a namespace by a crash is listed too, so that
// the caller tears it down; Get reports it as absent.
func (m *Manager) List() ([]string, error) {
	entries, err := os.ReadDir(m.cfg.NetNSDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pod netns in %q: %w", m.cfg.NetNSDir, err)
	}
	var uids []string
	for _, e := range entries {
		if validateUID(e.Name()) == nil && !e.IsDir() {
			uids = append(uids, e.Name())
		}
	}
	return uids, nil
}

// CleanupOrphans tears down every sandbox whose uid keep rejects, then
// everything that belongs to no pinned namespace: libcni cache entries
// (DEL with the cached config, which also removes their iptables rules)
// and host-local allocations. It returns what it removed, one line each,
// and carries on past failures, returning them joined.
func (m *Manager) CleanupOrphans(ctx context.Context, keep func(uid string) bool) ([]string, error) {
	var removed []string
	var errs []error

	uids, err := m.List()
	if err != nil {
		return nil, err
	}
	for _, uid := range uids {
		if keep(uid) {
			continue
		}
		if err := m.Teardown(ctx, uid); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, "sandbox "+uid)
	}

	cached, err := m.cachedUIDs()
	if err != nil {
		errs = append(errs, err)
	}
	for _, uid := range cached {
		ok, err := m.tearDownIfUnpinned(ctx, uid)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			removed = append(removed, "cni cache entry of "+uid)
		}
	}

	// releaseAddrs holds host-local's lock, so no address is being handed
	// out meanwhile; and Setup pins before it allocates while Teardown frees
	// before it unpins, so an address of an unpinned uid is stale. (Taking
	// the uid lock here would deadlock with a Setup waiting for host-local.)
	allocs, err := m.releaseAddrs(func(uid string) bool {
		if validateUID(uid) != nil {
			return false
		}
		st, err := pinState(m.netnsPath(uid))
		return err != nil || st == nsPinned
	})
	if err != nil {
		errs = append(errs, err)
	}
	for _, a := range allocs {
		removed = append(removed, fmt.Sprintf("host-local allocation %s of %s", a.ip, a.uid))
	}
	for _, r := range removed {
		m.log.Info("removed orphaned pod network state", "what", r)
	}
	return removed, errors.Join(errs...)
}

// tearDownIfUnpinned runs Teardown for uid when it has no pinned
// namespace, and reports whether it did.
func (m *Manager) tearDownIfUnpinned(ctx context.Context, uid string) (bool, error) {
	unlock := m.locks.lock(uid)
	defer unlock()
	st, err := pinState(m.netnsPath(uid))
	if err != nil || st == nsPinned {
		return false, err
	}
	if err := m.teardown(ctx, uid); err != nil {
		return false, err
	}
	return true, nil
}

// cachedUIDs returns the container IDs of libcni's cache entries for the
// skiff network. An entry that cannot be read is reported and skipped, so
// that one bad file does not hide the entries after it.
func (m *Manager) cachedUIDs() ([]string, error) {
	dir := filepath.Join(m.cfg.cacheDir(), "results")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list cni cache %q: %w", dir, err)
	}
	var uids []string
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), NetworkName+"-") || !strings.HasSuffix(e.Name(), "-"+IfName) {
			continue
		}
		uid, err := cacheEntryUID(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if validateUID(uid) == nil && !slices.Contains(uids, uid) {
			uids = append(uids, uid)
		}
	}
	return uids, errors.Join(errs...)
}

// cacheEntryUID reads the container ID out of a libcni cache file.
func cacheEntryUID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read cni cache entry %q: %w", path, err)
	}
	var entry struct {
		ContainerID string `json:"containerId"`
	}
	if err := json.Unmarshal(b, &entry); err != nil {
		return "", fmt.Errorf("decode cni cache entry %q: %w", path, err)
	}
	return entry.ContainerID, nil
}
