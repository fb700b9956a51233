package containerd

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cap"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// processArgs applies Kubernetes' rules to the image's entrypoint and cmd:
// Command replaces the entrypoint, Args replace the cmd, and a Command
// given without Args drops the image's cmd too.
func processArgs(s container.Spec, img ocispec.ImageConfig) []string {
	switch {
	case len(s.Command) > 0:
		return append(append([]string{}, s.Command...), s.Args...)
	case len(s.Args) > 0:
		return append(append([]string{}, img.Entrypoint...), s.Args...)
	default:
		return append(append([]string{}, img.Entrypoint...), img.Cmd...)
	}
}

// cgroupPath is the container's cgroup (cgroupfs style) under its pod's.
func cgroupPath(s container.Spec) string {
	parent := s.CgroupParent
	if parent == "" {
		parent = "/" + Namespace
	}
	return strings.TrimSuffix(parent, "/") + "/" + s.ID
}

// specOpts turn a Spec into OCI spec options, after the image's config
// (oci.WithImageConfig) has been applied. They set neither oom_score_adj
// nor rlimits beyond containerd's defaults: skiff may run without
// CAP_SYS_RESOURCE, and runc cannot then lower oom_score_adj below its
// own nor raise a hard rlimit above its own. withinProcessLimits turns a
// spec that asks for either into an error that says so, instead of a
// runc failure at start.
func specOpts(s container.Spec, img ocispec.ImageConfig) ([]oci.SpecOpts, error) {
	args := processArgs(s, img)
	if len(args) == 0 {
		return nil, fmt.Errorf("container %q: no command: the image has no entrypoint or cmd and the spec gives none: %w", s.ID, errdefs.ErrInvalid)
	}
	opts := []oci.SpecOpts{
		oci.WithProcessArgs(args...),
		oci.WithEnv(s.Env),
		oci.WithCgroup(cgroupPath(s)),
	}
	if s.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(s.WorkingDir))
	}
	if s.Hostname != "" {
		opts = append(opts, oci.WithHostname(s.Hostname))
	}
	if s.NetNSPath == "" {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace))
	} else {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: s.NetNSPath}))
	}
	if len(s.Mounts) > 0 {
		opts = append(opts, oci.WithMounts(bindMounts(s.Mounts)))
	}
	opts = append(opts, resourceOpts(s.Resources)...)
	sec, err := securityOpts(s.ID, s.Security, nodeCaps)
	if err != nil {
		return nil, err
	}
	opts = append(opts, sec...)
	if s.TTY {
		opts = append(opts, oci.WithTTY)
	}
	// Last, so that it sees what every other option set.
	opts = append(opts, withinProcessLimits(s.ID, processLimits))
	return opts, nil
}

func bindMounts(ms []container.Mount) []specs.Mount {
	out := make([]specs.Mount, 0, len(ms))
	for _, m := range ms {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		out = append(out, specs.Mount{Type: "bind", Source: m.Source, Destination: m.Destination, Options: []string{"rbind", mode}})
	}
	return out
}

func resourceOpts(r container.Resources) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if r.MemoryLimit > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(r.MemoryLimit)))
	}
	if r.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(r.CPUShares))
	}
	if r.CPUQuota > 0 || r.CPUPeriod > 0 {
		opts = append(opts, oci.WithCPUCFS(r.CPUQuota, r.CPUPeriod))
	}
	if r.PidsLimit > 0 {
		opts = append(opts, oci.WithPidsLimit(r.PidsLimit))
	}
	return opts
}

