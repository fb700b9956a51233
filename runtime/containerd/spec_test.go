package containerd

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestProcessArgs(t *testing.T) {
	img := ocispec.ImageConfig{Entrypoint: []string{"/entry"}, Cmd: []string{"run", "fast"}}
	tests := []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image's", nil, nil, []string{"/entry", "run", "fast"}},
		{"args replace cmd", nil, []string{"walk"}, []string{"/entry", "walk"}},
		{"command drops cmd", []string{"/bin/x"}, nil, []string{"/bin/x"}},
		{"command and args", []string{"/bin/x"}, []string{"-v"}, []string{"/bin/x", "-v"}},
	}
	for _, tt := range tests {
		got := processArgs(container.Spec{Command: tt.command, Args: tt.args}, img)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// generate builds the OCI spec s asks for over containerd's default,
// as if the image had config img.
func generate(t *testing.T, s container.Spec, img ocispec.ImageConfig) *oci.Spec {
	t.Helper()
	opts, err := specOpts(s, img)
	if err != nil {
		t.Fatal(err)
	}
	ctx := namespaces.WithNamespace(context.Background(), Namespace)
	spec, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: s.ID}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestSpecOpts(t *testing.T) {
	img := ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}
	base := container.Spec{ID: "c1", CgroupParent: "/skiff/podu1"}
	withNetNS := base
	withNetNS.NetNSPath = "/run/skiff/netns/p1"
	res := base
	res.Resources = container.Resources{MemoryLimit: 1 << 20, CPUShares: 256, CPUQuota: 50000, CPUPeriod: 100000, PidsLimit: 10}
	mounts := base
	mounts.Mounts = []container.Mount{{Source: "/a", Destination: "/x", ReadOnly: true}, {Source: "/b", Destination: "/y"}}
	capsDrop := base
	capsDrop.Security.CapDrop = []string{"ALL"}
	capsDrop.Security.CapAdd = []string{"net_bind_service"}
	capsAdd := base
	capsAdd.Security.CapAdd = []string{"NET_ADMIN"}
	capsAdd.Security.CapDrop = []string{"CHOWN"}
	escalate := base
	escalate.Security.AllowPrivilegeEscalation = true
	ro := base
	ro.Security.ReadOnlyRootFS = true
	ro.TTY = true
	ro.Hostname = "h1"
	ro.WorkingDir = "/w"
	ro.Env = []string{"A=1"}

	netns := func(s *oci.Spec) string {
		for _, n := range s.Linux.Namespaces {
			if n.Type == specs.NetworkNamespace {
				if n.Path == "" {
					return "own"
				}
				return n.Path
			}
		}
		return "host"
	}
	tests := []struct {
		name  string
		spec  container.Spec
		check func(*oci.Spec) (got, want any)
	}{
		{"args", base, func(s *oci.Spec) (any, any) { return s.Process.Args, []string{"/bin/sh"} }},
		{"cgroup", base, func(s *oci.Spec) (any, any) { return s.Linux.CgroupsPath, "/skiff/podu1/c1" }},
		{"host network", base, func(s *oci.Spec) (any, any) { return netns(s), "host" }},
		{"pod network", withNetNS, func(s *oci.Spec) (any, any) { return netns(s), "/run/skiff/netns/p1" }},
		{"no_new_privs", base, func(s *oci.Spec) (any, any) { return s.Process.NoNewPrivileges, true }},
		{"escalation allowed", escalate, func(s *oci.Spec) (any, any) { return s.Process.NoNewPrivileges, false }},
		{"memory", res, func(s *oci.Spec) (any, any) { return *s.Linux.Resources.Memory.Limit, int64(1 << 20) }},
		{"cpu", res, func(s *oci.Spec) (any, any) {
			c := s.Linux.Resources.CPU
			return [3]int64{int64(*c.Shares), *c.Quota, int64(*c.Period)}, [3]int64{256, 50000, 100000}
		}},
		{"pids", res, func(s *oci.Spec) (any, any) { return *s.Linux.Resources.Pids.Limit, int64(10) }},
		{"mounts", mounts, func(s *oci.Spec) (any, any) {
			var got []string
			for _, m := range s.Mounts {
				if m.Type == "bind" {
					got = append(got, m.Source+":"+m.Destination+":"+m.Options[1])
				}
			}
			return got, []string{"/a:/x:ro", "/b:/y:rw"}
		}},
		{"drop all, add one", capsDrop, func(s *oci.Spec) (any, any) {
			return s.Process.Capabilities.Bounding, []string{"CAP_NET_BIND_SERVICE"}
		}},
		{"add and drop", capsAdd, func(s *oci.Spec) (any, any) {
			b := s.Process.Capabilities.Bounding
			return [2]bool{slices.Contains(b, "CAP_NET_ADMIN"), slices.Contains(b, "CAP_CHOWN")}, [2]bool{true, false}
		}},
		{"read-only root", ro, func(s *oci.Spec) (any, any) { return s.Root.Readonly, true }},
		{"tty", ro, func(s *oci.Spec) (any, any) { return s.Process.Terminal, true }},
		{"hostname", ro, func(s *oci.Spec) (any, any) { return s.Hostname, "h1" }},
		{"cwd", ro, func(s *oci.Spec) (any, any) { return s.Process.Cwd, "/w" }},
		{"env", ro, func(s *oci.Spec) (any, any) { return slices.Contains(s.Process.Env, "A=1"), true }},
		{"no oom_score_adj", res, func(s *oci.Spec) (any, any) { return s.Process.OOMScoreAdj == nil, true }},
	}
	for _, tt := range tests {
		got, want := tt.check(generate(t, tt.spec, img))
		if !equalAny(got, want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, want)
		}
	}
}

