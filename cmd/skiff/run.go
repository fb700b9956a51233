package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// processRun is the process label of one-off pods (skiff run): no
// Deployment selects it, so the app controller neither counts nor stops
// them.
const processRun = "run"

// runGraceSeconds is how long a one-off process gets to stop when skiff
// run is interrupted.
const runGraceSeconds = 10

func newRunCommand(io streams) *cobra.Command {
	var f appFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "run APP -- COMMAND [ARG...]",
		Short: "Run a one-off command in the app's current release (image and config vars)",
		Long: `Run a one-off command (a migration, a console script) in a new pod made from
the app's current release: its image, its config vars as environment and
PORT, as Heroku's run does. The command is run as given (exec form); for a
shell line say: skiff run APP -- sh -c 'echo $FOO'. Its output is streamed
here, skiff exits with its exit code, and the pod (APP-run-xxxxx, process
type "run") is deleted at the end or on Ctrl-C.

The command gets no standard input and no terminal: this is not an
interactive session.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash < 0 {
				return errors.New("run needs APP -- COMMAND (the command goes after --)")
			}
			pre, command := args[:dash], args[dash:]
			name, err := f.name(&pre)
			if err != nil {
				return err
			}
			if len(pre) > 0 {
				return fmt.Errorf("run takes one app before --, got also %q", pre)
			}
			if len(command) == 0 {
				return errors.New("give the command after --")
			}
			b, err := f.backend()
			if err != nil {
				return err
			}
			o := &oneOff{backend: b, logs: b, namespace: f.namespace, app: name, command: command,
				out: io.out, errOut: io.err, startTimeout: timeout, poll: 250 * time.Millisecond}
			code, err := o.run(cmd.Context())
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
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long the pod may take to start")
	return cmd
}

// oneOff is one skiff run: a pod of the app's current release running
// command, its log streamed to out.
type oneOff struct {
	backend        client.Backend
	logs           podLogSource
	namespace, app string
	command        []string
	out, errOut    io.Writer
	startTimeout   time.Duration
	poll           time.Duration
}

// run makes the pod, streams its output and returns its exit code. The
// pod is deleted before run returns, whatever happened.
func (o *oneOff) run(ctx context.Context) (int, error) {
	a, err := client.For[*api.App](o.backend, o.namespace).Get(ctx, o.app)
	if err != nil {
		return 0, err
	}
	if a.Status.Release == "" {
		return 0, fmt.Errorf("app %s has no release to run yet: git push to it first", o.app)
	}
	r, err := client.For[*api.Release](o.backend, o.namespace).Get(ctx, a.Status.Release)
	if err != nil {
		return 0, fmt.Errorf("app %s's current release: %w", o.app, err)
	}
	pods := client.For[*api.Pod](o.backend, o.namespace)
	var pod *api.Pod
	for try := 0; ; try++ {
		pod, err = pods.Create(ctx, oneOffPod(a, r, oneOffName(a.Name), o.command))
		if err == nil || !errdefs.IsAlreadyExists(err) || try == 2 {
			break
		}
	}
	if err != nil {
		return 0, fmt.Errorf("create the one-off pod: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := pods.Delete(dctx, pod.Name, api.DeleteOptions{}); err != nil && !errdefs.IsNotFound(err) {
			fmt.Fprintf(o.errOut, "delete pod %s: %v (delete it with skiff delete pod %s)\n", pod.Name, err, pod.Name)
		}
	}()
	fmt.Fprintf(o.errOut, "Running %s on %s (v%d) as %s\n", strings.Join(o.command, " "), a.Name, r.Spec.Version, pod.Name)
	if err := o.waitStarted(ctx, pod.Name); err != nil {
		return 0, o.interrupted(ctx, err)
	}
	if err := o.streamUntilExit(ctx, pod.Name); err != nil {
		return 0, o.interrupted(ctx, err)
	}
	return o.exitCode(ctx, pod.Name)
}

// interrupted turns an error from Ctrl-C into exit code 130.
func (o *oneOff) interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		fmt.Fprintln(o.errOut, "interrupted; stopping the one-off pod")
		return exitError{code: 130}
	}
	return err
}

// oneOffName is APP-run-xxxxx, with five random letters and digits.
func oneOffName(app string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return app + "-run-" + string(b)
}

// oneOffPod is the pod that runs command once in release r of app a:
// r's image, PORT and r's config snapshot as environment, the app's
// resources; never restarted; owned (not controlled) by the App, so that
// destroying the app deletes it.
func oneOffPod(a *api.App, r *api.Release, name string, command []string) *api.Pod {
	p := a.Spec.Port
	if p == 0 {
		p = r.Spec.Port
	}
	if p == 0 {
		p = api.DefaultAppPort
	}
	c := api.Container{
		Name:      processRun,
		Image:     r.Spec.Image,
		Command:   append([]string(nil), command...),
		Env:       []api.EnvVar{{Name: "PORT", Value: strconv.Itoa(int(p))}},
		Resources: a.Spec.Resources,
	}
	if r.Spec.Config != "" {
		c.EnvFrom = []api.EnvFromSource{{SecretRef: &api.SecretEnvSource{LocalObjectReference: api.LocalObjectReference{Name: r.Spec.Config}}}}
	}
	grace := int64(runGraceSeconds)
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{
			Name:            name,
			Namespace:       a.Namespace,
			Labels:          map[string]string{api.LabelApp: a.Name, api.LabelProcess: processRun, api.LabelRelease: r.Name},
			OwnerReferences: []api.OwnerReference{{APIVersion: "skiff.dev/v1", Kind: "App", Name: a.Name, UID: a.UID}},
		},
		Spec: api.PodSpec{
			Containers:                    []api.Container{c},
			RestartPolicy:                 api.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			// Where the release's own pods may run.
			NodeSelector: api.ReleaseNodeSelector(r),
		},
	}
}

// oneOffState is where a one-off pod's container is.
type oneOffState int

const (
	oneOffWaiting oneOffState = iota
	oneOffRunning
	oneOffExited
)

// oneOffStateOf reads p's state; err says why it will never start.
func oneOffStateOf(p *api.Pod) (oneOffState, error) {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name != processRun {
			continue
		}
		switch {
		case cs.State.Terminated != nil:
			return oneOffExited, nil
		case cs.State.Running != nil:
			return oneOffRunning, nil
		case cs.State.Waiting != nil:
			switch w := cs.State.Waiting; w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerError",
				"CreateContainerConfigError", "RunContainerError":
				return oneOffWaiting, fmt.Errorf("the one-off pod cannot start: %s: %s", w.Reason, w.Message)
			}
		}
	}
	if p.Status.Phase == api.PodFailed || p.Status.Phase == api.PodSucceeded {
		return oneOffExited, nil
	}
	return oneOffWaiting, nil
}

// waitStarted waits for the pod's container to run (or to have run).
func (o *oneOff) waitStarted(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, o.startTimeout)
	defer cancel()
	pods := client.For[*api.Pod](o.backend, o.namespace)
	last := "not scheduled yet"
	for ctx.Err() == nil {
		p, err := pods.Get(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		st, err := oneOffStateOf(p)
		if err != nil {
			return err
		}
		if st != oneOffWaiting {
			return nil
		}
		last = pendingReason(p)
		select {
		case <-ctx.Done():
		case <-time.After(o.poll):
		}
	}
	if err := context.Cause(ctx); !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("the one-off pod %s has not started after %s (%s); try a longer --timeout, or see skiff describe pod %s",
		name, o.startTimeout, last, name)
}

// pendingReason says why p has not started, as far as its status tells.
func pendingReason(p *api.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodScheduled && c.Status == api.ConditionFalse && c.Message != "" {
			return "not scheduled: " + c.Message
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason
		}
	}
	if p.Spec.NodeName == "" {
		return "not scheduled yet"
	}
	return "phase " + string(p.Status.Phase)
}

// streamUntilExit copies the container's log to out until the container
// has exited. The agent's follow goes on past the exit, so the pod is
// watched too: once it has exited, the followed stream is stopped and the
// rest of the log (what the follow had not delivered) is read once more.
func (o *oneOff) streamUntilExit(ctx context.Context, name string) error {
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	body, _, err := o.logs.PodLogs(sctx, o.namespace, name, client.LogOptions{Follow: true})
	if err != nil {
		return fmt.Errorf("the one-off pod's log: %w", err)
	}
	type copied struct {
		n   int64
		err error
	}
	done := make(chan copied, 1)
	go func() {
		defer body.Close()
		n, err := streamCopy(o.out, body)
		done <- copied{n, err}
	}()
	pods := client.For[*api.Pod](o.backend, o.namespace)
	var res copied
	ended := false
	for exited := false; !exited; {
		select {
		case res = <-done:
			// The container had exited before the log was asked for
			// (the agent then does not follow), or the stream broke:
			// wait for the exit, then read what was not printed.
			ended = true
			if err := o.waitExited(ctx, name); err != nil {
				return err
			}
			exited = true
			continue
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.poll):
		}
		p, err := pods.Get(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		st, _ := oneOffStateOf(p)
		exited = st == oneOffExited
	}
	if !ended {
		// Let the follow catch up (it polls the file every 100ms),
		// then read whatever it still had not sent.
		select {
		case res = <-done:
		case <-time.After(3 * o.poll):
			stop()
			res = <-done
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	rest, _, err := o.logs.PodLogs(ctx, o.namespace, name, client.LogOptions{})
	if err != nil {
		return fmt.Errorf("the one-off pod's log: %w", err)
	}
	defer rest.Close()
	if _, err := io.CopyN(io.Discard, rest, res.n); err != nil {
		return nil // nothing past what was printed
	}
	if _, err := streamCopy(o.out, rest); err != nil {
		return fmt.Errorf("the one-off pod's log: %w", err)
	}
	return nil
}

// waitExited waits for the agent to report the container's end.
func (o *oneOff) waitExited(ctx context.Context, name string) error {
	pods := client.For[*api.Pod](o.backend, o.namespace)
	for {
		p, err := pods.Get(ctx, name)
		if err != nil {
			return err
		}
		if st, _ := oneOffStateOf(p); st == oneOffExited {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.poll):
		}
	}
}

// exitCode is the exited container's exit code.
func (o *oneOff) exitCode(ctx context.Context, name string) (int, error) {
	p, err := client.For[*api.Pod](o.backend, o.namespace).Get(ctx, name)
	if err != nil {
		return 0, err
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == processRun && cs.State.Terminated != nil {
			t := cs.State.Terminated
			if t.ExitCode == 0 && t.Signal != 0 {
				return 128 + int(t.Signal), nil
			}
			return int(t.ExitCode), nil
		}
	}
	if p.Status.Phase == api.PodSucceeded {
		return 0, nil
	}
	return 0, fmt.Errorf("the one-off pod %s ended without an exit code (%s: %s)", name, p.Status.Reason, p.Status.Message)
}
