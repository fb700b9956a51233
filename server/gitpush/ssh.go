package gitpush

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	gssh "github.com/gliderlabs/ssh"
	"golang.org/x/crypto/ssh"

	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/store/atomicfile"
)

// DefaultSSHAddr is where SSHServer listens by default.
const DefaultSSHAddr = ":2222"

// SSHConfig is what an SSHServer needs besides its Handler.
type SSHConfig struct {
	// Addr is the TCP address to listen on. Default DefaultSSHAddr.
	Addr string
	// HostKeyPath is the server's ed25519 host key (OpenSSH PEM): made,
	// mode 0600, at the first start. Required.
	HostKeyPath string
	// AuthenticateKey names the person an SSH public key belongs to; any
	// error refuses the key (the SSH user name is ignored: the key names
	// the person). It is asked for every key a client offers, so it should
	// be fast. Required.
	AuthenticateKey func(ctx context.Context, key ssh.PublicKey) (Identity, error)
	// Record, when set, hears of every git command a signed-in person
	// ran or was refused, for the audit log.
	Record func(SSHRecord)
	// Log receives the server's logs. Default: the Handler's.
	Log *slog.Logger
}

// SSHRecord is one git command over SSH, as Config.Record hears it.
type SSHRecord struct {
	Identity Identity
	// Address is the client's host:port.
	Address string
	App     string
	// Service is git-receive-pack (a push) or git-upload-pack (a fetch).
	Service string
	// Allowed is false when the command was refused before git ran;
	// Reason says why.
	Allowed bool
	Reason  string
	// Exit is git's exit status (a refused push's is not 0).
	Exit int
}

// Validate reports what is missing from c.
func (c *SSHConfig) Validate() error {
	var missing []string
	if c.HostKeyPath == "" {
		missing = append(missing, "HostKeyPath")
	}
	if c.AuthenticateKey == nil {
		missing = append(missing, "AuthenticateKey")
	}
	if len(missing) > 0 {
		return fmt.Errorf("gitpush SSH config: missing %s: %w", strings.Join(missing, ", "), errdefs.ErrInvalid)
	}
	return nil
}

// sshHandshakeTimeout bounds how long a connection may take to sign in
// and ask for a command.
const sshHandshakeTimeout = 30 * time.Second

// sshWaitDelay is how long git may run on once its pusher has gone away
// (it normally ends at once: its input ends), before it is killed.
const sshWaitDelay = 30 * time.Second

// SSHServer serves the Handler's repositories over SSH, for
//
//	git push ssh://HOST:2222/APP.git   (any user name: the key names the person)
//	git clone ssh://HOST:2222/APP.git
//
// It signs people in by public key only (no passwords), runs the commands
// git sends, git-receive-pack and git-upload-pack '<app>.git' ('/<app>.git',
// 'app' and '/git/<app>.git' too), and refuses everything else: shells,
// ptys, forwarding. A request is admitted exactly as over HTTPS, with the
// Handler's Config.Authorize and Config.CreateApp, before git runs, so a
// refused push receives nothing and the reason is printed on the person's
// terminal. A push then runs `git receive-pack` with the environment the
// HTTP path gives git http-backend: its pre-receive hook reaches the same
// Config.Receive, whose output streams back as "remote:" lines, and whose
// context ends when the pusher goes away. git's exit status is the SSH
// session's. Make one with NewSSHServer and run Run (the Handler's Run must
// be running too, to answer the hooks).
type SSHServer struct {
	h    *Handler
	cfg  SSHConfig
	log  *slog.Logger
	srv  *gssh.Server
	ln   net.Listener
	host ssh.Signer
}

// NewSSHServer loads (or makes) the host key and listens on cfg.Addr.
func NewSSHServer(h *Handler, cfg SSHConfig) (*SSHServer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultSSHAddr
	}
	log := cfg.Log
	if log == nil {
		log = h.log
	}
	host, err := ensureHostKey(cfg.HostKeyPath)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("git over SSH: listen on %s: %w (another program has the port? set another address)", cfg.Addr, err)
	}
	s := &SSHServer{h: h, cfg: cfg, log: log.With("transport", "ssh"), ln: ln, host: host}
	s.srv = &gssh.Server{
		Handler:          s.serve,
		HostSigners:      []gssh.Signer{host},
		PublicKeyHandler: s.publicKey,
		PtyCallback:      func(gssh.Context, gssh.Pty) bool { return false },
		ConnCallback:     s.conn,
		Version:          "skiff",
	}
	return s, nil
}

