package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
)

// appState is what one sync works out about one app.
type appState struct {
	app      *api.App
	releases []*api.Release // newest first
	desired  *api.Release   // newest neither Failed nor Superseded; nil: nothing to run
	current  *api.Release   // newest Succeeded (the app's status.release)
	idle     bool
	// deps are the Deployments of desired's process types as they are
	// after this sync's writes; written says whether this sync wrote
	// one (the cache does not show the effect yet).
	deps    map[string]*api.Deployment
	written bool
	// refused is the registry's answer to a Deployment of desired it
	// refused (an invalid process type, say).
	refused error
	// blocked says what stops the app's objects from being written: an
	// object of their name that is not the app's, or one refused.
	blocked error
}

func (c *Controller) sync(ctx context.Context, k string) error {
	ns, name := owner.SplitKey(k)
	a, ok := c.apps.Get(ns, name)
	if !ok {
		c.wake.Forget(k)
		return nil
	}
	if a.DeletionTimestamp != nil {
		return nil // the garbage collector removes what the app owns
	}
	now := c.clock.Now()
	s := &appState{app: a, releases: c.releasesOf(a), deps: map[string]*api.Deployment{}}
	for _, r := range s.releases {
		if s.desired == nil && r.Status.Phase != api.ReleaseFailed && r.Status.Phase != api.ReleaseSuperseded {
			s.desired = r
		}
		if s.current == nil && r.Status.Phase == api.ReleaseSucceeded {
			s.current = r
		}
	}
	if err := c.supersede(ctx, s, now); err != nil {
		return err
	}
	s.idle = c.idleState(k, s, now)
	run := api.Clone(a)
	// The web pods stop only once the stored status says idle: the router
	// holds the requests of an idle app while it starts, but answers 503
	// for one that is not idle and has no backend, as it would between a
	// scale-down written first and the status written after it. So an
	// app going idle has its status written this sync and its pods
	// stopped by the next, which that write queues.
	run.Status.Idle = s.idle && a.Status.Idle
	var errs []error
	if s.desired == nil {
		errs = append(errs, c.scaleAllToZero(ctx, run))
	} else {
		errs = append(errs, c.writeDeployments(ctx, run, s), c.writeService(ctx, run, s.desired))
	}
	writeErr := errors.Join(errs...)
	var foreign *foreignError
	switch {
	case errors.As(writeErr, &foreign):
		// Another's object holds a name the app needs: say so in the
		// status, and look again (with back-off) until it is gone.
		s.blocked = foreign
	case writeErr != nil:
		return writeErr
	}
	if s.refused != nil && s.blocked == nil {
		s.blocked = s.refused
	}
	if err := c.rollout(ctx, k, s, now); err != nil {
		return err
	}
	if err := c.writeStatus(ctx, s, now); err != nil {
		return err
	}
	return writeErr
}

// foreignError is an object of a name the app needs that is not the
// app's.
type foreignError struct {
	kind, namespace, name, app string
	// namesake: it belongs to an earlier App of the same name, deleted,
	// whose objects the garbage collector has yet to remove.
	namesake bool
}

func newForeignError(kind string, m *api.ObjectMeta, a *api.App) *foreignError {
	ref := api.ControllerOf(m)
	return &foreignError{kind, m.Namespace, m.Name, a.Name, ref != nil && ref.Kind == "App" && ref.Name == a.Name}
}

func (e *foreignError) Error() string {
	if e.namesake {
		return fmt.Sprintf("%s %s/%s is still there from an earlier app %s, deleted: it goes by itself (the garbage collector removes it); if it stays, delete it",
			e.kind, e.namespace, e.name, e.app)
	}
	return fmt.Sprintf("%s %s/%s exists and is not app %s's: delete or rename it", e.kind, e.namespace, e.name, e.app)
}