func equalAny(a, b any) bool {
	as, aok := a.([]string)
	bs, bok := b.([]string)
	if aok && bok {
		return slices.Equal(as, bs)
	}
	return a == b
}

func TestSpecOptsNoCommand(t *testing.T) {
	_, err := specOpts(container.Spec{ID: "c1"}, ocispec.ImageConfig{})
	if !errdefs.IsInvalid(err) {
		t.Errorf("no command anywhere: got %v, want invalid", err)
	}
}

func TestCgroupPath(t *testing.T) {
	tests := []struct{ parent, want string }{
		{"", "/skiff/c1"},
		{"/skiff/podu1", "/skiff/podu1/c1"},
		{"/skiff/podu1/", "/skiff/podu1/c1"},
	}
	for _, tt := range tests {
		if got := cgroupPath(container.Spec{ID: "c1", CgroupParent: tt.parent}); got != tt.want {
			t.Errorf("parent %q: got %q, want %q", tt.parent, got, tt.want)
		}
	}
}

// dockerCaps is containerd's (and Docker's) default capability set.
var dockerCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// without is caps less c.
func without(caps []string, c string) []string {
	return slices.DeleteFunc(slices.Clone(caps), func(x string) bool { return x == c })
}

func TestSpecSecurityDefaults(t *testing.T) {
	img := ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}
	s := generate(t, container.Spec{ID: "c1"}, img)
	c := s.Process.Capabilities
	for name, set := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
		if !slices.Equal(sorted(set), sorted(dockerCaps)) {
			t.Errorf("%s capabilities: got %v, want containerd's default %v", name, set, dockerCaps)
		}
	}
	if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
		t.Errorf("inheritable %v, ambient %v: want both empty", c.Inheritable, c.Ambient)
	}
	if !s.Process.NoNewPrivileges {
		t.Error("no_new_privs is off by default")
	}
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"} {
		if !slices.Contains(s.Linux.MaskedPaths, p) {
			t.Errorf("masked paths %v lack %s", s.Linux.MaskedPaths, p)
		}
	}
	for _, p := range []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/fs", "/proc/irq"} {
		if !slices.Contains(s.Linux.ReadonlyPaths, p) {
			t.Errorf("read-only paths %v lack %s", s.Linux.ReadonlyPaths, p)
		}
	}
	if s.Process.OOMScoreAdj != nil {
		t.Errorf("oom_score_adj = %d, want unset", *s.Process.OOMScoreAdj)
	}
	for _, r := range s.Process.Rlimits {
		if r.Type != "RLIMIT_NOFILE" || r.Hard != 1024 {
			t.Errorf("rlimit %+v: want only containerd's RLIMIT_NOFILE 1024", r)
		}
	}
	// Devices: only the default deny-all rule and containerd's defaults.
	if d := s.Linux.Resources.Devices; len(d) == 0 || d[0].Allow {
		t.Errorf("device rules %+v: want deny-all first", d)
	}
}

