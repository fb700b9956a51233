package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/apiserver"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/client/execstream"
)

func newLogsCommand(io streams) *cobra.Command {
	var f clientFlags
	var opts client.LogOptions
	var app, process string
	tail := -1
	var since time.Duration
	cmd := &cobra.Command{
		Use:   "logs POD [-c CONTAINER] | logs -a APP [-p PROCESS]",
		Short: "Print a container's log, or an app's (-f follows it)",
		Long: `Print the log of a container of a pod, as the node's agent keeps it: the
current run's, or with --previous the one before (what a crash-looping
container printed before it died). A pod with several containers needs -c,
or its first container is shown.

With -a APP, print the logs of every pod of the app (with -p PROCESS, of
that process type's pods only), interleaved as the lines come, each line
starting with "POD[PROCESS]: ". With -f it goes on, picking up the pods a
new release or a scale starts (the pod list is read every 2 seconds) and
letting go of the pods that end.`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case app != "" && len(args) > 0:
				return fmt.Errorf("logs -a %s takes no pod name (got %q): name the pod or the app, not both", app, args[0])
			case app == "" && process != "":
				return errors.New("-p PROCESS needs -a APP (for a pod's run before the current one, say --previous)")
			case app == "" && len(args) != 1:
				return errors.New("name one pod, or an app with -a APP")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if tail >= 0 {
				opts.TailLines = &tail
			}
			if since < 0 {
				return fmt.Errorf("--since %s must be positive", since)
			}
			opts.SinceSeconds = int((since + time.Second - 1) / time.Second)
			b, err := f.backend()
			if err != nil {
				return err
			}
			if app != "" {
				l := &appLogs{backend: b, logs: b, namespace: f.namespace, app: app, process: process,
					opts: opts, out: io.out, errOut: io.err, poll: appLogsPoll, drain: appLogsDrain}
				return l.run(cmd.Context())
			}
			body, hdr, err := b.PodLogs(cmd.Context(), f.namespace, args[0], opts)
			if err != nil {
				return err
			}
			defer body.Close()
			noteDefaulted(io.err, hdr.Get(apiserver.HeaderDefaultedContainer), hdr.Get(apiserver.HeaderContainers))
			if _, err := streamCopy(io.out, body); err != nil && cmd.Context().Err() == nil {
				return fmt.Errorf("log stream: %w", err)
			}
			return nil
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&app, "app", "a", "", "every pod of this app, each line prefixed POD[PROCESS]")
	fl.StringVarP(&process, "process", "p", "", "with -a: only this process type's pods (web, worker, run)")
	fl.StringVarP(&opts.Container, "container", "c", "", "the container (default: the pod's first)")
	fl.BoolVarP(&opts.Follow, "follow", "f", false, "keep printing as the container writes")
	fl.BoolVar(&opts.Previous, "previous", false, "the run before the current one")
	fl.BoolVar(&opts.Timestamps, "timestamps", false, "start each line with the time it was written")
	fl.IntVar(&tail, "tail", -1, "only the last N lines (-1: all)")
	fl.DurationVar(&since, "since", 0, "only lines newer than this, e.g. 10m")
	return cmd
}

