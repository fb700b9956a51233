package containerd

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiffhq/skiff/runtime/container"
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
// CAP_SYS_RESOURCE, and runc cannot raise those then.
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
	opts = append(opts, securityOpts(s.Security)...)
	if s.TTY {
		opts = append(opts, oci.WithTTY)
	}
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

func securityOpts(sec container.Security) []oci.SpecOpts {
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
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)
	} else {
		opts = append(opts, capabilityOpts(sec.CapAdd, sec.CapDrop)...)
	}
	opts = append(opts, withNoNewPrivileges(!sec.AllowPrivilegeEscalation && !sec.Privileged))
	return opts
}

// capabilityOpts change containerd's default set: drops first, so that
// "drop ALL, add NET_BIND_SERVICE" leaves exactly that one.
func capabilityOpts(add, drop []string) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if hasAll(drop) {
		opts = append(opts, oci.WithCapabilities(nil))
	} else if len(drop) > 0 {
		opts = append(opts, oci.WithDroppedCapabilities(capNames(drop)))
	}
	if hasAll(add) {
		opts = append(opts, oci.WithAllKnownCapabilities)
	} else if len(add) > 0 {
		opts = append(opts, oci.WithAddedCapabilities(capNames(add)))
	}
	return opts
}

func hasAll(caps []string) bool {
	for _, c := range caps {
		if strings.EqualFold(c, "ALL") {
			return true
		}
	}
	return false
}

func capNames(caps []string) []string {
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		c = strings.ToUpper(c)
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		out = append(out, c)
	}
	return out
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
