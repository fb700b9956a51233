package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/skiffhq/skiff/server/apiserver"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/client/execstream"
)

func newLogsCommand(io streams) *cobra.Command {
	var f clientFlags
	var opts client.LogOptions
	tail := -1
	var since time.Duration
	cmd := &cobra.Command{
		Use:   "logs POD [-c CONTAINER]",
		Short: "Print a container's log (-f follows it)",
		Long: `Print the log of a container of a pod, as the node's agent keeps it: the
current run's, or with --previous the one before (what a crash-looping
container printed before it died). A pod with several containers needs -c,
or its first container is shown.`,
		Args: cobra.ExactArgs(1),
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
	fl.StringVarP(&opts.Container, "container", "c", "", "the container (default: the pod's first)")
	fl.BoolVarP(&opts.Follow, "follow", "f", false, "keep printing as the container writes")
	fl.BoolVarP(&opts.Previous, "previous", "p", false, "the run before the current one")
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
