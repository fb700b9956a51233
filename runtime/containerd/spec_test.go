package containerd

import (
	"context"
	"slices"
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
