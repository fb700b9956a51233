package agent

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api"
)

// run is everything a container's spec needs from the pod's sync.
type run struct {
	pod       *api.Pod
	c         *api.Container
	init      bool
	attempt   int
	netnsPath string
	podIP     string
	vols      map[string]string
	etc       []container.Mount
	src       *sources
}

// containerSpec resolves one run of a container into what the runtime
// makes: environment looked up, volumes as bind mounts, limits in the
// runtime's units.
func (a *Agent) containerSpec(r run) (container.Spec, error) {
	env, err := containerEnv(r.pod, r.c, r.src, r.podIP, a.cfg.NodeIP)
	if err != nil {
		return container.Spec{}, err
	}
	vars := map[string]string{}
	for _, kv := range env {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				vars[kv[:i]] = kv[i+1:]
				break
			}
		}
	}
	ms, err := mounts(r.c, r.vols)
	if err != nil {
		return container.Spec{}, err
	}
	// The pod's /etc files go first, so a volume mounted over one of them
	// (a ConfigMap as /etc/resolv.conf) wins.
	ms = append(append([]container.Mount{}, r.etc...), ms...)
	sec, nonRoot, err := security(r.pod, r.c)
	if err != nil {
		return container.Spec{}, err
	}
	if nonRoot && sec.User == nil {
		if err := a.checkImageNonRoot(r); err != nil {
			return container.Spec{}, err
		}
	}
	p := a.podPaths(r.pod.UID)
	return container.Spec{
		ID:           containerID(r.pod.UID, r.c.Name, r.attempt),
		Pod:          container.PodRef{UID: r.pod.UID, Namespace: r.pod.Namespace, Name: r.pod.Name},
		Name:         r.c.Name,
		Attempt:      r.attempt,
		Init:         r.init,
		SpecHash:     specHash(r.c),
		Image:        r.c.Image,
		Command:      expandAll(r.c.Command, vars),
		Args:         expandAll(r.c.Args, vars),
		Env:          env,
		WorkingDir:   r.c.WorkingDir,
		Hostname:     podHostname(r.pod),
		TTY:          r.c.TTY,
		Stdin:        r.c.Stdin,
		NetNSPath:    r.netnsPath,
		CgroupParent: a.podCgroup(r.pod.UID),
		Mounts:       ms,
		Resources:    a.resources(r.c),
		Security:     sec,
		LogPath:      p.log(r.c.Name, r.attempt),
	}, nil
}

func expandAll(in []string, vars map[string]string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, vars)
	}
	return out
}

// resources converts requests and limits as kubelet does: CPU request to
// shares (1 CPU = 1024), CPU limit to a CFS quota per 100 ms, memory
// limit in bytes.
func (a *Agent) resources(c *api.Container) container.Resources {
	const period = 100000
	r := container.Resources{PidsLimit: a.cfg.PodPidsLimit, CPUShares: 2}
	lim, req := c.Resources.Limits, c.Resources.Requests
	if m, ok := lim[api.ResourceMemory]; ok {
		r.MemoryLimit = m.Value()
	}
	cpuReq, hasReq := req[api.ResourceCPU]
	cpuLim, hasLim := lim[api.ResourceCPU]
	if !hasReq && hasLim {
		cpuReq, hasReq = cpuLim, true
	}
	if hasReq {
		r.CPUShares = uint64(max(cpuReq.MilliValue()*1024/1000, 2))
	}
	if hasLim && !cpuLim.IsZero() {
		r.CPUPeriod = period
		r.CPUQuota = max(cpuLim.MilliValue()*period/1000, 1000)
	}
	return r
}

// security merges the pod's and the container's security contexts (the
// container's wins). nonRoot is the merged runAsNonRoot: with a
// runAsUser it is checked here, without one the image's user decides
// (checkImageNonRoot).
func security(pod *api.Pod, c *api.Container) (s container.Security, nonRoot bool, err error) {
	var runAsNonRoot *bool
	if psc := pod.Spec.SecurityContext; psc != nil {
		s.User, s.Group, runAsNonRoot = psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
		s.SupplementalGroups = psc.SupplementalGroups
		if psc.FSGroup != nil {
			s.SupplementalGroups = append(append([]int64{}, s.SupplementalGroups...), *psc.FSGroup)
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			s.User = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			s.Group = sc.RunAsGroup
		}
		if sc.RunAsNonRoot != nil {
			runAsNonRoot = sc.RunAsNonRoot
		}
		s.Privileged = sc.IsPrivileged()
		s.ReadOnlyRootFS = isTrue(sc.ReadOnlyRootFilesystem)
		// Unset is no_new_privs, unless privileged or CAP_SYS_ADMIN.
		s.AllowPrivilegeEscalation = sc.EscalationAllowed()
		if caps := sc.Capabilities; caps != nil {
			for _, c := range caps.Add {
				s.CapAdd = append(s.CapAdd, string(c))
			}
			for _, c := range caps.Drop {
				s.CapDrop = append(s.CapDrop, string(c))
			}
		}
	}
	nonRoot = isTrue(runAsNonRoot)
	if nonRoot && s.User != nil && *s.User == 0 {
		// kubelet's words.
		return s, nonRoot, configErrorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", podDesc(pod), c.Name)
	}
	return s, nonRoot, nil
}

// checkImageNonRoot is runAsNonRoot without a runAsUser: the image's USER
// decides, as kubelet has it. No USER is root; a user name (not a
// number) cannot be checked without the image's /etc/passwd and is
// refused too.
func (a *Agent) checkImageNonRoot(r run) error {
	ref, err := normalizeRef(r.c.Image)
	if err != nil {
		return err
	}
	img, err := a.cfg.Runtime.GetImage(r.src.ctx, ref)
	if err != nil {
		return fmt.Errorf("container %q: image %s for runAsNonRoot: %w", r.c.Name, ref, err)
	}
	return imageNonRoot(r.pod, r.c, img.Config.User)
}

// imageNonRoot checks an image's USER ("", "uid", "uid:gid", "name" or
// "name:group") against runAsNonRoot.
func imageNonRoot(pod *api.Pod, c *api.Container, user string) error {
	name, _, _ := strings.Cut(user, ":")
	uid, err := strconv.ParseInt(name, 10, 64)
	switch {
	case name == "" || err == nil && uid == 0:
		return configErrorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", podDesc(pod), c.Name)
	case err != nil:
		return configErrorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", name, podDesc(pod), c.Name)
	}
	return nil
}

// podDesc is kubelet's format.Pod: name_namespace(uid).
func podDesc(pod *api.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}
