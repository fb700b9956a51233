package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/skiffhq/skiff/netstack/cni"
	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/probe"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// keepRuns is how many runs of one container stay on the node: the
// current one and the one before, for lastState and `logs --previous`.
const keepRuns = 2

// syncPod makes one step toward the pod's desired state and reports its
// status. A pod gone from the API, or being deleted, is torn down.
func (a *Agent) syncPod(ctx context.Context, uid string) error {
	pod, ok := a.podByUID(uid)
	if !ok || pod.DeletionTimestamp != nil {
		return a.terminatePod(ctx, uid, pod)
	}
	if isTerminal(pod.Status.Phase) {
		return a.finishPod(ctx, pod)
	}
	sb, err := a.sandbox(ctx, pod)
	if err != nil {
		a.events.warn(pod, "FailedCreatePodSandBox", err.Error())
		a.report(pod, cni.Sandbox{}, err.Error())
		return err
	}
	podIP := ""
	if sb.IP != nil {
		podIP = sb.IP.String()
	}
	etc, err := a.writeEtcFiles(pod, podIP)
	if err != nil {
		return err
	}
	src := newSources(ctx, a.cfg.Client, pod.Namespace)
	vols, err := a.volumes(pod, src)
	if err != nil {
		a.events.warn(pod, "FailedMount", err.Error())
		a.report(pod, sb, "")
		return err
	}
	base := run{pod: pod, netnsPath: sb.NetNSPath, podIP: podIP, vols: vols, etc: etc, src: src}
	if done, err := a.syncInit(ctx, base); err != nil || !done {
		a.report(pod, sb, "")
		return err
	}
	err = a.syncContainers(ctx, base)
	// Probes first: the status reads their results.
	a.syncProbes(pod, podIP)
	a.report(pod, sb, "")
	return err
}

func isTerminal(p api.PodPhase) bool { return p == api.PodSucceeded || p == api.PodFailed }

// sandbox makes the pod's directories, cgroup parent and network.
func (a *Agent) sandbox(ctx context.Context, pod *api.Pod) (cni.Sandbox, error) {
	p := a.podPaths(pod.UID)
	for _, d := range []string{p.data, p.state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return cni.Sandbox{}, fmt.Errorf("pod directory: %w", err)
		}
	}
	if pod.Spec.HostNetwork {
		return cni.Sandbox{UID: pod.UID}, nil
	}
	var ports []cni.PortMapping
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.HostPort == 0 {
				continue
			}
			proto := "tcp"
			switch cp.Protocol {
			case api.ProtocolUDP:
				proto = "udp"
			case api.ProtocolSCTP:
				proto = "sctp"
			}
			ports = append(ports, cni.PortMapping{HostPort: cp.HostPort, ContainerPort: cp.ContainerPort, Protocol: proto, HostIP: cp.HostIP})
		}
	}
	sb, err := a.cfg.Network.Setup(ctx, cni.PodNetwork{UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name, Ports: ports})
	if err != nil {
		return cni.Sandbox{}, fmt.Errorf("pod network: %w", err)
	}
	return sb, nil
}

// syncInit runs init containers in order, each to completion. done is
// true when all have succeeded (or the app containers already started:
// init containers do not run again for a pod that got past them).
func (a *Agent) syncInit(ctx context.Context, base run) (done bool, err error) {
	pod := base.pod
	runs := a.cache.runs(pod.UID)
	if len(byName(runs, false)) > 0 {
		return true, nil
	}
	inits := byName(runs, true)
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		rs := inits[c.Name]
		if len(rs) == 0 {
			r := base
			r.c, r.init = c, true
			return false, a.startContainer(ctx, r)
		}
		cur := rs[0]
		switch cur.State {
		case container.StateCreated:
			return false, a.startCreated(ctx, pod, c, cur)
		case container.StateRunning:
			return false, nil // wait for it to finish
		}
		if cur.ExitCode == 0 {
			continue
		}
		if pod.Spec.RestartPolicy == api.RestartPolicyNever {
			return false, nil // the pod fails; report says so
		}
		r := base
		r.c, r.init, r.attempt = c, true, cur.Attempt+1
		return false, a.restartContainer(ctx, r, cur, rs)
	}
	return true, nil
}