func TestSpecPrivileged(t *testing.T) {
	img := ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}
	spec := container.Spec{ID: "c1"}
	spec.Security.Privileged = true
	spec.Security.CapDrop = []string{"ALL"} // ignored, as CRI does
	s := generate(t, spec, img)
	node, err := nodeCaps()
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Process.Capabilities.Bounding; !slices.Equal(sorted(got), sorted(node)) {
		t.Errorf("privileged bounding set: got %v, want this process's %v", got, node)
	}
	if s.Process.NoNewPrivileges {
		t.Error("privileged container has no_new_privs")
	}
	if len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
		t.Errorf("privileged: masked %v, read-only %v: want none", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if s.Linux.Seccomp != nil || s.Process.ApparmorProfile != "" {
		t.Errorf("privileged: seccomp %v, apparmor %q: want unconfined", s.Linux.Seccomp, s.Process.ApparmorProfile)
	}
	d := s.Linux.Resources.Devices
	if len(d) == 0 || !d[len(d)-1].Allow || d[len(d)-1].Access != "rwm" {
		t.Errorf("privileged device rules %+v: want all allowed", d)
	}
	if len(s.Linux.Devices) == 0 {
		t.Error("privileged container got no host devices")
	}
	for _, m := range s.Mounts {
		if m.Destination == "/sys" && slices.Contains(m.Options, "ro") {
			t.Errorf("privileged /sys mount %v is read-only", m.Options)
		}
	}
}

