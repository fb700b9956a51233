package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// reasonTimedOut is the deployment controller's reason on a Progressing
// condition gone False: no progress within progressDeadlineSeconds.
const reasonTimedOut = "ProgressDeadlineExceeded"

// maxMessage bounds a failed release's message.
const maxMessage = 4096

// rollout moves the desired release along: Pending to Deploying once its
// Deployments are written, Deploying to Succeeded once they are complete,
// or to Failed past its deadline. A Failed release stops being the
// desired one, so the next sync puts the Deployments back to the
// previous release (or, without one, scales them to zero).
func (c *Controller) rollout(ctx context.Context, k string, s *appState, now time.Time) error {
	r := s.desired
	if r == nil {
		return nil
	}
	h := healthCheck(s.app)
	deadline := time.Duration(h.DeadlineSeconds) * time.Second
	st := r.Status
	switch {
	case s.refused != nil && unfinished(r.Status.Phase):
		// A release that already rolled out is not failed for a refusal
		// (an App change the registry refused): that would fail every
		// older release in turn. The App's status says what is refused.
		st.Phase = api.ReleaseFailed
		st.Message = truncate(fmt.Sprintf("release %s cannot run: %v; fix the Procfile's process types or the app's settings and deploy again", r.Name, s.refused))
		t := api.NewTime(now)
		st.CompletionTime = &t
	case r.Status.Phase == api.ReleaseSucceeded || s.blocked != nil:
		return nil
	case r.Status.Phase != api.ReleaseDeploying:
		// Pending: its Deployments were written above.
		st.Phase = api.ReleaseDeploying
		st.Message = ""
		t := api.NewTime(now)
		st.StartTime, st.CompletionTime = &t, nil
		c.wake.At(k, now.Add(deadline))
	case !s.written && c.complete(s):
		st.Phase = api.ReleaseSucceeded
		st.Message = ""
		t := api.NewTime(now)
		st.CompletionTime = &t
	default:
		started := now
		if r.Status.StartTime != nil {
			started = r.Status.StartTime.Time
		}
		timedOut := !now.Before(started.Add(deadline))
		stalled := ""
		for _, proc := range processTypes(r) {
			if d := s.deps[proc]; d != nil && !s.written && deploymentTimedOut(d) {
				stalled = proc
				break
			}
		}
		if !timedOut && stalled == "" {
			c.wake.At(k, started.Add(deadline))
			return nil
		}
		st.Phase = api.ReleaseFailed
		st.Message = truncate(c.failureMessage(ctx, s, h, stalled))
		t := api.NewTime(now)
		st.CompletionTime = &t
	}
	out, err := c.writeRelease(ctx, r, st)
	if err != nil {
		return err
	}
	s.desired = out
	if out.Status.Phase == api.ReleaseSucceeded {
		s.current = out
	}
	return nil
}

// complete reports whether every Deployment of the desired release has
// rolled out: its status is for its current spec, every replica is
// updated, ready and available, and no old pod is left.
func (c *Controller) complete(s *appState) bool {
	for _, proc := range processTypes(s.desired) {
		d := s.deps[proc]
		if d == nil || !deploymentComplete(d) {
			return false
		}
	}
	return true
}

func deploymentComplete(d *api.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	return st.ObservedGeneration >= d.Generation &&
		st.UpdatedReplicas == want && st.Replicas == want &&
		st.ReadyReplicas == want && st.AvailableReplicas == want
}

// deploymentTimedOut reports whether the deployment controller gave up
// on d's current rollout.
func deploymentTimedOut(d *api.Deployment) bool {
	if d.Status.ObservedGeneration < d.Generation {
		return false
	}
	for _, cond := range d.Status.Conditions {
		if cond.Type == api.DeploymentProgressing {
			return cond.Status == api.ConditionFalse && cond.Reason == reasonTimedOut
		}
	}
	return false
}

// failureMessage says which processes of the desired release did not
// roll out and why: their pods' state and the Warning Events on them
// (an Unhealthy event carries the readiness probe's output).
func (c *Controller) failureMessage(ctx context.Context, s *appState, h api.AppHealthCheck, stalled string) string {
	r := s.desired
	var b strings.Builder
	if stalled != "" {
		fmt.Fprintf(&b, "release %s failed: process %s made no progress within %ds", r.Name, stalled, h.DeadlineSeconds)
	} else {
		fmt.Fprintf(&b, "release %s failed: not every pod was ready within %ds", r.Name, h.DeadlineSeconds)
	}
	if _, web := r.Spec.Processes[api.ProcessWeb]; web {
		probePort := port(s.app, r)
		if h.Port != 0 {
			probePort = h.Port
		}
		fmt.Fprintf(&b, " (web health check: GET %s on port %d, 2xx or 3xx within %ds)", h.Path, probePort, h.TimeoutSeconds)
	}
	if s.current != nil && s.current.Name != r.Name {
		fmt.Fprintf(&b, "; %s keeps serving", s.current.Name)
	} else {
		b.WriteString("; no earlier release rolled out, so the app is stopped")
	}
	b.WriteString("; fix the app (or its health check or deadline) and deploy again")
	for _, proc := range processTypes(r) {
		d := s.deps[proc]
		if d != nil && deploymentComplete(d) {
			continue
		}
		want := int32(0)
		if d != nil && d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		pods, err := c.podsOf(ctx, s.app, r, proc)
		if err != nil {
			fmt.Fprintf(&b, "; process %s: its pods could not be listed: %v", proc, err)
			continue
		}
		ready := 0
		for _, p := range pods {
			if podReady(p) {
				ready++
			}
		}
		fmt.Fprintf(&b, "; process %s: %d of %d pods of the release ready (%d started)", proc, ready, want, len(pods))
		b.WriteString(c.podsReport(ctx, pods, d))
	}
	return b.String()
}