// syncContainers brings each app container to its desired state.
func (a *Agent) syncContainers(ctx context.Context, base run) error {
	pod := base.pod
	apps := byName(a.cache.runs(pod.UID), false)
	var errs []error
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		r := base
		r.c = c
		if err := a.syncContainer(ctx, r, apps[c.Name]); err != nil {
			errs = append(errs, fmt.Errorf("container %q: %w", c.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (a *Agent) syncContainer(ctx context.Context, r run, rs []container.Status) error {
	pod, c := r.pod, r.c
	if len(rs) == 0 {
		// A run that could not start was removed; it counts as a crash
		// (exit 128, StartError): no retry under Never, else back-off.
		if w, ok := a.waitingFor(pod.UID, c.Name); ok && w.reason == reasonRunContainerError {
			if pod.Spec.RestartPolicy == api.RestartPolicyNever {
				return nil
			}
			if wait := a.backoff.wait(pod.UID+"/"+c.Name, 0); wait > 0 {
				a.queue.AddAfter(pod.UID, wait)
				return nil
			}
		}
		return a.startContainer(ctx, r)
	}
	cur := rs[0]
	switch cur.State {
	case container.StateCreated:
		return a.startCreated(ctx, pod, c, cur)
	case container.StateRunning:
		var err error
		if cur.SpecHash != specHash(c) {
			a.events.normal(pod, "Killing", fmt.Sprintf("Container %s definition changed, will be restarted", c.Name))
			if cur, err = a.stopContainer(ctx, pod, c, cur, graceOf(pod, nil)); err != nil {
				return err
			}
			a.backoff.reset(pod.UID + "/" + c.Name) // a changed spec is not a crash
		} else if kind, p := a.failedProbe(pod.UID, c); p != nil {
			a.events.warn(pod, "Killing", fmt.Sprintf("Container %s failed %s probe, will be restarted", c.Name, kind))
			if cur, err = a.stopContainer(ctx, pod, c, cur, graceOf(pod, p.TerminationGracePeriodSeconds)); err != nil {
				return err
			}
		} else {
			return nil
		}
		if cur.State == container.StateRunning {
			return fmt.Errorf("container %s still running after stop", cur.ID)
		}
	}
	// Exited: restart or not, by the policy.
	switch pod.Spec.RestartPolicy {
	case api.RestartPolicyNever:
		return nil
	case api.RestartPolicyOnFailure:
		if cur.ExitCode == 0 && !cur.OOMKilled {
			return nil
		}
	}
	r.attempt = cur.Attempt + 1
	return a.restartContainer(ctx, r, cur, rs)
}

// failedProbe names the startup or liveness probe of c whose failure
// means the running container must be killed, or returns nil.
func (a *Agent) failedProbe(podUID string, c *api.Container) (string, *api.Probe) {
	switch {
	case c.StartupProbe != nil && a.cfg.Prober.Result(podUID, c.Name, probe.Startup) == probe.Failure:
		return "startup", c.StartupProbe
	case c.LivenessProbe != nil && a.cfg.Prober.Result(podUID, c.Name, probe.Liveness) == probe.Failure:
		return "liveness", c.LivenessProbe
	}
	return "", nil
}

// restartContainer starts the next run of an exited container unless it
// is in back-off, and removes runs older than the last.
func (a *Agent) restartContainer(ctx context.Context, r run, cur container.Status, rs []container.Status) error {
	key := r.pod.UID + "/" + r.c.Name
	// How long the run lasted; unknown times count as a quick crash, so
	// they never reset the back-off.
	var ran time.Duration
	if !cur.StartedAt.IsZero() && !cur.FinishedAt.IsZero() {
		ran = cur.FinishedAt.Sub(cur.StartedAt)
	}
	if wait := a.backoff.wait(key, ran); wait > 0 {
		msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", a.backoff.delay(key), r.c.Name, r.pod.Name, r.pod.Namespace, r.pod.UID)
		if w, ok := a.waitingFor(r.pod.UID, r.c.Name); !ok || w.reason != "CrashLoopBackOff" {
			a.events.warn(r.pod, "BackOff", "Back-off restarting failed container "+r.c.Name)
		}
		a.setWaiting(r.pod.UID, r.c.Name, "CrashLoopBackOff", msg)
		a.queue.AddAfter(r.pod.UID, wait)
		return nil
	}
	for _, old := range rs[min(len(rs), keepRuns-1):] {
		if err := a.cfg.Runtime.Remove(ctx, old.ID); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove old run %s: %w", old.ID, err)
		}
		a.cache.remove(r.pod.UID, old.ID)
	}
	a.backoff.restarted(key)
	return a.startContainer(ctx, r)
}

// startContainer makes sure the image is there, creates the run and
// starts it.
func (a *Agent) startContainer(ctx context.Context, r run) error {
	pod, c := r.pod, r.c
	img, err := a.ensureImage(ctx, pod, c)
	if err != nil {
		return err
	}
	spec, err := a.containerSpec(r)
	if err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			a.setWaiting(pod.UID, c.Name, "CreateContainerConfigError", ce.msg)
			a.events.warn(pod, "Failed", "Error: "+ce.msg)
		}
		return err
	}
	spec.Image = img.Ref
	if err := a.cfg.Runtime.Create(ctx, spec); err != nil && !errdefs.IsAlreadyExists(err) {
		a.setWaiting(pod.UID, c.Name, "CreateContainerError", err.Error())
		a.events.warn(pod, "Failed", "Error: "+err.Error())
		return err
	}
	a.events.normal(pod, "Created", "Created container "+c.Name)
	s, err := a.cfg.Runtime.Inspect(ctx, spec.ID)
	if err != nil {
		return err
	}
	a.cache.set(s)
	return a.startCreated(ctx, pod, c, s)
}

// reasonRunContainerError is the waiting reason of a container whose last
// run could not start.
const reasonRunContainerError = "RunContainerError"

// startCreated starts a created run. A run that cannot start (no such
// command in the image, say) is removed and counts as a crash.
func (a *Agent) startCreated(ctx context.Context, pod *api.Pod, c *api.Container, s container.Status) error {
	if err := a.cfg.Runtime.Start(ctx, s.ID); err != nil {
		a.setWaiting(pod.UID, c.Name, reasonRunContainerError, err.Error())
		a.events.warn(pod, "Failed", "Error: "+err.Error())
		if rmErr := a.cfg.Runtime.Remove(ctx, s.ID); rmErr == nil {
			a.cache.remove(pod.UID, s.ID)
		}
		a.backoff.restarted(pod.UID + "/" + c.Name)
		return err
	}
	a.clearWaiting(pod.UID, c.Name)
	a.events.normal(pod, "Started", "Started container "+c.Name)
	_, err := a.inspect(ctx, s)
	return err
}

// inspect refreshes one container in the cache.
func (a *Agent) inspect(ctx context.Context, s container.Status) (container.Status, error) {
	fresh, err := a.cfg.Runtime.Inspect(ctx, s.ID)
	if errdefs.IsNotFound(err) {
		a.cache.remove(s.Pod.UID, s.ID)
		return s, err
	}
	if err != nil {
		return s, err
	}
	a.cache.set(fresh)
	return fresh, nil
}

// graceOf is the pod's termination grace period, or a probe's override.
func graceOf(pod *api.Pod, override *int64) time.Duration {
	g := int64(api.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		g = *pod.Spec.TerminationGracePeriodSeconds
	}
	if override != nil {
		g = *override
	}
	return time.Duration(max(g, 0)) * time.Second
}

// syncProbes tells the prober which containers run now.
func (a *Agent) syncProbes(pod *api.Pod, podIP string) {
	var targets []probe.Target
	apps := byName(a.cache.runs(pod.UID), false)
	for _, c := range pod.Spec.Containers {
		rs := apps[c.Name]
		if len(rs) == 0 || rs[0].State != container.StateRunning {
			continue
		}
		// A run the API already shows Ready (this agent restarted) stays
		// Ready until a probe says otherwise.
		wasReady := false
		if cs := find(pod.Status.ContainerStatuses, c.Name); cs != nil && cs.Ready && cs.ContainerID == "containerd://"+rs[0].ID {
			wasReady = true
		}
		targets = append(targets, probe.Target{PodUID: pod.UID, PodIP: podIP, Container: c, ContainerID: rs[0].ID, StartedAt: rs[0].StartedAt, WasReady: wasReady})
	}
	a.cfg.Prober.Sync(targets, pod.UID)
}

// finishPod leaves a pod that has ended: containers stay for their logs,
// the network goes.
func (a *Agent) finishPod(ctx context.Context, pod *api.Pod) error {
	a.cfg.Prober.RemovePod(pod.UID)
	if !pod.Spec.HostNetwork {
		if err := a.cfg.Network.Teardown(ctx, pod.UID); err != nil {
			return err
		}
	}
	return nil
}