// streamCopy copies and writes each chunk at once.
func streamCopy(w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// noteDefaulted tells the person which container the server picked.
func noteDefaulted(w io.Writer, chosen, all string) {
	if chosen != "" {
		fmt.Fprintf(w, "Defaulted container %q out of: %s\n", chosen, strings.ReplaceAll(all, ",", ", "))
	}
}

func newExecCommand(io streams) *cobra.Command {
	var f clientFlags
	var container string
	var stdin, tty bool
	cmd := &cobra.Command{
		Use:   "exec [-it] POD [-c CONTAINER] -- COMMAND [ARG...]",
		Short: "Run a command in a running container",
		Long: `Run a command in a running container of a pod, streaming its input and output
through the API server to the node's agent. skiff exits with the command's
exit code. -i sends standard input; -t gives the command a terminal (raw
mode here, resized with this window).`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return errors.New("exec needs POD -- COMMAND (the command goes after --)")
			}
			b, err := f.backend()
			if err != nil {
				return err
			}
			opts := client.ExecOptions{Container: container, Command: args[1:], Stdout: io.out, Stderr: io.err,
				Connected: func(defaulted string) {
					if defaulted != "" {
						// \r: the terminal may be raw already.
						fmt.Fprintf(io.err, "Defaulted container %q\r\n", defaulted)
					}
				}}
			if stdin {
				opts.Stdin = io.in
			}
			if tty {
				in, ok := io.in.(*os.File)
				if !ok || !term.IsTerminal(int(in.Fd())) {
					fmt.Fprintln(io.err, "Unable to use a TTY - input is not a terminal or the right kind of file")
				} else {
					opts.TTY = true
					if stdin {
						old, err := term.MakeRaw(int(in.Fd()))
						if err != nil {
							return fmt.Errorf("terminal: %w", err)
						}
						defer term.Restore(int(in.Fd()), old)
					}
					resize := make(chan execstream.TermSize, 1)
					send := func() {
						if w, h, err := term.GetSize(int(in.Fd())); err == nil {
							select {
							case resize <- execstream.TermSize{Width: uint16(w), Height: uint16(h)}:
							default:
							}
						}
					}
					send()
					winch := make(chan os.Signal, 1)
					signal.Notify(winch, syscall.SIGWINCH)
					done := make(chan struct{})
					defer func() { signal.Stop(winch); close(done) }()
					go func() {
						for {
							select {
							case <-winch:
								send()
							case <-done:
								return
							}
						}
					}()
					opts.Resize = resize
				}
			}
			code, _, err := b.Exec(cmd.Context(), f.namespace, args[0], opts)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitError{code: code}
			}
			return nil
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&container, "container", "c", "", "the container (default: the pod's first)")
	fl.BoolVarP(&stdin, "stdin", "i", false, "send standard input to the command")
	fl.BoolVarP(&tty, "tty", "t", false, "give the command a terminal")
	return cmd
}

// How skiff logs -a follows an app: it reads the pod list every
// appLogsPoll, and keeps reading a pod's stream for appLogsDrain after the
// pod's container ended (the agent's follow goes on past the exit, and
// the last lines may still be on their way).
const (
	appLogsPoll  = 2 * time.Second
	appLogsDrain = time.Second
)

// podLogSource opens a container's log stream (client.HTTP does).
type podLogSource interface {
	PodLogs(ctx context.Context, namespace, pod string, opts client.LogOptions) (io.ReadCloser, http.Header, error)
}

var _ podLogSource = (*client.HTTP)(nil)

// appLogs prints the logs of an app's pods (of one process type when
// process is set), each line prefixed "POD[PROCESS]: ". With opts.Follow
// it reads the pod list every poll, starts a stream for each new pod or
// container run, and stops the streams of containers that ended.
type appLogs struct {
	backend        client.Backend
	logs           podLogSource
	namespace, app string
	process        string
	opts           client.LogOptions
	out, errOut    io.Writer
	poll, drain    time.Duration
}

// appLogStream is one container run's stream.
type appLogStream struct {
	cancel context.CancelFunc
	// live: the run was running when the stream began, so a follow
	// goes on until it is stopped.
	live   bool
	ending bool
}

// end stops s after drain, once.
func (s *appLogStream) end(drain time.Duration) {
	if !s.ending {
		s.ending = true
		time.AfterFunc(drain, s.cancel)
	}
}

// selector picks the pods of the app (and process).
func (l *appLogs) selector() string {
	sel := api.LabelApp + "=" + l.app
	if l.process != "" {
		sel += "," + api.LabelProcess + "=" + l.process
	}
	return sel
}