// podsOf lists the pods of release r's process proc not being deleted.
func (c *Controller) podsOf(ctx context.Context, a *api.App, r *api.Release, proc string) ([]*api.Pod, error) {
	sel := fmt.Sprintf("%s=%s,%s=%s,%s=%s", api.LabelApp, a.Name, api.LabelProcess, proc, api.LabelRelease, r.Name)
	pods, _, _, err := client.For[*api.Pod](c.cfg.Backend, a.Namespace).List(ctx, api.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	var out []*api.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

func podReady(p *api.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == api.PodReady {
			return cond.Status == api.ConditionTrue
		}
	}
	return false
}

// maxPodsReported bounds how many not-ready pods one process's report
// describes.
const maxPodsReported = 2

// podsReport describes the not-ready ones of a process's new pods, or,
// with none, what its Deployment d says.
func (c *Controller) podsReport(ctx context.Context, pods []*api.Pod, d *api.Deployment) string {
	var b strings.Builder
	reported := 0
	for _, p := range pods {
		if podReady(p) || reported == maxPodsReported {
			continue
		}
		reported++
		fmt.Fprintf(&b, "; pod %s: %s", p.Name, podState(p))
		for _, ev := range c.podWarnings(ctx, p) {
			b.WriteString("; ")
			b.WriteString(ev)
		}
	}
	if len(pods) == 0 {
		b.WriteString("; no pod of the release exists")
		if d != nil {
			for _, cond := range d.Status.Conditions {
				if cond.Status == api.ConditionFalse && cond.Message != "" || cond.Type == api.DeploymentReplicaFailure {
					fmt.Fprintf(&b, "; deployment %s: %s", d.Name, cond.Message)
				}
			}
		}
	}
	return b.String()
}

// podState says why p is not ready: its phase, scheduling, each
// container's waiting or last termination reason, and its Ready
// condition's message.
func podState(p *api.Pod) string {
	var parts []string
	if p.Spec.NodeName == "" && (p.Status.Phase == "" || p.Status.Phase == api.PodPending) {
		msg := "not scheduled"
		for _, cond := range p.Status.Conditions {
			if cond.Type == api.PodScheduled && cond.Status == api.ConditionFalse && cond.Message != "" {
				msg += ": " + cond.Message
			}
		}
		parts = append(parts, msg)
	} else if p.Status.Phase != "" {
		parts = append(parts, "phase "+string(p.Status.Phase))
	}
	if p.Status.Message != "" {
		parts = append(parts, p.Status.Message)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			parts = append(parts, fmt.Sprintf("container %s waiting: %s", cs.Name, joinNonEmpty(": ", w.Reason, w.Message)))
		}
		if t := cs.State.Terminated; t != nil {
			parts = append(parts, fmt.Sprintf("container %s exited with code %d%s", cs.Name, t.ExitCode, paren(joinNonEmpty(": ", t.Reason, t.Message))))
		}
		if t := cs.LastTerminationState.Terminated; t != nil {
			parts = append(parts, fmt.Sprintf("container %s restarted %d times, last exit code %d%s", cs.Name, cs.RestartCount, t.ExitCode, paren(joinNonEmpty(": ", t.Reason, t.Message))))
		}
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == api.PodReady && cond.Status != api.ConditionTrue && (cond.Reason != "" || cond.Message != "") {
			parts = append(parts, "not ready: "+joinNonEmpty(": ", cond.Reason, cond.Message))
		}
	}
	if len(parts) == 0 {
		return "not ready"
	}
	return strings.Join(parts, ", ")
}

// maxEvents bounds how many Events of one pod a report quotes.
const maxEvents = 3

// podWarnings are the latest Warning Events on p, one per reason, as
// "Reason: message (N times)".
func (c *Controller) podWarnings(ctx context.Context, p *api.Pod) []string {
	events, _, _, err := client.For[*api.Event](c.cfg.Backend, p.Namespace).List(ctx,
		api.ListOptions{FieldSelector: "involvedObject.uid=" + p.UID})
	if err != nil {
		return nil
	}
	latest := map[string]*api.Event{}
	for _, ev := range events {
		if ev.Type != api.EventTypeWarning {
			continue
		}
		if cur, ok := latest[ev.Reason]; !ok || ev.LastTimestamp.After(cur.LastTimestamp.Time) {
			latest[ev.Reason] = ev
		}
	}
	var picked []*api.Event
	for _, ev := range latest {
		picked = append(picked, ev)
	}
	// Newest first.
	for i := 1; i < len(picked); i++ {
		for j := i; j > 0 && picked[j].LastTimestamp.After(picked[j-1].LastTimestamp.Time); j-- {
			picked[j], picked[j-1] = picked[j-1], picked[j]
		}
	}
	var out []string
	for _, ev := range picked[:min(len(picked), maxEvents)] {
		s := ev.Reason + ": " + ev.Message
		if ev.Count > 1 {
			s += fmt.Sprintf(" (%d times)", ev.Count)
		}
		out = append(out, s)
	}
	return out
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	return s[:maxMessage-3] + "..."
}
