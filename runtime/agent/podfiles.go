package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api"
)

// podHostname is the hostname a pod's containers see.
func podHostname(pod *api.Pod) string {
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	name := pod.Name
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-.")
	}
	return name
}

// writeEtcFiles writes the pod's /etc/hosts, /etc/hostname and
// /etc/resolv.conf and returns the mounts that put them in a container.
// Host-network pods get the node's own files.
func (a *Agent) writeEtcFiles(pod *api.Pod, podIP string) ([]container.Mount, error) {
	if pod.Spec.HostNetwork {
		return []container.Mount{
			{Source: "/etc/hosts", Destination: "/etc/hosts", ReadOnly: true},
			{Source: a.cfg.HostResolvConf, Destination: "/etc/resolv.conf", ReadOnly: true},
		}, nil
	}
	dir := a.podPaths(pod.UID).etc()
	host := podHostname(pod)
	var hosts bytes.Buffer
	hosts.WriteString("# Managed by skiff.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if podIP != "" {
		names := host
		if pod.Spec.Subdomain != "" {
			names = fmt.Sprintf("%s.%s.%s.svc.%s\t%s", host, pod.Spec.Subdomain, pod.Namespace, a.cfg.ClusterDomain, host)
		}
		fmt.Fprintf(&hosts, "%s\t%s\n", podIP, names)
	}
	resolv, err := a.resolvConf(pod)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"hosts": hosts.Bytes(), "hostname": []byte(host + "\n"), "resolv.conf": resolv}
	var out []container.Mount
	for _, name := range []string{"hosts", "hostname", "resolv.conf"} {
		path := filepath.Join(dir, name)
		if err := writeIfChanged(path, files[name], 0o644); err != nil {
			return nil, fmt.Errorf("pod /etc/%s: %w", name, err)
		}
		out = append(out, container.Mount{Source: path, Destination: "/etc/" + name})
	}
	return out, nil
}

// resolvConf is a pod's resolver configuration: cluster DNS with the
// pod's search path for ClusterFirst, the node's otherwise (and for now
// when no cluster DNS is configured).
func (a *Agent) resolvConf(pod *api.Pod) ([]byte, error) {
	host, err := os.ReadFile(a.cfg.HostResolvConf)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("read %s: %w", a.cfg.HostResolvConf, err)
	}
	policy := pod.Spec.DNSPolicy
	if policy == api.DNSDefault || len(a.cfg.ClusterDNS) == 0 {
		return host, nil
	}
	var b bytes.Buffer
	b.WriteString("# Managed by skiff.\n")
	for _, ns := range a.cfg.ClusterDNS {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	d := a.cfg.ClusterDomain
	search := []string{pod.Namespace + ".svc." + d, "svc." + d, d}
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 1 && f[0] == "search" {
			search = append(search, f[1:]...)
		}
	}
	fmt.Fprintf(&b, "search %s\noptions ndots:5\n", strings.Join(search, " "))
	return b.Bytes(), nil
}
