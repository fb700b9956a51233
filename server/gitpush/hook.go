package gitpush

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
)

// The environment the Handler gives git http-backend, which git passes on
// to the pre-receive hook.
const (
	// EnvHookSocket is the path of the unix socket the Handler answers
	// hooks on.
	EnvHookSocket = "SKIFF_GIT_HOOK_SOCKET"
	// EnvPushToken names the push among those in flight; it is random, so
	// it also proves the hook was started by a push the Handler let in.
	EnvPushToken = "SKIFF_GIT_PUSH_TOKEN"
)

// quarantineEnv is the environment git gives a pre-receive hook to see the
// objects of the push; the hook forwards it so that Receive can read them.
var quarantineEnv = []string{"GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES"}

// The hook protocol, over the unix socket. The hook sends
//
//	skiff-git-hook 1\n
//	token <EnvPushToken>\n
//	env <NAME>=<value>\n      (zero or more, quarantineEnv only)
//	\n
//	<its stdin: the "old new ref" lines>, then closes its write side.
//
// The Handler answers with frames of a type byte, a big-endian uint32
// length and the payload: frameOutput carries bytes for the hook's stdout,
// as Receive writes them; frameExit, last, carries the exit code (one byte).
const (
	hookMagic   = "skiff-git-hook 1"
	frameOutput = 'o'
	frameExit   = 'x'
	// maxHookInput bounds what the Handler reads from a hook: ref update
	// lines are ~100 bytes each.
	maxHookInput = 4 << 20
)

// RunHook is the pre-receive hook: the hidden `skiff git-hook pre-receive`
// command calls it as
//
//	os.Exit(gitpush.RunHook(os.Getenv, os.Stdin, os.Stdout))
//
// It sends the ref updates git gives it on stdin to the Handler that let
// the push in (found through EnvHookSocket and EnvPushToken in getenv),
// copies what the Handler streams back to stdout as it arrives (git shows
// it to the pusher as "remote:" lines), and returns the exit code to exit
// with: 0 lets git update the refs, anything else refuses the push.
func RunHook(getenv func(string) string, stdin io.Reader, stdout io.Writer) int {
	socket, token := getenv(EnvHookSocket), getenv(EnvPushToken)
	if socket == "" || token == "" {
		fmt.Fprintln(stdout, "skiff: this repository takes pushes through the skiff server only: git push https://HOST:8443/git/APP.git")
		return 1
	}
	conn, err := net.Dial("unix", socket)
	if err != nil {
		fmt.Fprintf(stdout, "skiff: cannot reach the skiff server (%v); the push is refused, try again\n", err)
		return 1
	}
	defer conn.Close()
	var hdr strings.Builder
	fmt.Fprintf(&hdr, "%s\ntoken %s\n", hookMagic, token)
	for _, k := range quarantineEnv {
		if v := getenv(k); v != "" && !strings.ContainsAny(v, "\n") {
			fmt.Fprintf(&hdr, "env %s=%s\n", k, v)
		}
	}
	hdr.WriteString("\n")
	if _, err := io.WriteString(conn, hdr.String()); err == nil {
		_, err = io.Copy(conn, stdin)
	}
	if err != nil {
		fmt.Fprintf(stdout, "skiff: send the push to the skiff server: %v; the push is refused, try again\n", err)
		return 1
	}
	if uc, ok := conn.(*net.UnixConn); ok {
		uc.CloseWrite()
	}
	code, err := readFrames(bufio.NewReader(conn), stdout)
	if err != nil {
		fmt.Fprintf(stdout, "skiff: %v; the push is refused\n", err)
		return 1
	}
	return code
}

// readFrames copies output frames to out until the exit frame, and returns
// its code.
func readFrames(r io.Reader, out io.Writer) (int, error) {
	var h [5]byte
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return 1, fmt.Errorf("the skiff server ended the push without an answer (%v)", err)
		}
		n := int64(binary.BigEndian.Uint32(h[1:]))
		switch h[0] {
		case frameOutput:
			if _, err := io.CopyN(out, r, n); err != nil {
				return 1, fmt.Errorf("read the skiff server's output: %w", err)
			}
		case frameExit:
			if n != 1 {
				return 1, fmt.Errorf("bad exit frame from the skiff server (length %d)", n)
			}
			var c [1]byte
			if _, err := io.ReadFull(r, c[:]); err != nil {
				return 1, fmt.Errorf("read the skiff server's answer: %w", err)
			}
			return int(c[0]), nil
		default:
			return 1, fmt.Errorf("bad frame type %q from the skiff server", h[0])
		}
	}
}

// hookRequest is what a hook sent.
type hookRequest struct {
	token   string
	env     []string
	updates []RefUpdate
}

// readHookRequest parses what a hook sends; see the protocol above.
func readHookRequest(r io.Reader) (hookRequest, error) {
	br := bufio.NewReader(io.LimitReader(r, maxHookInput))
	var req hookRequest
	line := func() (string, error) {
		s, err := br.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("hook request header: %w", err)
		}
		return strings.TrimSuffix(s, "\n"), nil
	}
	s, err := line()
	if err != nil {
		return req, err
	}
	if s != hookMagic {
		return req, fmt.Errorf("hook request: want %q, got %q (is the hook binary the same version as the server?)", hookMagic, s)
	}
	if s, err = line(); err != nil {
		return req, err
	}
	tok, ok := strings.CutPrefix(s, "token ")
	if !ok || tok == "" {
		return req, fmt.Errorf("hook request: want a token line, got %q", s)
	}
	req.token = tok
	for {
		if s, err = line(); err != nil {
			return req, err
		}
		if s == "" {
			break
		}
		kv, ok := strings.CutPrefix(s, "env ")
		k, _, hasEq := strings.Cut(kv, "=")
		if !ok || !hasEq || !isQuarantineVar(k) {
			return req, fmt.Errorf("hook request: bad env line %q", s)
		}
		req.env = append(req.env, kv)
	}
	req.updates, err = parseRefUpdates(br)
	return req, err
}

func isQuarantineVar(k string) bool {
	for _, q := range quarantineEnv {
		if k == q {
			return true
		}
	}
	return false
}

// frameWriter sends what it is given to a hook as output frames, at once.
// It is safe for concurrent use.
type frameWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (f *frameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), 32<<10)]
		if err := f.frame(frameOutput, chunk); err != nil {
			return written, err
		}
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}

func (f *frameWriter) exit(code byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	return f.frame(frameExit, []byte{code})
}

func (f *frameWriter) frame(t byte, p []byte) error {
	buf := make([]byte, 5+len(p))
	buf[0] = t
	binary.BigEndian.PutUint32(buf[1:], uint32(len(p)))
	copy(buf[5:], p)
	if _, err := f.w.Write(buf); err != nil {
		f.err = fmt.Errorf("the pusher's git hook went away: %w", err)
		return f.err
	}
	return nil
}

var errNoPush = errors.New("no push in flight has this token")
