package gitpush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// serveHook answers one pre-receive hook.
func (h *Handler) serveHook(conn net.Conn) {
	out := &frameWriter{w: conn}
	conn.SetReadDeadline(time.Now().Add(hookTimeout))
	req, err := readHookRequest(conn)
	if err == nil {
		if uc, ok := conn.(*net.UnixConn); ok {
			uc.CloseRead()
		}
	}
	conn.SetReadDeadline(time.Time{})
	var st *pushState
	if err == nil {
		h.mu.Lock()
		st = h.pending[req.token]
		h.mu.Unlock()
		if st == nil {
			err = errNoPush
		}
	}
	if err != nil {
		h.log.Warn("bad git hook request", "err", err)
		fmt.Fprintf(out, "skiff: the push could not be handed to the server: %v\n", err)
		out.exit(1)
		return
	}
	if err := h.receive(st, req, out); err != nil {
		h.log.Info("push refused", "app", st.app, "pusher", st.id.Name, "err", err)
		fmt.Fprintf(out, "\n !  skiff: push refused: %v\n\n", err)
		out.exit(1)
		return
	}
	out.exit(0)
}

// receive decides what a push means and hands deploys to Config.Receive.
func (h *Handler) receive(st *pushState, req hookRequest, out io.Writer) error {
	ctx := st.ctx
	branches := h.cfg.DeployBranches
	if h.cfg.AppBranch != nil {
		b, err := h.cfg.AppBranch(ctx, st.app)
		if err != nil {
			return fmt.Errorf("the deploy branch of app %s: %w", st.app, err)
		}
		if b != "" {
			branches = []string{b}
		}
	}
	var deploy *RefUpdate
	for _, b := range branches {
		for i := range req.updates {
			if req.updates[i].Branch() == b {
				deploy = &req.updates[i]
				break
			}
		}
		if deploy != nil {
			break
		}
	}
	if deploy == nil {
		var names []string
		for _, u := range req.updates {
			names = append(names, strings.TrimPrefix(u.Ref, "refs/heads/"))
		}
		fmt.Fprintf(out, "skiff: stored %s without deploying; push to %s to deploy.\n", strings.Join(names, ", "), branches[0])
		return nil
	}
	if deploy.IsDelete() {
		return fmt.Errorf("%s is the deploy branch of app %s and cannot be deleted; push a commit to it instead", deploy.Branch(), st.app)
	}

	unlock, err := h.lockApp(ctx, st.app, out)
	if err != nil {
		return fmt.Errorf("gave up waiting for another push: %w", err)
	}
	// Held until the request ends, when git has moved the refs: another
	// push to the app then sees them moved.
	st.mu.Lock()
	st.unlock = unlock
	st.mu.Unlock()

	p := Push{
		App:     st.app,
		Pusher:  st.id,
		Update:  *deploy,
		Updates: slices.Clone(req.updates),
		Repo:    st.repo,
		Env:     append([]string{"GIT_DIR=" + st.repo}, req.env...),
		git:     h.cfg.Repos.gitBin(),
	}
	cur, err := h.refValue(ctx, p, deploy.Ref)
	if err != nil {
		return err
	}
	if cur != deploy.Old && !(cur == "" && deploy.IsCreate()) {
		return fmt.Errorf("%s moved while this push waited (another push deployed first); fetch, then push again", deploy.Branch())
	}
	start := time.Now()
	if err := h.cfg.Receive(ctx, p, out); err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return fmt.Errorf("the pusher went away: %w", err)
		}
		return err
	}
	h.log.Info("push deployed", "app", p.App, "pusher", p.Pusher.Name, "ref", deploy.Ref, "old", deploy.Old, "new", deploy.New, "took", time.Since(start))
	h.pointHEAD(ctx, p)
	return nil
}

// pointHEAD makes HEAD name the branch just deployed, so that a clone
// checks out what runs (a repository pushed only master would otherwise
// clone with HEAD naming a missing main). It runs outside the quarantine,
// where git allows ref writes; failing only costs the clone its checkout.
func (h *Handler) pointHEAD(ctx context.Context, p Push) {
	cmd := exec.CommandContext(ctx, h.cfg.Repos.gitBin(), "symbolic-ref", "HEAD", p.Update.Ref)
	cmd.Env = append(baseEnv(), "GIT_DIR="+p.Repo)
	if out, err := cmd.CombinedOutput(); err != nil {
		h.log.Warn("point HEAD at the deploy branch", "app", p.App, "ref", p.Update.Ref, "err", err, "output", strings.TrimSpace(string(out)))
	}
}

// refValue returns the object ref points at, or "" when it does not exist.
func (h *Handler) refValue(ctx context.Context, p Push, ref string) (string, error) {
	cmd := p.Command(ctx, "rev-parse", "--verify", "--quiet", ref)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return "", nil
		}
		return "", fmt.Errorf("read %s of app %s: %w: %s", ref, p.App, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(b)), nil
}
