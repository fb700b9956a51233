// Package execstream is the wire protocol of `skiff exec`: one WebSocket
// carrying a command's stdin, stdout, stderr, terminal resizes and exit
// status, between the CLI and the node agent (the API server passes the
// connection through). It is Kubernetes' channel protocol in spirit: each
// binary message starts with a channel byte.
//
//	0 stdin     CLI → agent   data; the message [255, 0] closes stdin
//	1 stdout    agent → CLI
//	2 stderr    agent → CLI
//	3 status    agent → CLI   JSON Status, the last message
//	4 resize    CLI → agent   JSON TermSize
package execstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/coder/websocket"
)

// Subprotocol is negotiated in the WebSocket handshake; a peer that does
// not speak it is refused.
const Subprotocol = "v1.exec.skiff.io"

// The channels.
const (
	chStdin  byte = 0
	chStdout byte = 1
	chStderr byte = 2
	chStatus byte = 3
	chResize byte = 4
	chClose  byte = 255
)

// maxMessage bounds one message read: stdin chunks and control messages
// are small.
const maxMessage = 1 << 20

// Status ends a stream: the command's exit code, or why it could not run.
type Status struct {
	ExitCode int    `json:"exitCode"`
	Error    string `json:"error,omitempty"`
}

// TermSize is a terminal's size in characters.
type TermSize struct {
	Width  uint16 `json:"width"`
	Height uint16 `json:"height"`
}

// Streams are what a command runs with on the agent side.
type Streams struct {
	Stdin          io.Reader // nil unless the client asked for stdin
	Stdout, Stderr io.Writer
	Resize         <-chan TermSize
}

// channelWriter writes to one channel of a connection.
type channelWriter struct {
	ctx  context.Context
	conn *websocket.Conn
	ch   byte
}

func (w channelWriter) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += 32 << 10 {
		end := min(off+32<<10, len(p))
		msg := make([]byte, 1+end-off)
		msg[0] = w.ch
		copy(msg[1:], p[off:end])
		if err := w.conn.Write(w.ctx, websocket.MessageBinary, msg); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

// stdinQueue is how many stdin messages wait for a command that reads
// slowly (at most 64 × 1 MiB, usually 64 × a few bytes) before the socket
// stops being read. Reading on keeps resizes flowing and notices a client
// that went away.
const stdinQueue = 64

// Serve runs one command for an accepted connection: run gets the streams
// and returns the exit code; Serve sends it as the final status and closes
// the connection. withStdin says whether the client sends stdin. When the
// client goes away, run's context ends.
func Serve(ctx context.Context, conn *websocket.Conn, withStdin bool, run func(ctx context.Context, s Streams) (int, error)) {
	conn.SetReadLimit(maxMessage)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resize := make(chan TermSize, 4)
	stdin := make(chan []byte, stdinQueue) // closed: stdin ended
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(stdin)
		open := withStdin
		for {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				cancel() // the client went away (or run ended): end the command
				return
			}
			if len(msg) == 0 {
				continue
			}
			switch msg[0] {
			case chStdin:
				if open {
					select {
					case stdin <- msg[1:]:
					case <-ctx.Done():
						return
					}
				}
			case chResize:
				var ts TermSize
				if json.Unmarshal(msg[1:], &ts) == nil && ts.Width > 0 && ts.Height > 0 {
					select {
					case resize <- ts:
					default:
					}
				}
			case chClose:
				if len(msg) > 1 && msg[1] == chStdin && open {
					open = false
					select {
					case stdin <- nil: // nil: end of stdin
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()
	s := Streams{
		Stdout: channelWriter{ctx, conn, chStdout},
		Stderr: channelWriter{ctx, conn, chStderr},
		Resize: resize,
	}
	var stdinR *io.PipeReader
	if withStdin {
		var stdinW *io.PipeWriter
		stdinR, stdinW = io.Pipe()
		go func() {
			for b := range stdin {
				if b == nil {
					break
				}
				if _, err := stdinW.Write(b); err != nil {
					break
				}
			}
			stdinW.Close()
			for range stdin { // drain until the reader ends
			}
		}()
		s.Stdin = stdinR
	}
	code, err := run(ctx, s)
	if stdinR != nil {
		stdinR.CloseWithError(io.ErrClosedPipe) // unblocks the copier
	}
	st := Status{ExitCode: code}
	if err != nil {
		st = Status{ExitCode: -1, Error: err.Error()}
	}
	b, _ := json.Marshal(st)
	conn.Write(ctx, websocket.MessageBinary, append([]byte{chStatus}, b...))
	conn.Close(websocket.StatusNormalClosure, "")
	cancel()
	<-readerDone
}

// ErrNoStatus is returned when the stream ended without an exit status
// (the agent or the connection died).
var ErrNoStatus = errors.New("exec: the connection closed before the command's exit status came")

// Run drives the client side: it copies stdin (if not nil) and resizes to
// the agent and its output to stdout and stderr, and returns the
// command's exit code.
func Run(ctx context.Context, conn *websocket.Conn, stdin io.Reader, stdout, stderr io.Writer, resize <-chan TermSize) (int, error) {
	conn.SetReadLimit(maxMessage)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wmu sync.Mutex // one writer at a time keeps stdin chunks in order with close
	send := func(msg []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return conn.Write(ctx, websocket.MessageBinary, msg)
	}
	if stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := stdin.Read(buf)
				if n > 0 {
					if send(append([]byte{chStdin}, buf[:n]...)) != nil {
						return
					}
				}
				if err != nil {
					send([]byte{chClose, chStdin})
					return
				}
			}
		}()
	}
	if resize != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ts, ok := <-resize:
					if !ok {
						return
					}
					b, _ := json.Marshal(ts)
					if send(append([]byte{chResize}, b...)) != nil {
						return
					}
				}
			}
		}()
	}
	for {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			return -1, fmt.Errorf("%w: %v", ErrNoStatus, err)
		}
		if len(msg) == 0 {
			continue
		}
		switch msg[0] {
		case chStdout:
			if _, err := stdout.Write(msg[1:]); err != nil {
				return -1, err
			}
		case chStderr:
			if _, err := stderr.Write(msg[1:]); err != nil {
				return -1, err
			}
		case chStatus:
			var st Status
			if err := json.Unmarshal(msg[1:], &st); err != nil {
				return -1, fmt.Errorf("exec: bad status from the agent: %w", err)
			}
			conn.Close(websocket.StatusNormalClosure, "")
			if st.Error != "" {
				return -1, errors.New(st.Error)
			}
			return st.ExitCode, nil
		}
	}
}