// securityOpts are Kubernetes' and containerd CRI's process security:
//
//   - capabilities: containerd's default set (Docker's: CHOWN,
//     DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID,
//     SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE)
//     in the bounding, effective and permitted sets, none inheritable or
//     ambient; then CapAdd and CapDrop in the CRI plugin's order, where
//     a drop always wins (capabilityOpts);
//   - privileged: every capability this node has, no masked or read-only
//     /proc paths, writable /sys and cgroupfs, seccomp unconfined, no
//     AppArmor profile, and every host device (oci.WithPrivileged with
//     the devices CRI adds);
//   - no_new_privs unless AllowPrivilegeEscalation (the agent sets it for
//     a privileged container and one that adds CAP_SYS_ADMIN, as
//     Kubernetes does).
//
// have says what this node can grant: runc cannot give a container a
// capability that containerd and the shim (skiff's children, with
// skiff's capabilities) lack.
func securityOpts(id string, sec container.Security, have func() ([]string, error)) ([]oci.SpecOpts, error) {
	var opts []oci.SpecOpts
	if sec.User != nil {
		// Looks the user up in the image's /etc/passwd for its group.
		opts = append(opts, oci.WithUserID(uint32(*sec.User)))
	}
	if sec.Group != nil || len(sec.SupplementalGroups) > 0 {
		opts = append(opts, withGroups(sec.Group, sec.SupplementalGroups))
	}
	if sec.ReadOnlyRootFS {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if sec.Privileged {
		// Every capability skiff has (oci.WithAllCurrentCapabilities):
		// asking for all known ones would fail where skiff lacks some.
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)
	} else {
		caps, err := capabilityOpts(id, sec.CapAdd, sec.CapDrop, have)
		if err != nil {
			return nil, err
		}
		opts = append(opts, caps...)
	}
	opts = append(opts, withNoNewPrivileges(!sec.AllowPrivilegeEscalation && !sec.Privileged))
	return opts, nil
}

// nodeCaps are the capabilities skiff runs with, which runc can pass on.
func nodeCaps() ([]string, error) {
	caps, err := cap.Current()
	if err != nil {
		return nil, fmt.Errorf("read this process's capabilities: %w", err)
	}
	return caps, nil
}

// capabilityOpts change containerd's default set in the order of
// containerd's CRI plugin (WithCapabilities in internal/cri/opts): add
// ALL sets every capability the node has, then drop ALL sets none, then
// the named adds are added, then the named drops removed. So a drop
// always wins: "add ALL, drop CHOWN" is all but CAP_CHOWN, "add
// NET_ADMIN, drop NET_ADMIN" lacks it, and "drop ALL, add
// NET_BIND_SERVICE" is exactly that one. have gives what the node can
// grant; a capability the container would get that the node lacks is
// an error naming it, as is a name that is no Linux capability.
func capabilityOpts(id string, add, drop []string, have func() ([]string, error)) ([]oci.SpecOpts, error) {
	addAll, adds, err := capNames(id, "add", add)
	if err != nil {
		return nil, err
	}
	dropAll, drops, err := capNames(id, "drop", drop)
	if err != nil {
		return nil, err
	}
	// What the node must be able to grant: the named adds no drop
	// takes away, and with add ALL (unless drop ALL undoes it) the
	// node's own set.
	var granted []string
	for _, c := range adds {
		if !slices.Contains(drops, c) {
			granted = append(granted, c)
		}
	}
	var node []string
	if len(granted) > 0 || addAll && !dropAll {
		if node, err = have(); err != nil {
			return nil, fmt.Errorf("container %q: capabilities.add: %w", id, err)
		}
	}
	for _, c := range granted {
		if !slices.Contains(node, c) {
			return nil, fmt.Errorf("container %q: capabilities.add %s: this node cannot grant it, because skiff (and so containerd and runc) runs without %s: remove it or run skiff with it: %w", id, c, c, errdefs.ErrInvalid)
		}
	}
	var opts []oci.SpecOpts
	switch {
	case dropAll:
		// After add ALL in CRI's order, so it undoes it.
		opts = append(opts, oci.WithCapabilities(nil))
	case addAll:
		// A copy: WithCapabilities shares it among the three sets, and
		// the adds below append to each.
		opts = append(opts, oci.WithCapabilities(slices.Clone(node)))
	}
	if len(adds) > 0 {
		opts = append(opts, oci.WithAddedCapabilities(adds))
	}
	if len(drops) > 0 {
		opts = append(opts, oci.WithDroppedCapabilities(drops))
	}
	return opts, nil
}