// ServeSSH is NewSSHServer and Run: it serves git over SSH until ctx ends.
func (h *Handler) ServeSSH(ctx context.Context, cfg SSHConfig) error {
	s, err := NewSSHServer(h, cfg)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// Addr is the address the server listens on.
func (s *SSHServer) Addr() net.Addr { return s.ln.Addr() }

// HostKey is the server's public host key, for known_hosts
// (ssh.MarshalAuthorizedKey) or its fingerprint (ssh.FingerprintSHA256).
func (s *SSHServer) HostKey() ssh.PublicKey { return s.host.PublicKey() }

// Run serves connections until ctx ends, then closes them all.
func (s *SSHServer) Run(ctx context.Context) error {
	// The listener too: a ctx ended before Serve has begun would
	// otherwise close a server that then serves forever (it hung a test
	// once: Close found no listener yet).
	stop := context.AfterFunc(ctx, func() { s.srv.Close(); s.ln.Close() })
	defer stop()
	s.log.Info("serving git over SSH", "addr", s.ln.Addr().String(), "hostKey", ssh.FingerprintSHA256(s.host.PublicKey()))
	err := s.srv.Serve(s.ln)
	if ctx.Err() != nil || errors.Is(err, gssh.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("git over SSH: %w", err)
}

// ensureHostKey reads the host key at path, making it first if there is
// none.
func ensureHostKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		block, err := ssh.MarshalPrivateKey(priv, "skiff git host key")
		if err != nil {
			return nil, fmt.Errorf("SSH host key: %w", err)
		}
		b = pem.EncodeToMemory(block)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("SSH host key: %w", err)
		}
		if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("SSH host key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("SSH host key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("SSH host key %s is not an unencrypted OpenSSH private key (%v): delete it to make a new one (clients then warn the host key changed)", path, err)
	}
	return signer, nil
}

// connState is what the server knows of one connection.
type connState struct{ started atomic.Bool }

type connStateKey struct{}

// conn closes a connection that has not started a session within
// sshHandshakeTimeout.
func (s *SSHServer) conn(ctx gssh.Context, c net.Conn) net.Conn {
	st := &connState{}
	ctx.SetValue(connStateKey{}, st)
	time.AfterFunc(sshHandshakeTimeout, func() {
		if !st.started.Load() {
			c.Close()
		}
	})
	return c
}

// publicKey is asked for each key a client offers.
func (s *SSHServer) publicKey(ctx gssh.Context, key gssh.PublicKey) bool {
	id, err := s.cfg.AuthenticateKey(ctx, key)
	if err != nil {
		s.log.Debug("SSH key refused", "fingerprint", ssh.FingerprintSHA256(key), "remote", ctx.RemoteAddr().String(), "err", err)
		return false
	}
	s.log.Debug("SSH key accepted", "fingerprint", ssh.FingerprintSHA256(key), "user", id.Name, "remote", ctx.RemoteAddr().String())
	return true
}

// serve runs one session.
func (s *SSHServer) serve(sess gssh.Session) {
	if st, ok := sess.Context().Value(connStateKey{}).(*connState); ok {
		st.started.Store(true)
	}
	sess.Exit(s.session(sess))
}

// session admits and runs one git command and returns its exit status.
func (s *SSHServer) session(sess gssh.Session) int {
	var ctx context.Context = sess.Context()
	stderr := &drainWriter{w: sess.Stderr()}
	// The key the connection signed in with: asked again, so that the
	// identity is the verified key's and a key removed since is refused.
	key := sess.PublicKey()
	if key == nil {
		fmt.Fprintln(stderr, "skiff: sign in with an SSH key registered with `skiff keys add`")
		return 1
	}
	id, err := s.cfg.AuthenticateKey(ctx, key)
	if err != nil {
		fmt.Fprintf(stderr, "skiff: sign-in failed: %v\n", err)
		return 1
	}
	if s.h.cfg.Track != nil {
		var stop func()
		ctx, stop = s.h.cfg.Track(ctx, id)
		defer stop()
	}
	service, app, err := parseSSHCommand(sess.RawCommand())
	if err != nil {
		s.log.Info("SSH command refused", "user", id.Name, "command", sess.RawCommand(), "err", err)
		fmt.Fprintf(stderr, "skiff: this server only serves git push and fetch (%v): git push ssh://%s/APP.git\n", err, hostOf(sess.LocalAddr()))
		return 1
	}
	push := service == "git-receive-pack"
	rec := SSHRecord{Identity: id, Address: sess.RemoteAddr().String(), App: app, Service: service}
	if rf := s.h.admit(ctx, id, app, push); rf != nil {
		s.log.Info("git request refused", "app", app, "user", id.Name, "service", service, "reason", rf.msg)
		fmt.Fprintln(stderr, strings.TrimRight(rf.msg, "\n"))
		rec.Reason, rec.Exit = strings.TrimSpace(rf.msg), 1
		s.record(rec)
		return 1
	}
	rec.Allowed = true

	env := append(baseEnv(), s.h.gitEnv(id)...)
	if p := gitProtocol(sess.Environ()); p != "" {
		env = append(env, "GIT_PROTOCOL="+p)
	}
	if push {
		hook, done := s.h.hookEnv(ctx, app, id)
		defer done()
		env = append(env, hook...)
	}
	// Not killed when the pusher goes away: its input ends and it ends
	// by itself, cleaning up its quarantine (see flushWriter); WaitDelay
	// only stops one that hangs.
	cmd := exec.CommandContext(ctx, s.h.git, strings.TrimPrefix(service, "git-"), s.h.cfg.Repos.Path(app))
	cmd.Cancel = func() error { return nil }
	cmd.WaitDelay = sshWaitDelay
	cmd.Dir = s.h.cfg.Repos.Root
	cmd.Env = env
	cmd.Stdout = &drainWriter{w: sess}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return s.internal(stderr, app, err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return s.internal(stderr, app, err)
	}
	// Not waited for: the client may hold its side open until it hears
	// the exit status.
	go func() {
		io.Copy(stdin, sess)
		stdin.Close()
	}()
	err = cmd.Wait()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = max(ee.ExitCode(), 1) // -1: killed
	case err != nil:
		code = 1
	}
	s.log.Info("git over SSH", "app", app, "user", id.Name, "service", service, "exit", code, "took", time.Since(start).Round(time.Millisecond))
	rec.Exit = code
	s.record(rec)
	return code
}

