package build

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// buildPidsLimit bounds the processes of one RUN step.
const buildPidsLimit = 4096

// runStep runs a RUN step's command in a runc container whose root
// filesystem is the active snapshot, with the base image's environment
// under the step's, its working directory and user, the host's network,
// resolv.conf and hosts, and Request.Memory as the memory limit. Its
// output goes to the build log.
func (e *execution) runStep(ctx context.Context, cur *stageOut, step Step, active string) error {
	c := e.b.Client
	id := "skiff-build-" + randomID()
	base := cur.baseConfig()
	env := mergeEnv(base.Env, step.Env)
	user := step.User
	if user == "" {
		user = base.User
	}
	opts := []oci.SpecOpts{
		oci.WithProcessArgs(step.Args...),
		oci.WithEnv(env),
		oci.WithProcessCwd(cur.abs(step.WorkingDir)),
		oci.WithHostNamespace(specs.NetworkNamespace),
		oci.WithHostResolvconf,
		oci.WithHostHostsFile,
		withoutRunTmpfs,
		// The host's network is shared (as docker build --network host):
		// no raw sockets to watch the pods' bridge with, no fork bomb,
		// and containerd's default seccomp profile.
		oci.WithDroppedCapabilities([]string{"CAP_NET_RAW"}),
		oci.WithPidsLimit(buildPidsLimit),
		seccomp.WithDefaultProfile(),
	}
	if user != "" {
		opts = append(opts, oci.WithUser(user))
	}
	if e.req.Memory > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(e.req.Memory)))
		if swapAccounted() {
			// No swap beyond the limit, so the limit is the limit.
			opts = append(opts, oci.WithMemorySwap(e.req.Memory))
		}
	}
	if p := e.b.CgroupParent; p != "" {
		if strings.HasSuffix(p, ".slice") {
			opts = append(opts, oci.WithCgroup(p+":skiff-build:"+id))
		} else {
			opts = append(opts, oci.WithCgroup(path.Join(p, id)))
		}
	}
	fail := func(err error) error {
		return fmt.Errorf("line %d: %s: %w", step.Line, step.Original, err)
	}
	ctr, err := c.NewContainer(ctx, id,
		containerd.WithSnapshotter(e.b.snapshotter()),
		containerd.WithSnapshot(active),
		containerd.WithNewSpec(opts...),
		containerd.WithContainerLabels(map[string]string{buildLabel: "true"}),
	)
	if err != nil {
		return fail(fmt.Errorf("create container: %w", err))
	}
	defer func() {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		if err := ctr.Delete(cctx); err != nil {
			e.b.log().Warn("delete build container", "id", id, "err", err)
		}
	}()
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, e.out, e.out)))
	if err != nil {
		return fail(fmt.Errorf("create task: %w", err))
	}
	deleted := false
	defer func() {
		if !deleted {
			cctx, cancel := cleanupContext(ctx)
			defer cancel()
			task.Delete(cctx, containerd.WithProcessKill)
		}
	}()
	exitCh, err := task.Wait(context.WithoutCancel(ctx))
	if err != nil {
		return fail(fmt.Errorf("wait: %w", err))
	}
	if err := task.Start(ctx); err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
	var code uint32
	select {
	case st := <-exitCh:
		code = st.ExitCode()
	case <-ctx.Done():
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		task.Kill(cctx, syscall.SIGKILL)
		select {
		case <-exitCh:
		case <-time.After(10 * time.Second):
		}
		return ctx.Err()
	}
	oom := false
	if code != 0 && e.req.Memory > 0 {
		known := false
		if s, err := ctr.Spec(ctx); err == nil && s.Linux != nil {
			oom, known = oomKilled(s.Linux.CgroupsPath)
		}
		if !known {
			// SIGKILL with a memory limit: most likely the OOM killer.
			oom = code == 128+uint32(syscall.SIGKILL)
		}
		if oom {
			e.b.log().Info("RUN step killed for exceeding its memory limit", "line", step.Line, "limit", e.req.Memory, "fromCgroup", known)
		}
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	_, derr := task.Delete(cctx)
	deleted = derr == nil
	switch {
	case oom:
		return fail(fmt.Errorf("ran out of its memory limit of %d MiB and was killed (exit code %d); make the step use less memory or raise the build's memory limit", e.req.Memory>>20, code))
	case code != 0:
		return fail(fmt.Errorf("exit code %d", code))
	}
	return nil
}

// mergeEnv is base with the step's variables laid over it by name.
func mergeEnv(base, over []string) []string {
	out := append([]string{}, base...)
	for _, kv := range over {
		out = setEnv(out, kv)
	}
	return out
}

// withoutRunTmpfs drops the default spec's tmpfs on /run: what a RUN step
// writes there belongs in the layer, as with docker build.
func withoutRunTmpfs(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	kept := s.Mounts[:0]
	for _, m := range s.Mounts {
		if m.Destination != "/run" {
			kept = append(kept, m)
		}
	}
	s.Mounts = kept
	return nil
}

// swapAccounted reports whether the memory cgroup limits swap: always on
// cgroup v2, on v1 only with swap accounting (memory.memsw.*) enabled.
func swapAccounted() bool {
	if unifiedCgroups() {
		return true
	}
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return err == nil
}

func unifiedCgroups() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// oomKilled reports whether the kernel's OOM killer killed a process of the
// cgroupfs-style cgroup path, read before the task is deleted, while the
// cgroup exists; known is false when the counter cannot be read (a systemd
// slice path, an old kernel).
func oomKilled(cgroupPath string) (killed, known bool) {
	if cgroupPath == "" || strings.Contains(cgroupPath, ":") {
		return false, false
	}
	file := filepath.Join("/sys/fs/cgroup/memory", cgroupPath, "memory.oom_control")
	if unifiedCgroups() {
		file = filepath.Join("/sys/fs/cgroup", cgroupPath, "memory.events")
	}
	f, err := os.Open(file)
	if err != nil {
		return false, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		if k == "oom_kill" {
			return v != "0", true
		}
	}
	return false, false
}
