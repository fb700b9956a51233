package cni

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
)

// Forwarding sysctls; /proc/sys/net shows the caller's network namespace.
const (
	ipv4Forward = "/proc/sys/net/ipv4/ip_forward"
	ipv6Forward = "/proc/sys/net/ipv6/conf/all/forwarding"
)

// ensureForwarding turns on IP forwarding for the family of the pod subnet
// when it is off, and logs that it did: pods reach beyond the node, and
// hostPorts reach pods, only through the node's forwarding path.
func ensureForwarding(log *slog.Logger, ipv6 bool) error {
	path := ipv4Forward
	if ipv6 {
		path = ipv6Forward
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if string(bytes.TrimSpace(b)) == "1" {
		return nil
	}
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("enable ip forwarding: write %s: %w", path, err)
	}
	log.Info("enabled ip forwarding for pod traffic", "sysctl", path)
	return nil
}
