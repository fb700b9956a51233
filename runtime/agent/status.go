package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/skiffhq/skiff/netstack/cni"
	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/probe"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// report computes the pod's status from what runs and hands it to the
// status manager, which writes it only if it changed. sandboxErr, if
// set, is why the pod has no network yet.
func (a *Agent) report(pod *api.Pod, sb cni.Sandbox, sandboxErr string) {
	st := a.podStatus(pod, sb, sandboxErr)
	a.status.set(pod, st)
}

func ptr[T any](v T) *T { return &v }

// podStatus is Kubernetes' pod status, computed as kubelet does.
func (a *Agent) podStatus(pod *api.Pod, sb cni.Sandbox, sandboxErr string) api.PodStatus {
	old := a.status.last(pod)
	st := api.PodStatus{
		HostIP:    a.cfg.NodeIP,
		QOSClass:  pod.Spec.QOSClass(),
		StartTime: old.StartTime,
	}
	if st.StartTime == nil {
		st.StartTime = ptr(api.NewTime(a.now()))
	}
	if a.cfg.NodeIP != "" {
		st.HostIPs = []api.HostIP{{IP: a.cfg.NodeIP}}
	}
	switch {
	case sb.IP != nil:
		st.PodIP = sb.IP.String()
	case pod.Spec.HostNetwork:
		st.PodIP = a.cfg.NodeIP
	default:
		st.PodIP = old.PodIP
	}
	if st.PodIP != "" {
		st.PodIPs = []api.PodIP{{IP: st.PodIP}}
	}
	runs := a.cache.runs(pod.UID)
	inits, apps := byName(runs, true), byName(runs, false)

	initialized := len(apps) > 0
	initFailed := false
	if !initialized {
		initialized = true
		for _, c := range pod.Spec.InitContainers {
			rs := inits[c.Name]
			if len(rs) == 0 || rs[0].State != container.StateExited || rs[0].ExitCode != 0 {
				initialized = false
				if len(rs) > 0 && rs[0].State == container.StateExited && rs[0].ExitCode != 0 && pod.Spec.RestartPolicy == api.RestartPolicyNever {
					initFailed = true
				}
				break
			}
		}
	}
	for _, c := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, a.containerStatus(pod, &c, inits[c.Name], true, find(old.InitContainerStatuses, c.Name)))
	}
	allReady := true
	running, succeeded, failed, waiting := 0, 0, 0, 0
	for _, c := range pod.Spec.Containers {
		cs := a.containerStatus(pod, &c, apps[c.Name], false, find(old.ContainerStatuses, c.Name))
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		allReady = allReady && cs.Ready
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			succeeded++
		case cs.State.Terminated != nil:
			failed++
		default:
			waiting++
			// A container waiting to restart after a run still counts
			// as having run, for the phase.
			if cs.LastTerminationState.Terminated != nil {
				running++
				waiting--
			}
		}
	}
	n := len(pod.Spec.Containers)
	switch {
	case initFailed:
		st.Phase = api.PodFailed
	case !initialized || waiting > 0:
		st.Phase = api.PodPending
	case running > 0:
		st.Phase = api.PodRunning
	case succeeded == n:
		st.Phase = api.PodSucceeded
		if pod.Spec.RestartPolicy == api.RestartPolicyAlways {
			st.Phase = api.PodRunning
		}
	case succeeded+failed == n:
		st.Phase = api.PodFailed
		if pod.Spec.RestartPolicy != api.RestartPolicyNever {
			st.Phase = api.PodRunning
		}
	default:
		st.Phase = api.PodPending
	}
	if sandboxErr != "" {
		st.Phase, st.Reason, st.Message = api.PodPending, "", sandboxErr
	}
	ready := allReady && st.Phase == api.PodRunning
	var unready []string
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	notReadyMsg := ""
	if len(unready) > 0 {
		notReadyMsg = fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	}
	cond := func(t api.PodConditionType, ok bool, reason string) {
		s, msg := api.ConditionFalse, ""
		if ok {
			s, reason = api.ConditionTrue, ""
		} else if reason == "ContainersNotReady" {
			msg = notReadyMsg
		}
		c := api.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: api.NewTime(a.now())}
		if prev := findCondition(old.Conditions, t); prev != nil && prev.Status == s {
			c.LastTransitionTime = prev.LastTransitionTime
		}
		st.Conditions = append(st.Conditions, c)
	}
	cond(api.PodScheduled, true, "")
	cond(api.PodInitialized, initialized, "ContainersNotInitialized")
	cond(api.ContainersReady, ready, "ContainersNotReady")
	cond(api.PodReady, ready, "ContainersNotReady")
	return st
}