// run prints until every stream has ended, or with Follow until ctx ends.
func (l *appLogs) run(ctx context.Context) error {
	if _, err := client.For[*api.App](l.backend, l.namespace).Get(ctx, l.app); err != nil {
		return err
	}
	ctx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	w := &prefixedLines{w: l.out}
	streams := map[string]*appLogStream{}
	var wg sync.WaitGroup
	defer wg.Wait()
	first := true
	for {
		pods, _, _, err := client.For[*api.Pod](l.backend, l.namespace).List(ctx, api.ListOptions{LabelSelector: l.selector()})
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil && first:
			return err
		case err != nil:
			fmt.Fprintf(l.errOut, "list the pods of app %s (retrying in %s): %v\n", l.app, l.poll, err)
		default:
			want := map[string]*api.Pod{}
			live := map[string]bool{}
			for _, p := range pods {
				if k, running, ok := logRunKey(p, l.opts.Container); ok {
					want[k], live[k] = p, running
				}
			}
			if first && len(want) == 0 {
				if !l.opts.Follow {
					return fmt.Errorf("app %s has no %spods with a log yet (see skiff ps %s)", l.app, processWord(l.process), l.app)
				}
				fmt.Fprintf(l.errOut, "app %s has no %spods with a log yet; waiting for some\n", l.app, processWord(l.process))
			}
			// Ended runs: let their last lines through, then stop.
			for k, s := range streams {
				switch _, ok := want[k]; {
				case ok && s.live && !live[k]:
					s.end(l.drain) // the container exited
				case ok:
				case s.ending:
					delete(streams, k) // a run does not come back
				default:
					s.end(l.drain) // the pod is gone, or restarted
				}
			}
			keys := make([]string, 0, len(want))
			for k := range want {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if _, ok := streams[k]; ok {
					continue
				}
				opts := l.opts
				if !first {
					// A pod or run that started since: all of it.
					opts.TailLines, opts.SinceSeconds = nil, 0
				}
				sctx, cancel := context.WithCancel(ctx)
				streams[k] = &appLogStream{cancel: cancel, live: live[k]}
				p := want[k]
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer cancel()
					l.stream(sctx, w, p, opts)
				}()
			}
		}
		first = false
		if !l.opts.Follow {
			wg.Wait()
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(l.poll):
		}
	}
}

// processWord is "web " for process web, "" for none.
func processWord(proc string) string {
	if proc == "" {
		return ""
	}
	return proc + " "
}

// stream copies one pod's log to w, line by line with the pod's prefix.
func (l *appLogs) stream(ctx context.Context, w *prefixedLines, p *api.Pod, opts client.LogOptions) {
	prefix := p.Name
	if proc := p.Labels[api.LabelProcess]; proc != "" {
		prefix += "[" + proc + "]"
	}
	prefix += ": "
	body, _, err := l.logs.PodLogs(ctx, l.namespace, p.Name, opts)
	if err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(l.errOut, "%slog: %v\n", prefix, err)
		}
		return
	}
	defer body.Close()
	r := bufio.NewReaderSize(body, 32<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if werr := w.write(prefix, line); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				fmt.Fprintf(l.errOut, "%slog stream: %v\n", prefix, err)
			}
			return
		}
	}
}

// logRunKey names the container run of p whose log skiff logs -a shows:
// the pod's UID and the container's restart count, so that a restart is a
// new stream; running says whether it runs still. ok is false while the
// container has no log yet.
func logRunKey(p *api.Pod, container string) (key string, running, ok bool) {
	if container == "" && len(p.Spec.Containers) > 0 {
		container = p.Spec.Containers[0].Name
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name != container {
			continue
		}
		if cs.State.Running == nil && cs.State.Terminated == nil && cs.RestartCount == 0 {
			return "", false, false
		}
		return fmt.Sprintf("%s/%d", p.UID, cs.RestartCount), cs.State.Running != nil, true
	}
	return "", false, false
}

// prefixedLines writes whole lines from several streams, each with its
// prefix, so that lines of different pods never mix.
type prefixedLines struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *prefixedLines) write(prefix string, line []byte) error {
	buf := make([]byte, 0, len(prefix)+len(line)+1)
	buf = append(append(buf, prefix...), line...)
	if buf[len(buf)-1] != '\n' {
		buf = append(buf, '\n')
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.w.Write(buf)
	return err
}
