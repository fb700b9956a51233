package cni

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"

	ctrnetns "github.com/containerd/containerd/v2/pkg/netns"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Pinning is done here rather than with containerd's pkg/netns because
// NewNetNS names the file randomly; skiff wants NetNSDir/<uid> so that the
// path is known after a restart without a mapping file. The technique is the
// same: unshare on a locked OS thread and bind-mount the thread's ns file.
// Unpinning uses containerd's (*NetNS).Remove.

// pinNetNS creates a new network namespace and bind-mounts it at path,
// which must not exist.
func pinNetNS(path string) (err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("pin netns %q: create mount point: %w", path, err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()

	errc := make(chan error, 1)
	go func() {
		// The thread is switched back before it is unlocked. If that fails
		// it stays locked and the runtime discards it; but the main thread
		// cannot be discarded, only parked, and a thread parked in the pod's
		// namespace would keep it (and its veth) alive after Teardown. Hence
		// the switch back rather than relying on the discard alone.
		runtime.LockOSThread()
		orig, err := ns.GetCurrentNS()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			runtime.UnlockOSThread()
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind mount %s: %w", src, err)
		} else {
			errc <- nil
		}
		if orig.Set() == nil {
			runtime.UnlockOSThread()
		}
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("pin netns %q: %w", path, err)
	}
	return nil
}

// unpinNetNS unmounts and removes the pinned namespace at path; a missing
// or unmounted file is fine.
func unpinNetNS(path string) error {
	if err := ctrnetns.LoadNetNS(path).Remove(); err != nil {
		return fmt.Errorf("unpin netns %q: %w", path, err)
	}
	return nil
}

// nsState says what is at a pin path.
type nsState int

const (
	nsMissing  nsState = iota // no file
	nsUnpinned                // a file, but no namespace mounted on it
	nsPinned                  // a mounted network namespace
)

// pinState reports what is at path.
func pinState(path string) (nsState, error) {
	err := ns.IsNSorErr(path)
	var notExist ns.NSPathNotExistErr
	var notNS ns.NSPathNotNSErr
	switch {
	case err == nil:
		return nsPinned, nil
	case errors.As(err, &notExist):
		return nsMissing, nil
	case errors.As(err, &notNS):
		return nsUnpinned, nil
	default:
		return nsMissing, fmt.Errorf("netns %q: %w", path, err)
	}
}

// setLoopbackUp brings lo up inside the namespace at path.
func setLoopbackUp(path string) error {
	err := ns.WithNetNSPath(path, func(ns.NetNS) error {
		lo, err := netlinksafe.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	if err != nil {
		return fmt.Errorf("netns %q: set lo up: %w", path, err)
	}
	return nil
}

// podAddr is what the pod's interface carries inside its namespace.
type podAddr struct {
	ip      net.IP
	net     *net.IPNet // the interface's subnet, masked
	gateway net.IP     // of the default route, nil if none
}

// readPodAddr reads the first global address of ifname inside the
// namespace at path, and the default route's gateway. ok is false when the
// interface or its address is missing.
func readPodAddr(path, ifname string) (a podAddr, ok bool, err error) {
	err = ns.WithNetNSPath(path, func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName(ifname)
		if err != nil {
			var notFound netlink.LinkNotFoundError
			if errors.As(err, &notFound) {
				return nil
			}
			return err
		}
		addrs, err := netlinksafe.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, ad := range addrs {
			if ad.IPNet == nil || !ad.IP.IsGlobalUnicast() {
				continue
			}
			a.ip = ad.IP
			a.net = &net.IPNet{IP: ad.IP.Mask(ad.Mask), Mask: ad.Mask}
			ok = true
			break
		}
		if !ok {
			return nil
		}
		family := netlink.FAMILY_V4
		if a.ip.To4() == nil {
			family = netlink.FAMILY_V6
		}
		routes, err := netlinksafe.RouteList(link, family)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Gw != nil && (r.Dst == nil || isDefault(r.Dst)) {
				a.gateway = r.Gw
				break
			}
		}
		return nil
	})
	if err != nil {
		return podAddr{}, false, fmt.Errorf("netns %q: read address of %s: %w", path, ifname, err)
	}
	return a, ok, nil
}

// isDefault reports whether dst is 0.0.0.0/0 or ::/0.
func isDefault(dst *net.IPNet) bool {
	ones, _ := dst.Mask.Size()
	return ones == 0
}
