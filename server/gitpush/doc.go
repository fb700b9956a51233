// Package gitpush serves skiff's app repositories over git's smart HTTP
// protocol and turns a push to an app's deploy branch into a deploy.
//
// It owns three things: the bare repositories under <data-dir>/git (Repos),
// the HTTP handler that runs `git http-backend` for clone, fetch and push
// (Handler), and the pre-receive hook that hands each push to the server and
// streams the server's answer back to the pusher (RunHook, run by the hidden
// `skiff git-hook` command). SSHServer serves the same repositories over
// SSH (git receive-pack and upload-pack, public keys only), admitting and
// handing pushes to the same hooks as the Handler.
//
//	git push ──HTTPS──► Handler ──CGI──► git http-backend ──► git receive-pack
//	git push ──SSH────► SSHServer (Handler's checks) ─────────► git receive-pack
//	                      │                                        │ pre-receive
//	                      │◄──── unix socket (token, ref updates) ─┤ skiff git-hook
//	 Config.Receive(ctx, Push, out) ── out ──► hook stdout ──► "remote:" lines
//	 nil error: hook exits 0, git updates the refs; error: exit 1, refs untouched
//
// It does not know users, roles or apps: Config.Authenticate, Config.Authorize
// and Config.CreateApp answer those, and Config.Receive builds and releases.
// Their errors are classed with server/api/errdefs (ErrUnauthorized,
// ErrForbidden, ErrNotFound, ErrUnavailable) and become the HTTP status git
// shows; the message is sent as text/plain so that git prints it as
// "remote:" lines.
package gitpush