func find(list []api.ContainerStatus, name string) *api.ContainerStatus {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

func findCondition(list []api.PodCondition, t api.PodConditionType) *api.PodCondition {
	for i := range list {
		if list[i].Type == t {
			return &list[i]
		}
	}
	return nil
}

// containerStatus describes one container from its runs (newest first).
func (a *Agent) containerStatus(pod *api.Pod, c *api.Container, rs []container.Status, init bool, old *api.ContainerStatus) api.ContainerStatus {
	cs := api.ContainerStatus{Name: c.Name, Image: c.Image}
	if len(rs) == 0 {
		w := waitReason{reason: "ContainerCreating"}
		if !init && len(pod.Spec.InitContainers) > 0 {
			w.reason = "PodInitializing"
		}
		if got, ok := a.waitingFor(pod.UID, c.Name); ok {
			w = got
		}
		cs.State.Waiting = &api.ContainerStateWaiting{Reason: w.reason, Message: w.message}
		if old != nil {
			cs.RestartCount, cs.LastTerminationState = old.RestartCount, old.LastTerminationState
		}
		// Under Never a run that could not start is final, as kubelet's
		// StartError: exit 128, and the pod fails.
		if w.reason == reasonRunContainerError && pod.Spec.RestartPolicy == api.RestartPolicyNever {
			cs.State.Waiting = nil
			finished := api.NewTime(a.now())
			if old != nil && old.State.Terminated != nil && old.State.Terminated.Reason == "StartError" {
				finished = old.State.Terminated.FinishedAt
			}
			cs.State.Terminated = &api.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: w.message, FinishedAt: finished}
			cs.Started = ptr(false)
		}
		return cs
	}
	cur := rs[0]
	cs.ContainerID = "containerd://" + cur.ID
	cs.ImageID = cur.ImageID
	cs.RestartCount = int32(cur.Attempt)
	switch cur.State {
	case container.StateRunning:
		cs.State.Running = &api.ContainerStateRunning{StartedAt: api.NewTime(cur.StartedAt)}
		started := true
		if c.StartupProbe != nil && !init {
			started = a.cfg.Prober.Result(pod.UID, c.Name, probe.Startup) == probe.Success
		}
		cs.Started = &started
		cs.Ready = !init && started && (c.ReadinessProbe == nil || a.cfg.Prober.Result(pod.UID, c.Name, probe.Readiness) == probe.Success)
	case container.StateExited:
		term := terminated(cur)
		if w, ok := a.waitingFor(pod.UID, c.Name); ok && restartsAfter(pod, cur) {
			cs.State.Waiting = &api.ContainerStateWaiting{Reason: w.reason, Message: w.message}
			cs.LastTerminationState.Terminated = term
		} else {
			cs.State.Terminated = term
		}
		cs.Started = ptr(false)
	default:
		w := waitReason{reason: "ContainerCreating"}
		if got, ok := a.waitingFor(pod.UID, c.Name); ok {
			w = got
		}
		cs.State.Waiting = &api.ContainerStateWaiting{Reason: w.reason, Message: w.message}
	}
	if cs.LastTerminationState.Terminated == nil && len(rs) > 1 && rs[1].State == container.StateExited {
		cs.LastTerminationState.Terminated = terminated(rs[1])
	}
	return cs
}

// restartsAfter reports whether the policy restarts this exited run.
func restartsAfter(pod *api.Pod, s container.Status) bool {
	switch pod.Spec.RestartPolicy {
	case api.RestartPolicyNever:
		return false
	case api.RestartPolicyOnFailure:
		return s.ExitCode != 0 || s.OOMKilled
	}
	return true
}

