package accounts

import (
	"context"
	"errors"
	"sync"

	"github.com/skiffhq/skiff/server/auth"
)

// ErrCredentialEnded is the cause of a tracked context's end: the user
// was disabled or deleted, or the session or API token revoked or
// expired.
var ErrCredentialEnded = errors.New("the credential of this request ended: its session or token was revoked or expired, or its user disabled")

// tracked is one live request.
type tracked struct {
	id     *auth.Identity
	cancel context.CancelCauseFunc
}

// trackers are the live requests, by user.
type trackers struct {
	mu     sync.Mutex
	byUser map[string]map[*tracked]struct{}
}

// Track returns a context that ends with ctx, or the moment id's
// credential stops being good (context.Cause is ErrCredentialEnded);
// call stop when the request is over. The admin token and certificates
// are not tracked.
func (a *Accounts) Track(ctx context.Context, id *auth.Identity) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	if id == nil || id.Session == "" && id.Token == "" {
		return ctx, func() { cancel(context.Canceled) }
	}
	t := &tracked{id: id, cancel: cancel}
	a.trackers.mu.Lock()
	set := a.trackers.byUser[id.Name]
	if set == nil {
		set = map[*tracked]struct{}{}
		a.trackers.byUser[id.Name] = set
	}
	set[t] = struct{}{}
	a.trackers.mu.Unlock()
	if !a.live(id) { // ended before it was tracked
		cancel(ErrCredentialEnded)
	}
	return ctx, func() {
		a.trackers.mu.Lock()
		delete(set, t)
		if len(set) == 0 && len(a.trackers.byUser[id.Name]) == 0 {
			delete(a.trackers.byUser, id.Name)
		}
		a.trackers.mu.Unlock()
		cancel(context.Canceled)
	}
}

// live reports whether id's session or API token is still good.
func (a *Accounts) live(id *auth.Identity) bool {
	if id.Token != "" {
		_, _, ok := a.liveToken(id.Token)
		return ok
	}
	s, ok := a.tables.session(id.Session)
	if !ok || s.user != id.Name {
		return false
	}
	_, _, ok = a.sessionLive(s)
	return ok
}

// recheck ends the tracked requests of user whose credentials ended.
func (t *trackers) recheck(a *Accounts, user string) {
	t.mu.Lock()
	var check []*tracked
	for tr := range t.byUser[user] {
		check = append(check, tr)
	}
	t.mu.Unlock()
	for _, tr := range check {
		if !a.live(tr.id) {
			tr.cancel(ErrCredentialEnded)
		}
	}
}

// recheckAll rechecks every tracked request (for expiry).
func (t *trackers) recheckAll(a *Accounts) {
	t.mu.Lock()
	users := make([]string, 0, len(t.byUser))
	for u := range t.byUser {
		users = append(users, u)
	}
	t.mu.Unlock()
	for _, u := range users {
		t.recheck(a, u)
	}
}
