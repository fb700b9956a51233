package probe

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api"
)

// execFunc is a fake Execer made of a function. (probetest.Execer is the
// fuller fake; this package's own tests cannot import it.)
type execFunc func(ctx context.Context, id string, spec container.ExecSpec) (int, error)

func (f execFunc) Exec(ctx context.Context, id string, spec container.ExecSpec) (int, error) {
	return f(ctx, id, spec)
}

func TestExec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command []string
		exec    execFunc
		want    Result
		wantMsg string
		wantLen int // if set, the message's length
	}{
		{
			name: "exit 0", command: []string{"cat", "/tmp/ready"},
			exec: func(ctx context.Context, id string, s container.ExecSpec) (int, error) {
				if id != "c1" || !reflect.DeepEqual(s.Command, []string{"cat", "/tmp/ready"}) {
					return 2, errors.New("wrong container or command")
				}
				io.WriteString(s.Stdout, "ok\n")
				return 0, nil
			},
			want: Success, wantMsg: "ok\n",
		},
		{
			name: "exit 1", command: []string{"check"},
			exec: func(ctx context.Context, id string, s container.ExecSpec) (int, error) {
				io.WriteString(s.Stderr, "database down")
				return 1, nil
			},
			want: Failure, wantMsg: `exec ["check"]: exit status 1: database down`,
		},
		{
			name: "timeout kills it", command: []string{"sleep", "100"},
			exec: func(ctx context.Context, id string, s container.ExecSpec) (int, error) {
				select {
				case <-ctx.Done():
					return -1, ctx.Err()
				case <-time.After(10 * time.Second):
					return 0, nil
				}
			},
			want: Failure, wantMsg: `exec ["sleep" "100"]: timed out after 1s`,
		},
		{
			name: "runtime error", command: []string{"check"},
			exec: func(ctx context.Context, id string, s container.ExecSpec) (int, error) {
				return -1, errors.New("container c1: not running")
			},
			want: Failure, wantMsg: `exec ["check"] in container c1: container c1: not running`,
		},
		{
			name: "output cut at 10 KiB", command: []string{"chatty"},
			exec: func(ctx context.Context, id string, s container.ExecSpec) (int, error) {
				for range 30 {
					if n, err := io.WriteString(s.Stdout, strings.Repeat("y", 1000)); n != 1000 || err != nil {
						return 3, errors.New("write cut short")
					}
				}
				return 0, nil
			},
			want: Success, wantLen: maxOutput,
		},
		{
			name: "no command", command: nil, exec: func(context.Context, string, container.ExecSpec) (int, error) { return 0, nil },
			want: Failure, wantMsg: "exec: no command",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &api.Probe{ProbeHandler: api.ProbeHandler{Exec: &api.ExecAction{Command: tt.command}}, TimeoutSeconds: 1}
			start := time.Now()
			got, msg := newProber(tt.exec).probe(context.Background(), p, &Target{ContainerID: "c1"})
			if got != tt.want || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("probe = %v %q, want %v containing %q", got, msg, tt.want, tt.wantMsg)
			}
			if tt.wantLen != 0 && len(msg) != tt.wantLen {
				t.Errorf("message length = %d, want %d", len(msg), tt.wantLen)
			}
			if d := time.Since(start); d > 8*time.Second {
				t.Errorf("probe took %s, want at most about the 1s timeout", d)
			}
		})
	}
}

func TestExecWithoutExecer(t *testing.T) {
	p := &api.Probe{ProbeHandler: api.ProbeHandler{Exec: &api.ExecAction{Command: []string{"true"}}}}
	got, msg := newProber(nil).probe(context.Background(), p, &Target{ContainerID: "c1"})
	if want := "no Execer configured"; got != Failure || !strings.Contains(msg, want) {
		t.Errorf("probe = %v %q, want Failure containing %q", got, msg, want)
	}
}

func TestNoHandler(t *testing.T) {
	got, msg := newProber(nil).probe(context.Background(), &api.Probe{}, &Target{ContainerID: "c1"})
	if want := "probe has no handler"; got != Failure || !strings.Contains(msg, want) {
		t.Errorf("probe = %v %q, want Failure containing %q", got, msg, want)
	}
}