// record hands rec to Config.Record, if set.
func (s *SSHServer) record(rec SSHRecord) {
	if s.cfg.Record != nil {
		s.cfg.Record(rec)
	}
}

func (s *SSHServer) internal(stderr io.Writer, app string, err error) int {
	s.log.Error("git over SSH failed", "app", app, "err", err)
	fmt.Fprintln(stderr, "skiff: internal error; the server's log has the details")
	return 1
}

func hostOf(a net.Addr) string {
	if a == nil {
		return "HOST:2222"
	}
	return a.String()
}

// gitProtocol returns the GIT_PROTOCOL a client sent (git's protocol v2
// asks with "version=2"), if it is one git could mean.
func gitProtocol(environ []string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GIT_PROTOCOL="); ok && gitProtocolValue.MatchString(v) {
			return v
		}
	}
	return ""
}

var gitProtocolValue = regexp.MustCompile(`^[a-z0-9=:._-]{1,64}$`)

var errNotGit = errors.New("not a git command")

// parseSSHCommand reads the command git sends over SSH,
//
//	git-receive-pack '/web.git'
//
// (also git-upload-pack, "git receive-pack", and the path as 'web.git',
// 'web', '/git/web.git'), and returns the service and the app.
func parseSSHCommand(raw string) (service, app string, err error) {
	verb, arg, _ := strings.Cut(strings.TrimSpace(raw), " ")
	if verb == "git" {
		sub, rest, _ := strings.Cut(strings.TrimLeft(arg, " "), " ")
		verb, arg = "git-"+sub, rest
	}
	if verb != "git-receive-pack" && verb != "git-upload-pack" {
		if raw == "" {
			return "", "", errors.New("no command: a shell is not served")
		}
		return "", "", fmt.Errorf("%q: %w", verb, errNotGit)
	}
	path, err := shellWord(strings.TrimSpace(arg))
	if err != nil {
		return "", "", err
	}
	p := strings.TrimPrefix(path, "/")
	if rest, ok := strings.CutPrefix(p, "git/"); ok {
		p = rest
	}
	app = strings.TrimSuffix(p, ".git")
	if err := ValidateApp(app); err != nil {
		return "", "", fmt.Errorf("no app repository at %q: app repositories are at /APP.git: %w", path, err)
	}
	return verb, app, nil
}

// shellWord unquotes one word as git quotes it for a remote shell
// ('...' segments, backslash escapes outside them); more than one word is
// an error.
func shellWord(s string) (string, error) {
	if s == "" {
		return "", errors.New("no repository named: want git-receive-pack '/APP.git'")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return "", fmt.Errorf("unterminated quote in %q", s)
			}
			b.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case '\\':
			if i+1 == len(s) {
				return "", fmt.Errorf("trailing backslash in %q", s)
			}
			i++
			b.WriteByte(s[i])
		case ' ', '\t', '\n':
			return "", fmt.Errorf("more than one argument in %q", s)
		case '"', '$', '`', ';', '&', '|', '<', '>', '*', '?':
			return "", fmt.Errorf("unexpected %q in %q", c, s)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// drainWriter passes writes on until one fails, then drops what it is
// given: git must not block on, or die of, a pusher who went away (see
// flushWriter).
type drainWriter struct {
	w    io.Writer
	gone atomic.Bool
}

func (d *drainWriter) Write(p []byte) (int, error) {
	if d.gone.Load() {
		return len(p), nil
	}
	if _, err := d.w.Write(p); err != nil {
		d.gone.Store(true)
	}
	return len(p), nil
}