func terminated(s container.Status) *api.ContainerStateTerminated {
	t := &api.ContainerStateTerminated{
		ExitCode:    s.ExitCode,
		StartedAt:   api.NewTime(s.StartedAt),
		FinishedAt:  api.NewTime(s.FinishedAt),
		ContainerID: "containerd://" + s.ID,
		Reason:      "Completed",
	}
	switch {
	case s.OOMKilled:
		t.Reason = "OOMKilled"
	case s.ExitCode != 0:
		t.Reason = "Error"
	}
	if s.ExitCode > 128 && s.ExitCode < 128+65 {
		t.Signal = s.ExitCode - 128
	}
	return t
}

// statusManager writes pod statuses to the API: only when one changed
// from what was last written (so an idle node writes nothing), latest
// wins, retried on conflict against a fresh copy. Writes happen on its
// own goroutines (run), so a pod worker goes on to the next pod instead
// of waiting for the store's fsync, and statuses written at once share
// one commit.
type statusManager struct {
	backend client.Backend
	log     *slog.Logger
	// retry is told about a pod whose status could not be written, so
	// that it is computed and set again later.
	retry func(uid string)

	mu      sync.Mutex
	sent    map[string]api.PodStatus // by pod UID: the last status set (written or on its way)
	pending map[string]pendingStatus // by pod UID: waiting for a writer
	queue   *client.Queue[string]
}

type pendingStatus struct {
	pod *api.Pod
	st  api.PodStatus
}

// statusWriters is how many statuses are written at once.
const statusWriters = 4

func newStatusManager(b client.Backend, log *slog.Logger) *statusManager {
	return &statusManager{backend: b, log: log, sent: map[string]api.PodStatus{}, pending: map[string]pendingStatus{},
		queue: client.NewQueue[string](nil)}
}

// set queues st as the pod's status if it differs from the pod's and
// from what was last set.
func (m *statusManager) set(pod *api.Pod, st api.PodStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sameStatus(pod.Status, st) {
		m.sent[pod.UID] = st
		delete(m.pending, pod.UID)
		return
	}
	if prev, ok := m.sent[pod.UID]; ok && sameStatus(prev, st) {
		// Set already; the informer has not caught up.
		return
	}
	m.sent[pod.UID] = st
	m.pending[pod.UID] = pendingStatus{pod: pod, st: st}
	m.queue.Add(pod.UID)
}

// run writes queued statuses until ctx ends.
func (m *statusManager) run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range statusWriters {
		wg.Go(func() {
			for {
				uid, ok := m.queue.Get()
				if !ok {
					return
				}
				m.mu.Lock()
				p, ok := m.pending[uid]
				delete(m.pending, uid)
				m.mu.Unlock()
				if ok {
					m.write(ctx, p.pod, p.st)
				}
				m.queue.Done(uid)
			}
		})
	}
	<-ctx.Done()
	m.queue.ShutDown()
	wg.Wait()
	return nil
}

// write sends one status.
func (m *statusManager) write(ctx context.Context, pod *api.Pod, st api.PodStatus) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pods := client.For[*api.Pod](m.backend, pod.Namespace)
	// First against the informer's copy; on a conflict, a fresh one.
	next := api.Clone(pod)
	err := client.RetryOnConflict(ctx, func() error {
		if next == nil {
			fresh, err := pods.Get(ctx, pod.Name)
			if err != nil {
				return err
			}
			if fresh.UID != pod.UID {
				return errdefs.ErrNotFound
			}
			next = fresh
		}
		next.Status = st
		_, err := pods.UpdateStatus(ctx, next)
		next = nil
		return err
	})
	if err == nil || errdefs.IsNotFound(err) || ctx.Err() != nil {
		return
	}
	m.log.Warn("write pod status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	m.mu.Lock()
	if cur, ok := m.sent[pod.UID]; ok && sameStatus(cur, st) {
		delete(m.sent, pod.UID) // not written: the next sync sets it again
	}
	m.mu.Unlock()
	if m.retry != nil {
		m.retry(pod.UID)
	}
}

// last is the status most recently written for the pod, or the pod's
// own when none was (the informer may not have seen the write yet).
func (m *statusManager) last(pod *api.Pod) api.PodStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st, ok := m.sent[pod.UID]; ok {
		return st
	}
	return pod.Status
}

func (m *statusManager) forget(uid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sent, uid)
	delete(m.pending, uid)
}

// sameStatus compares statuses as the API stores them (times to the
// second).
func sameStatus(a, b api.PodStatus) bool { return sameJSON(a, b) }
