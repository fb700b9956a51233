package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// The reasons of the App conditions.
const (
	ReasonNoRelease      = "NoRelease"
	ReasonReleaseRunning = "ReleaseRunning"
	ReasonIdle           = "Idle"
	ReasonDeploying      = "Deploying"
	ReasonReleaseFailed  = "ReleaseFailed"
	ReasonComplete       = "Complete"
	ReasonBlocked        = "Blocked"
)

// status is the App status that s describes. It keeps what the router
// writes (lastRequest).
func (c *Controller) status(s *appState, now time.Time) api.AppStatus {
	a := s.app
	st := api.AppStatus{
		URLs:               c.urls(a),
		Idle:               s.idle,
		LastRequest:        a.Status.LastRequest,
		ObservedGeneration: a.Generation,
	}
	if s.current != nil {
		st.Release, st.Version = s.current.Name, s.current.Spec.Version
	}
	run := api.Clone(a)
	run.Status.Idle = s.idle
	for _, proc := range processTypes(s.desired) {
		ps := api.AppProcessStatus{Type: proc, Command: s.desired.Spec.Processes[proc], Replicas: replicas(run, proc)}
		if d := s.deps[proc]; d != nil {
			ps.ReadyReplicas = d.Status.ReadyReplicas
		}
		st.Processes = append(st.Processes, ps)
	}
	st.Conditions = []api.AppCondition{
		condition(a, now, c.deployed(s)),
		condition(a, now, progressing(s)),
	}
	return st
}

// deployed is the Deployed condition: whether a release has rolled out,
// and whether it is idle.
func (c *Controller) deployed(s *appState) api.AppCondition {
	cond := api.AppCondition{Type: api.AppDeployed, Status: api.ConditionTrue}
	switch cur := s.current; {
	case cur == nil:
		cond.Status, cond.Reason = api.ConditionFalse, ReasonNoRelease
		cond.Message = "no release has rolled out yet"
	case s.idle:
		cond.Reason = ReasonIdle
		cond.Message = fmt.Sprintf("%s is scaled to zero after %d minutes without a request; the next request starts it",
			cur.Name, idleMinutes(s.app))
	default:
		cond.Reason = ReasonReleaseRunning
		cond.Message = fmt.Sprintf("%s (v%d) is running", cur.Name, cur.Spec.Version)
	}
	return cond
}

// progressing is the Progressing condition: whether a newer release is
// rolling out, or why the newest one failed.
func progressing(s *appState) api.AppCondition {
	cond := api.AppCondition{Type: api.AppProgressing, Status: api.ConditionFalse, Reason: ReasonComplete}
	var newest *api.Release
	if len(s.releases) > 0 {
		newest = s.releases[0]
	}
	switch {
	case s.blocked != nil:
		cond.Reason, cond.Message = ReasonBlocked, truncate(s.blocked.Error())
	case s.desired != nil && unfinished(s.desired.Status.Phase):
		cond.Status, cond.Reason = api.ConditionTrue, ReasonDeploying
		cond.Message = fmt.Sprintf("rolling out %s", s.desired.Name)
	case newest != nil && newest.Status.Phase == api.ReleaseFailed && (s.current == nil || newest.Spec.Version > s.current.Spec.Version):
		cond.Reason, cond.Message = ReasonReleaseFailed, newest.Status.Message
	case newest == nil:
		cond.Reason = ReasonNoRelease
	}
	return cond
}

// condition is cond with its transition time: the App's own while its
// status stays, now when it changes.
func condition(a *api.App, now time.Time, cond api.AppCondition) api.AppCondition {
	for _, old := range a.Status.Conditions {
		if old.Type == cond.Type && old.Status == cond.Status && old.LastTransitionTime != nil {
			cond.LastTransitionTime = old.LastTransitionTime
			return cond
		}
	}
	t := api.NewTime(now)
	cond.LastTransitionTime = &t
	return cond
}

// urls are where a answers: its default host first, then its domains.
func (c *Controller) urls(a *api.App) []string {
	scheme := "http://"
	if c.cfg.HTTPS {
		scheme = "https://"
	}
	out := []string{scheme + a.Name + "." + c.cfg.AppsDomain}
	for _, d := range a.Spec.Domains {
		out = append(out, scheme+d)
	}
	return out
}

// writeStatus writes the App's status if it changed, onto the cached
// copy: a stale cache (the router wrote lastRequest meanwhile) fails with
// a conflict and the next sync computes anew.
func (c *Controller) writeStatus(ctx context.Context, s *appState, now time.Time) error {
	st := c.status(s, now)
	if sameStatus(s.app.Status, st) {
		return nil
	}
	next := api.Clone(s.app)
	next.Status = st
	if _, err := client.For[*api.App](c.cfg.Backend, next.Namespace).UpdateStatus(ctx, next); err != nil {
		return fmt.Errorf("write status of app %s/%s: %w", next.Namespace, next.Name, err)
	}
	return nil
}

// sameStatus compares two statuses as they are stored.
func sameStatus(a, b api.AppStatus) bool {
	x, errX := json.Marshal(a)
	y, errY := json.Marshal(b)
	return errX == nil && errY == nil && string(x) == string(y)
}