// alreadyExists is what a create refused as a duplicate returns: the
// cache is behind the write that made it, which the next sync sees.
func alreadyExists(what string, err error) error {
	if errdefs.IsAlreadyExists(err) {
		return fmt.Errorf("%s: it exists, though the cache does not show it yet: %w", what, errdefs.ErrConflict)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// releasesOf lists a's cached releases, newest first.
func (c *Controller) releasesOf(a *api.App) []*api.Release {
	var out []*api.Release
	for _, r := range c.releases.ByIndex(byApp, a.Namespace+"/"+a.Name) {
		if r.DeletionTimestamp == nil && !ownedByAnother(r, a) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(x, y *api.Release) int {
		if c := cmp.Compare(y.Spec.Version, x.Spec.Version); c != 0 {
			return c
		}
		return cmp.Compare(y.Name, x.Name)
	})
	return out
}

// ownedByAnother reports whether r belongs to another App of a's name
// (one deleted, whose releases the garbage collector has yet to remove).
func ownedByAnother(r *api.Release, a *api.App) bool {
	for _, ref := range r.OwnerReferences {
		if ref.Kind == "App" && ref.Name == a.Name && ref.UID != a.UID {
			return true
		}
	}
	return false
}

// supersede marks the releases older than the desired one that never
// finished rolling out Superseded.
func (c *Controller) supersede(ctx context.Context, s *appState, now time.Time) error {
	if s.desired == nil {
		return nil
	}
	for _, r := range s.releases {
		if r.Spec.Version >= s.desired.Spec.Version || !unfinished(r.Status.Phase) {
			continue
		}
		st := r.Status
		st.Phase = api.ReleaseSuperseded
		st.Message = fmt.Sprintf("superseded by %s before it finished rolling out", s.desired.Name)
		t := api.NewTime(now)
		st.CompletionTime = &t
		if _, err := c.writeRelease(ctx, r, st); err != nil {
			return err
		}
	}
	return nil
}

// unfinished reports whether a release in phase p may still roll out.
func unfinished(p api.ReleasePhase) bool {
	return p == "" || p == api.ReleasePending || p == api.ReleaseDeploying
}

// writeRelease writes st as r's status, onto the cached copy: a stale
// cache fails with a conflict.
func (c *Controller) writeRelease(ctx context.Context, r *api.Release, st api.ReleaseStatus) (*api.Release, error) {
	next := api.Clone(r)
	next.Status = st
	out, err := client.For[*api.Release](c.cfg.Backend, r.Namespace).UpdateStatus(ctx, next)
	if err != nil {
		return nil, fmt.Errorf("write status of release %s/%s: %w", r.Namespace, r.Name, err)
	}
	c.log.Info("release", "release", r.Namespace+"/"+r.Name, "phase", st.Phase, "message", st.Message)
	return out, nil
}

// controlled lists the cached Deployments that a controls.
func (c *Controller) controlled(a *api.App) []*api.Deployment {
	return owner.Controlled[*api.Deployment](c.deps, a.Namespace, a.UID)
}

// writeDeployments makes the Deployment of every process type of the
// desired release what it should be, and deletes the app's Deployments
// of process types the release does not have once it has rolled out.
func (c *Controller) writeDeployments(ctx context.Context, a *api.App, s *appState) error {
	want := map[string]bool{}
	var errs []error
	for _, proc := range processTypes(s.desired) {
		want[api.AppDeploymentName(a.Name, proc)] = true
		d, wrote, err := c.ensureDeployment(ctx, a, deploymentFor(a, s.desired, proc))
		switch {
		case errdefs.IsInvalid(err):
			s.refused = fmt.Errorf("process %s: %w", proc, err)
		case err != nil:
			errs = append(errs, err)
		}
		s.written = s.written || wrote
		if d != nil {
			s.deps[proc] = d
		}
	}
	// The Deployments of process types the release drops go once it has
	// rolled out: should it fail, the previous release's run on.
	for _, d := range c.controlled(a) {
		if !want[d.Name] && d.DeletionTimestamp == nil && s.desired.Status.Phase == api.ReleaseSucceeded {
			errs = append(errs, c.deleteDeployment(ctx, d))
		}
	}
	return errors.Join(errs...)
}

// ensureDeployment creates want or brings the cached Deployment of its
// name to it: the whole spec when the template hash differs, only the
// replicas otherwise. It returns the Deployment as it stands (nil if it
// is being deleted) and whether it wrote.
func (c *Controller) ensureDeployment(ctx context.Context, a *api.App, want *api.Deployment) (*api.Deployment, bool, error) {
	deps := client.For[*api.Deployment](c.cfg.Backend, want.Namespace)
	cur, ok := c.deps.Get(want.Namespace, want.Name)
	if !ok {
		d, err := deps.Create(ctx, want)
		if err != nil {
			return nil, true, alreadyExists("create deployment "+want.Namespace+"/"+want.Name, err)
		}
		return d, true, nil
	}
	if ref := api.ControllerOf(&cur.ObjectMeta); ref == nil || ref.UID != a.UID {
		return nil, false, newForeignError("deployment", &cur.ObjectMeta, a)
	}
	if cur.DeletionTimestamp != nil {
		return nil, true, nil // its deletion queues the app again
	}
	hash := want.Annotations[templateHashAnnotation]
	sameSpec := cur.Annotations[templateHashAnnotation] == hash
	if sameSpec && cur.Spec.Replicas != nil && *cur.Spec.Replicas == *want.Spec.Replicas {
		return cur, false, nil
	}
	next := api.Clone(cur)
	if sameSpec {
		next.Spec.Replicas = want.Spec.Replicas
	} else {
		next.Spec = want.Spec
		next.Labels = want.Labels
		if next.Annotations == nil {
			next.Annotations = map[string]string{}
		}
		next.Annotations[templateHashAnnotation] = hash
	}
	d, err := deps.Update(ctx, next)
	if err != nil {
		return nil, true, fmt.Errorf("update deployment %s/%s: %w", cur.Namespace, cur.Name, err)
	}
	return d, true, nil
}

func (c *Controller) deleteDeployment(ctx context.Context, d *api.Deployment) error {
	uid := d.UID
	_, err := client.For[*api.Deployment](c.cfg.Backend, d.Namespace).Delete(ctx, d.Name,
		api.DeleteOptions{Preconditions: &api.Preconditions{UID: &uid}})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete deployment %s/%s of a process type the release no longer has: %w", d.Namespace, d.Name, err)
	}
	return nil
}

// scaleAllToZero stops the pods of every Deployment of a, for an app
// with no release to run (its only ones failed).
func (c *Controller) scaleAllToZero(ctx context.Context, a *api.App) error {
	var errs []error
	for _, d := range c.controlled(a) {
		if d.DeletionTimestamp != nil || d.Spec.Replicas != nil && *d.Spec.Replicas == 0 {
			continue
		}
		next := api.Clone(d)
		zero := int32(0)
		next.Spec.Replicas = &zero
		if _, err := client.For[*api.Deployment](c.cfg.Backend, d.Namespace).Update(ctx, next); err != nil {
			errs = append(errs, fmt.Errorf("scale deployment %s/%s to 0: %w", d.Namespace, d.Name, err))
		}
	}
	return errors.Join(errs...)
}

// writeService keeps the Service <app> in front of r's web process, and
// deletes it once r, without a web process, has rolled out.
func (c *Controller) writeService(ctx context.Context, a *api.App, r *api.Release) error {
	svcs := client.For[*api.Service](c.cfg.Backend, a.Namespace)
	cur, ok := c.svcs.Get(a.Namespace, a.Name)
	if ok {
		if ref := api.ControllerOf(&cur.ObjectMeta); ref == nil || ref.UID != a.UID {
			return newForeignError("service", &cur.ObjectMeta, a)
		}
	}
	if _, web := r.Spec.Processes[api.ProcessWeb]; !web {
		// As the web Deployment, the Service goes once r rolled out.
		if !ok || cur.DeletionTimestamp != nil || r.Status.Phase != api.ReleaseSucceeded {
			return nil
		}
		uid := cur.UID
		_, err := svcs.Delete(ctx, cur.Name, api.DeleteOptions{Preconditions: &api.Preconditions{UID: &uid}})
		if err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete service %s/%s of a release without a web process: %w", cur.Namespace, cur.Name, err)
		}
		return nil
	}
	want := serviceFor(a)
	switch {
	case !ok:
		if _, err := svcs.Create(ctx, want); err != nil {
			return alreadyExists("create service "+want.Namespace+"/"+want.Name, err)
		}
	case cur.DeletionTimestamp == nil && !serviceMatches(cur, want):
		next := api.Clone(cur)
		next.Spec.Selector = want.Spec.Selector
		next.Spec.Ports = want.Spec.Ports
		if _, err := svcs.Update(ctx, next); err != nil {
			return fmt.Errorf("update service %s/%s: %w", cur.Namespace, cur.Name, err)
		}
	}
	return nil
}
