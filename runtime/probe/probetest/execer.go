package probetest

import (
	"context"
	"io"
	"strings"
	"sync"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/probe"
)

// Execer is a fake probe.Execer. Each (container ID, command) answers
// with what Set said, exit 0 by default, and counts its calls.
type Execer struct {
	mu      sync.Mutex
	answers map[execKey]Answer
	calls   map[execKey]int
}

var _ probe.Execer = (*Execer)(nil)

// Answer is what a fake exec does: print Output, then return Code and
// Err. Block makes it wait for its context to end instead, as a command
// that hangs and is killed by the probe's timeout.
type Answer struct {
	Code   int
	Output string
	Err    error
	Block  bool
}

// execKey is a container ID and a command joined by spaces.
type execKey struct{ id, command string }

// NewExecer returns an Execer where every command exits 0.
func NewExecer() *Execer {
	return &Execer{answers: make(map[execKey]Answer), calls: make(map[execKey]int)}
}

// Set makes command (its words joined by spaces) in container id answer a.
func (e *Execer) Set(id, command string, a Answer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.answers[execKey{id, command}] = a
}

// Calls is how many times command ran in container id.
func (e *Execer) Calls(id, command string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[execKey{id, command}]
}

// Exec answers as Set said.
func (e *Execer) Exec(ctx context.Context, id string, spec container.ExecSpec) (int, error) {
	k := execKey{id, strings.Join(spec.Command, " ")}
	e.mu.Lock()
	a := e.answers[k]
	e.calls[k]++
	e.mu.Unlock()
	if a.Output != "" && spec.Stdout != nil {
		if _, err := io.WriteString(spec.Stdout, a.Output); err != nil {
			return -1, err
		}
	}
	if a.Block {
		<-ctx.Done()
		return -1, ctx.Err()
	}
	return a.Code, a.Err
}