func TestCapabilityOpts(t *testing.T) {
	node := append(slices.Clone(dockerCaps), "CAP_NET_ADMIN", "CAP_SYS_ADMIN")
	have := func() ([]string, error) { return node, nil }
	tests := []struct {
		name      string
		add, drop []string
		want      []string // the bounding set; nil with wantErr
		wantErr   string
	}{
		{"defaults", nil, nil, dockerCaps, ""},
		{"drop all", nil, []string{"ALL"}, nil, ""},
		{"drop all, add back", []string{"net_bind_service", "CAP_KILL"}, []string{"all"}, []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"}, ""},
		{"drop some", nil, []string{"NET_RAW", "CAP_MKNOD"}, slices.DeleteFunc(slices.Clone(dockerCaps), func(c string) bool { return c == "CAP_NET_RAW" || c == "CAP_MKNOD" }), ""},
		{"add all", []string{"ALL"}, nil, node, ""},
		// CRI's order: add ALL, drop ALL, add, drop; a drop always wins.
		{"add all, drop one", []string{"ALL"}, []string{"CHOWN"}, without(node, "CAP_CHOWN"), ""},
		{"add all, drop sys_admin", []string{"all"}, []string{"cap_sys_admin"}, without(node, "CAP_SYS_ADMIN"), ""},
		{"add all, drop all", []string{"ALL"}, []string{"ALL"}, nil, ""},
		{"add all and one, drop all", []string{"ALL", "KILL"}, []string{"ALL"}, []string{"CAP_KILL"}, ""},
		{"add and drop the same", []string{"NET_ADMIN", "CHOWN"}, []string{"CAP_NET_ADMIN", "chown"}, without(dockerCaps, "CAP_CHOWN"), ""},
		{"add one", []string{"NET_ADMIN"}, nil, append(slices.Clone(dockerCaps), "CAP_NET_ADMIN"), ""},
		{"add one the node lacks", []string{"NET_ADMIN", "SYS_RESOURCE"}, nil, nil, `container "c1": capabilities.add CAP_SYS_RESOURCE: this node cannot grant it`},
		{"add all and one the node lacks", []string{"ALL", "SYS_RESOURCE"}, nil, nil, `container "c1": capabilities.add CAP_SYS_RESOURCE: this node cannot grant it`},
		// Dropped again, so the node need not have it.
		{"add and drop one the node lacks", []string{"SYS_RESOURCE"}, []string{"SYS_RESOURCE"}, dockerCaps, ""},
		{"add no capability", []string{"NET_ADMINS"}, nil, nil, `container "c1": capabilities.add "NET_ADMINS": not a Linux capability`},
		{"drop no capability", nil, []string{"CAP_ALL"}, nil, `container "c1": capabilities.drop "CAP_ALL": not a Linux capability`},
	}
	for _, tt := range tests {
		opts, err := capabilityOpts("c1", tt.add, tt.drop, have)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.IsInvalid(err) {
				t.Errorf("%s: got %v, want invalid %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		ctx := namespaces.WithNamespace(context.Background(), Namespace)
		s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "c1"}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		c := s.Process.Capabilities
		if !slices.Equal(sorted(c.Bounding), sorted(tt.want)) || !slices.Equal(sorted(c.Effective), sorted(tt.want)) || !slices.Equal(sorted(c.Permitted), sorted(tt.want)) {
			t.Errorf("%s: got bounding %v effective %v permitted %v, want %v", tt.name, c.Bounding, c.Effective, c.Permitted, tt.want)
		}
		if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
			t.Errorf("%s: inheritable %v ambient %v, want none", tt.name, c.Inheritable, c.Ambient)
		}
	}
}

func TestWithinProcessLimits(t *testing.T) {
	own := ownLimits{oomScoreAdj: 0, hard: map[string]uint64{"RLIMIT_NOFILE": 20000, "RLIMIT_NPROC": 100}}
	adj := func(v int) *int { return &v }
	tests := []struct {
		name    string
		own     ownLimits
		adj     *int
		rlimits []specs.POSIXRlimit
		wantErr string
	}{
		{"containerd's default", own, nil, []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}}, ""},
		{"nofile at the hard limit", own, nil, []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 20000, Soft: 20000}}, ""},
		{"nofile above", own, nil, []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1 << 20, Soft: 1024}},
			`container "c1": RLIMIT_NOFILE hard limit 1048576 is above skiff's own 20000: skiff runs without CAP_SYS_RESOURCE, so runc cannot raise it`},
		{"oom_score_adj raised", own, adj(500), nil, ""},
		{"oom_score_adj lowered", own, adj(-998), nil,
			`container "c1": oom_score_adj -998 is below skiff's own 0: skiff runs without CAP_SYS_RESOURCE, so runc cannot lower it`},
		{"with CAP_SYS_RESOURCE anything goes", ownLimits{sysResource: true}, adj(-998), []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1 << 20}}, ""},
	}
	for _, tt := range tests {
		s := &oci.Spec{Process: &specs.Process{OOMScoreAdj: tt.adj, Rlimits: tt.rlimits}}
		err := withinProcessLimits("c1", func() (ownLimits, error) { return tt.own, nil })(context.Background(), nil, nil, s)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.IsInvalid(err)):
			t.Errorf("%s: got %v, want invalid %q", tt.name, err, tt.wantErr)
		}
	}
	// This process's own limits pass containerd's default spec.
	if _, err := processLimits(); err != nil {
		t.Errorf("processLimits: %v", err)
	}
}