// capNames spells caps as the OCI spec does (api.Capability.Canonical:
// "net_admin" is CAP_NET_ADMIN), without ALL, and says whether ALL is
// among them. A name that is no Linux capability is an error naming it:
// the API server refuses those, but this package trusts no caller.
func capNames(id, field string, caps []string) (all bool, names []string, err error) {
	for _, c := range caps {
		name, ok := api.Capability(c).Canonical()
		switch {
		case !ok:
			return false, nil, fmt.Errorf("container %q: capabilities.%s %q: not a Linux capability: %w", id, field, c, errdefs.ErrInvalid)
		case name == string(api.CapabilityAll):
			all = true
		case !slices.Contains(names, name):
			names = append(names, name)
		}
	}
	return all, names, nil
}

func withGroups(group *int64, supplemental []int64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		if group != nil {
			// The primary group replaces the image user's in the list
			// of groups too.
			old := s.Process.User.GID
			gids := []uint32{uint32(*group)}
			for _, g := range s.Process.User.AdditionalGids {
				if g != old && g != uint32(*group) {
					gids = append(gids, g)
				}
			}
			s.Process.User.GID, s.Process.User.AdditionalGids = uint32(*group), gids
		}
		for _, g := range supplemental {
			s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, uint32(g))
		}
		return nil
	}
}

func withNoNewPrivileges(on bool) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.NoNewPrivileges = on
		return nil
	}
}

// ownLimits is what runc, started (through containerd and the shim) with
// skiff's own limits, can give a container.
type ownLimits struct {
	// sysResource: the process has CAP_SYS_RESOURCE, and nothing below
	// binds.
	sysResource bool
	// oomScoreAdj is the process's; lowering below it needs
	// CAP_SYS_RESOURCE.
	oomScoreAdj int
	// hard are the process's hard rlimits by OCI name (RLIMIT_NOFILE);
	// raising one needs CAP_SYS_RESOURCE.
	hard map[string]uint64
}

// rlimits are the OCI names of the resources setrlimit(2) knows.
var rlimits = map[string]int{
	"RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_DATA": unix.RLIMIT_DATA,
	"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
}

// processLimits reads skiff's own limits. An assumption, as for
// capabilities: containerd is skiff's child (or was started alike), so
// the shim and runc have what skiff has.
func processLimits() (ownLimits, error) {
	caps, err := cap.Current()
	if err != nil {
		return ownLimits{}, fmt.Errorf("read this process's capabilities: %w", err)
	}
	l := ownLimits{sysResource: slices.Contains(caps, "CAP_SYS_RESOURCE"), hard: map[string]uint64{}}
	if l.sysResource {
		return l, nil
	}
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return ownLimits{}, err
	}
	if l.oomScoreAdj, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		return ownLimits{}, fmt.Errorf("/proc/self/oom_score_adj: %w", err)
	}
	for name, res := range rlimits {
		var r unix.Rlimit
		if err := unix.Getrlimit(res, &r); err != nil {
			return ownLimits{}, fmt.Errorf("getrlimit %s: %w", name, err)
		}
		l.hard[name] = r.Max
	}
	return l, nil
}

// withinProcessLimits fails a spec whose oom_score_adj or rlimits runc
// could only set with CAP_SYS_RESOURCE when skiff runs without it (root
// in a container or a restricted VM often does), naming the setting, the
// limit, and the reason, instead of letting the container fail at start
// with runc's "operation not permitted".
func withinProcessLimits(id string, own func() (ownLimits, error)) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil || (s.Process.OOMScoreAdj == nil && len(s.Process.Rlimits) == 0) {
			return nil
		}
		l, err := own()
		if err != nil {
			return fmt.Errorf("container %q: check oom_score_adj and rlimits: %w", id, err)
		}
		if l.sysResource {
			return nil
		}
		const why = "skiff runs without CAP_SYS_RESOURCE, so runc cannot"
		if adj := s.Process.OOMScoreAdj; adj != nil && *adj < l.oomScoreAdj {
			return fmt.Errorf("container %q: oom_score_adj %d is below skiff's own %d: %s lower it: %w", id, *adj, l.oomScoreAdj, why, errdefs.ErrInvalid)
		}
		for _, r := range s.Process.Rlimits {
			hard, ok := l.hard[r.Type]
			if ok && r.Hard > hard {
				return fmt.Errorf("container %q: %s hard limit %d is above skiff's own %d: %s raise it: %w", id, r.Type, r.Hard, hard, why, errdefs.ErrInvalid)
			}
		}
		return nil
	}
}
