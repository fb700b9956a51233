package cni

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// host-local's disk store: one file per allocated address, named by the
// address and holding "<container id>\r\n<ifname>", next to a "lock" file
// that host-local flocks around every change, and "last_reserved_ip.N".

// allocation is one address host-local has handed out.
type allocation struct {
	ip  netip.Addr
	uid string // CNI container ID
}

// hostLocalDir is host-local's directory for the skiff network.
func (m *Manager) hostLocalDir() string { return filepath.Join(m.cfg.ipamDir(), NetworkName) }

// lockHostLocal takes host-local's own lock on its store, so that files are
// never removed under a running plugin. The directory may not exist yet.
func (m *Manager) lockHostLocal() (unlock func(), err error) {
	dir := m.hostLocalDir()
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDONLY|os.O_CREATE, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("host-local store %q: open lock: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("host-local store %q: lock: %w", dir, err)
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// allocations lists host-local's allocations; call it with the store locked.
func (m *Manager) allocations() ([]allocation, error) {
	dir := m.hostLocalDir()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("host-local store %q: %w", dir, err)
	}
	var out []allocation
	for _, e := range entries {
		ip, err := netip.ParseAddr(e.Name())
		if err != nil || !e.Type().IsRegular() {
			continue // lock, last_reserved_ip.N
		}
		uid, err := readAllocationID(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, allocation{ip: ip, uid: uid})
	}
	return out, nil
}

// readAllocationID returns the container ID an allocation file names.
func readAllocationID(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("host-local allocation %q: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("host-local allocation %q: %w", path, err)
	}
	return strings.TrimSpace(sc.Text()), nil
}

// releaseAddrs removes the allocations whose uid keep rejects and returns
// them.
func (m *Manager) releaseAddrs(keep func(uid string) bool) ([]allocation, error) {
	unlock, err := m.lockHostLocal()
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, err := m.allocations()
	if err != nil {
		return nil, err
	}
	var removed []allocation
	var errs []error
	for _, a := range all {
		if keep(a.uid) {
			continue
		}
		path := filepath.Join(m.hostLocalDir(), a.ip.String())
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("release host-local allocation %s of %q: %w", a.ip, a.uid, err))
			continue
		}
		removed = append(removed, a)
	}
	return removed, errors.Join(errs...)
}
