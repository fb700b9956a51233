package app

import (
	"context"
	"fmt"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// touchEvery is how often at most Touch writes an app's lastRequest.
const touchEvery = time.Minute

func idleMinutes(a *api.App) int32 {
	if a.Spec.ScaleToZero == nil || a.Spec.ScaleToZero.IdleMinutes == 0 {
		return defaultIdleMinutes
	}
	return a.Spec.ScaleToZero.IdleMinutes
}

// idleState says whether s's app is idle now: it scales to zero, runs a
// release that rolled out, and either is idle already (until Activate
// clears it) or has had no request for its idle minutes since its last
// request or its release's rollout, whichever came later. A release
// rolling out wakes the app, so that its pods prove healthy. An app not
// idle yet is woken up when it would be.
func (c *Controller) idleState(k string, s *appState, now time.Time) bool {
	a := s.app
	if a.Spec.ScaleToZero == nil || s.current == nil {
		return false
	}
	if s.desired != nil && s.desired.Status.Phase != api.ReleaseSucceeded {
		return false
	}
	if a.Status.Idle {
		return true
	}
	var last time.Time
	if t := s.current.Status.CompletionTime; t != nil {
		last = t.Time
	}
	if t := a.Status.LastRequest; t != nil && t.After(last) {
		last = t.Time
	}
	at := last.Add(time.Duration(idleMinutes(a)) * time.Minute)
	if !now.Before(at) {
		return true
	}
	c.wake.At(k, at)
	return false
}

// Activate starts an idle app: it clears the App's status.idle and sets
// its lastRequest to now, so that the app controller scales its web
// process back up and does not idle it again for its idle minutes. The
// ingress calls it for a request to an idle app. An app that is not idle
// and had a request less than a minute ago is left alone.
func Activate(ctx context.Context, b client.Backend, namespace, app string) error {
	apps := client.For[*api.App](b, namespace)
	err := client.RetryOnConflict(ctx, func() error {
		a, err := apps.Get(ctx, app)
		if err != nil {
			return err
		}
		now := api.Now()
		if !a.Status.Idle && a.Status.LastRequest != nil && now.Sub(a.Status.LastRequest.Time) < touchEvery {
			return nil
		}
		a.Status.Idle = false
		a.Status.LastRequest = &now
		_, err = apps.UpdateStatus(ctx, a)
		return err
	})
	if err != nil {
		return fmt.Errorf("activate app %s/%s: %w", namespace, app, err)
	}
	return nil
}

// Touch records a request to app at at as its status.lastRequest, at
// most once a minute: a lastRequest within a minute before at is kept.
// It does not wake an idle app (Activate does).
func Touch(ctx context.Context, b client.Backend, namespace, app string, at time.Time) error {
	apps := client.For[*api.App](b, namespace)
	err := client.RetryOnConflict(ctx, func() error {
		a, err := apps.Get(ctx, app)
		if err != nil {
			return err
		}
		if last := a.Status.LastRequest; last != nil && at.Sub(last.Time) < touchEvery {
			return nil
		}
		t := api.NewTime(at)
		a.Status.LastRequest = &t
		_, err = apps.UpdateStatus(ctx, a)
		return err
	})
	if err != nil {
		return fmt.Errorf("record a request to app %s/%s: %w", namespace, app, err)
	}
	return nil
}
