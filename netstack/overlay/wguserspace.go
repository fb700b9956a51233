package overlay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Userspace WireGuard, for kernels without it, works as wg-quick runs
// it: `wireguard-go <device>` makes the TUN device <device> in the
// namespace it runs in and listens on the control socket
// /var/run/wireguard/<device>.sock, then forks a daemon that keeps both
// and exits. wgctrl configures the device through that socket. The
// daemon ends when its TUN device is deleted or its socket removed.
//
// It is started in its own session, so that the agent's terminal or
// process group going does not take it along: the pods need their
// routes across agent restarts, and a later Sync adopts the running
// device as it is. (Under systemd the agent's unit needs
// KillMode=process for the same reason.)
//
// The socket directory is one for the whole machine, while devices are
// per network namespace: a socket of the right name may be another
// namespace's. A device is taken to be skiff's only when the socket's
// listener is in the namespace being programmed, which is where
// wireguard-go made it, with the TUN device.

// uapiSocket is where wireguard-go listens for device name's settings.
func uapiSocket(name string) string { return "/var/run/wireguard/" + name + ".sock" }

// startUserspace runs Config.WireGuardUserspace for device name in the
// namespace being programmed and returns once the device is there.
func (o *Overlay) startUserspace(name string) error {
	bin, err := exec.LookPath(o.cfg.WireGuardUserspace)
	if err != nil {
		return fmt.Errorf("overlay: create wireguard device %s: this kernel has no WireGuard and the userspace WireGuard %q is not there (%v): load the kernel's wireguard module (modprobe wireguard), or install wireguard-go (apt-get install wireguard-go) or set WireGuardUserspace to its path: %w",
			name, o.cfg.WireGuardUserspace, err, errdefs.ErrUnavailable)
	}
	if err := o.waitUserspaceGone(name); err != nil {
		return err
	}
	sock := uapiSocket(name)
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("overlay: create wireguard device %s: %s is served by a wireguard-go of another network namespace: set Device to a name unique on this machine: %w", name, sock, errdefs.ErrConflict)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, name)
	cmd.Env = userspaceEnv()
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	// The child is forked from this thread, in the namespace, so the
	// TUN device and its listener are made there.
	if err := o.inNetNS(cmd.Run); err != nil {
		return fmt.Errorf("overlay: create wireguard device %s: this kernel has no WireGuard, and %s %s failed: %w%s", name, bin, name, err, userspaceOutput(out.Bytes()))
	}
	return waitUAPI(name)
}

// waitUAPI returns once the daemon answers on device name's socket. It
// has set up the device by then: before, it would still set the TUN
// device's MTU back to its own default, after Sync had set it.
func waitUAPI(name string) error {
	conn, err := net.DialTimeout("unix", uapiSocket(name), 10*time.Second)
	if err != nil {
		return fmt.Errorf("overlay: wireguard-go of %s: %w", name, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("get=1\n\n")); err != nil {
		return fmt.Errorf("overlay: wireguard-go of %s: %w", name, err)
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "errno=") {
			return nil
		}
	}
	return fmt.Errorf("overlay: wireguard-go of %s did not answer on %s: %v", name, uapiSocket(name), sc.Err())
}

// userspaceEnv is wireguard-go's environment: PATH only. A daemon that
// outlives the agent has no use for the agent's (which may hold its join
// token), and its WG_* fd hand-over variables or LOG_LEVEL would change
// how it starts (with LOG_LEVEL it keeps writing to the pipe Sync waits
// on).
func userspaceEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH")}
}

// userspaceOutput is what wireguard-go printed, on one line, without the
// box it always prints about the kernel module.
func userspaceOutput(b []byte) string {
	var lines []string
	for l := range strings.SplitSeq(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.ContainsAny(l, "│┌└") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return ""
	}
	return ": " + strings.Join(lines, "; ")
}

// deleteUserspace deletes the TUN device of a wireguard-go of this
// namespace and waits for that wireguard-go to be gone.
func (o *Overlay) deleteUserspace(h *netlink.Handle, link netlink.Link) error {
	name := link.Attrs().Name
	var notFound netlink.LinkNotFoundError
	if err := h.LinkDel(link); err != nil && !errors.As(err, &notFound) && !errors.Is(err, syscall.ENODEV) {
		return fmt.Errorf("overlay: delete %s: %w", name, err)
	}
	return o.waitUserspaceGone(name)
}

// waitUserspaceGone waits until no wireguard-go of this namespace serves
// device name's socket. wireguard-go unlinks its socket on the way out;
// one started under the same name before the last had gone would lose
// its socket to it. After a second the socket is removed, which ends a
// wireguard-go that did not notice its TUN device go; after five it is
// an error.
func (o *Overlay) waitUserspaceGone(name string) error {
	start := time.Now()
	removed := false
	for {
		serving, err := o.servesUAPI(name)
		if err != nil || !serving {
			return err
		}
		if !removed && time.Since(start) > time.Second {
			if err := os.Remove(uapiSocket(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("overlay: stop wireguard-go of %s: %w", name, err)
			}
			removed = true
		}
		if time.Since(start) > 5*time.Second {
			return fmt.Errorf("overlay: the wireguard-go of %s still serves %s 5s after its device went: %w", name, uapiSocket(name), errdefs.ErrUnavailable)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// servesUAPI reports whether a socket listening on uapiSocket(name) is
// in the namespace being programmed (listed in its /proc/net/unix).
func (o *Overlay) servesUAPI(name string) (bool, error) {
	paths := []string{uapiSocket(name), "/run/wireguard/" + name + ".sock"}
	found := false
	err := o.inNetNS(func() error {
		f, err := os.Open("/proc/thread-self/net/unix")
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// Num RefCount Protocol Flags Type St Inode Path
			f := strings.Fields(sc.Text())
			if len(f) < 8 || (f[7] != paths[0] && f[7] != paths[1]) {
				continue
			}
			if flags, err := strconv.ParseUint(f[3], 16, 32); err == nil && flags&unixAcceptCon != 0 {
				found = true
				return nil
			}
		}
		return sc.Err()
	})
	if err != nil {
		return false, fmt.Errorf("overlay: list unix sockets: %w", err)
	}
	return found, nil
}

// unixAcceptCon is __SO_ACCEPTCON in /proc/net/unix's Flags: listening.
const unixAcceptCon = 1 << 16
