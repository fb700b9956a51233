package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/deployment"
)

// `skiff rollout` works on deployments as kubectl's does: status watches
// the status the deployment controller writes; history reads the
// replica sets' revision annotations; undo copies an old replica set's
// template into the deployment; pause, resume and restart patch the
// deployment.

func newRolloutCommand(io streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout SUBCOMMAND deployment/NAME",
		Short: "Watch, pause, resume, restart or undo the rollout of a deployment",
	}
	cmd.AddCommand(
		newRolloutStatusCommand(io),
		newRolloutHistoryCommand(io),
		newRolloutUndoCommand(io),
		newRolloutPatchCommand(io, "pause", "Stop rolling out changes to the template (scaling still applies)", pauseDeployment),
		newRolloutPatchCommand(io, "resume", "Roll out the template again after a pause", resumeDeployment),
		newRolloutPatchCommand(io, "restart", "Replace every pod, one step at a time, by a rollout of the same template", restartDeployment),
	)
	return cmd
}

// deploymentArg reads "deployment/NAME", "deploy/NAME" or "deployment NAME".
func deploymentArg(args []string) (string, error) {
	var kind, name string
	switch {
	case len(args) == 1 && strings.Contains(args[0], "/"):
		kind, name, _ = strings.Cut(args[0], "/")
	case len(args) == 2:
		kind, name = args[0], args[1]
	default:
		return "", fmt.Errorf("name a deployment: deployment/NAME")
	}
	k, err := lookupKind(kind)
	if err != nil {
		return "", err
	}
	if k.Kind != "Deployment" {
		return "", fmt.Errorf("rollout works on deployments, not %s", k.Resource)
	}
	if name == "" {
		return "", fmt.Errorf("name a deployment: deployment/NAME")
	}
	return name, nil
}

// onDeployment is the RunE of a rollout verb: it reads the deployment's
// name from the arguments, connects, and runs run.
func onDeployment(f *clientFlags, run func(ctx context.Context, b client.Backend, name string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		name, err := deploymentArg(args)
		if err != nil {
			return err
		}
		b, err := f.backend()
		if err != nil {
			return err
		}
		return run(cmd.Context(), b, name)
	}
}

func deploymentRef(name string) string { return "deployment/" + name }

type rolloutStatusOptions struct {
	timeout time.Duration
	watch   bool
}

func newRolloutStatusCommand(io streams) *cobra.Command {
	var f clientFlags
	var o rolloutStatusOptions
	cmd := &cobra.Command{
		Use:   "status deployment/NAME",
		Short: "Wait for a rollout to finish, printing its progress",
		Long: `Wait until the deployment's rollout is complete, printing a line whenever its
progress changes. Exits non-zero if the rollout exceeds its progress deadline
or --timeout passes first.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: onDeployment(&f, func(ctx context.Context, b client.Backend, name string) error {
			return rolloutStatus(ctx, io.out, b, f.namespace, name, o)
		}),
	}
	f.add(cmd)
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "give up after this long (0: wait for ever)")
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", true, "wait for the rollout to finish; with --watch=false print the status once")
	return cmd
}

// rolloutMessage says how far a deployment's rollout is, as kubectl
// words it; done when it is complete, an error when it failed.
func rolloutMessage(d *api.Deployment) (string, bool, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == api.DeploymentProgressing && c.Reason == deployment.ReasonTimedOut {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
		}
	}
	s := d.Status
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	switch {
	case s.UpdatedReplicas < want:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", d.Name, s.UpdatedReplicas, want), false, nil
	case s.Replicas > s.UpdatedReplicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", d.Name, s.Replicas-s.UpdatedReplicas), false, nil
	case s.AvailableReplicas < s.UpdatedReplicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", d.Name, s.AvailableReplicas, s.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", d.Name), true, nil
}

// rolloutStatus prints the rollout's progress until it is done.
func rolloutStatus(ctx context.Context, out io.Writer, b client.Backend, ns, name string, o rolloutStatusOptions) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	deps := client.For[*api.Deployment](b, ns)
	last := ""
	show := func(d *api.Deployment) (bool, error) {
		msg, done, err := rolloutMessage(d)
		if err != nil {
			return false, err
		}
		if msg != last {
			fmt.Fprintln(out, msg)
			last = msg
		}
		return done, nil
	}
	for {
		d, err := deps.Get(ctx, name)
		if err != nil {
			return timeoutError(ctx, o.timeout, err)
		}
		if done, err := show(d); err != nil || done || !o.watch {
			return err
		}
		w, err := deps.Watch(ctx, api.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: d.ResourceVersion})
		if err != nil {
			return timeoutError(ctx, o.timeout, err)
		}
		for e := range w.ResultChan() {
			switch e.Type {
			case api.Deleted:
				w.Stop()
				return fmt.Errorf("deployment %q was deleted", name)
			case api.Added, api.Modified:
				if d, ok := e.Object.(*api.Deployment); ok {
					if done, err := show(d); err != nil || done {
						w.Stop()
						return err
					}
				}
			}
			// An Error event ends the channel; the loop reads again.
		}
		w.Stop()
		if ctx.Err() != nil {
			return timeoutError(ctx, o.timeout, ctx.Err())
		}
	}
}

func timeoutError(ctx context.Context, timeout time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %v waiting for the rollout to finish", timeout)
	}
	return err
}

func newRolloutHistoryCommand(io streams) *cobra.Command {
	var f clientFlags
	var revision int64
	cmd := &cobra.Command{
		Use:   "history deployment/NAME",
		Short: "List a deployment's revisions, or show one's pod template",
		Args:  cobra.RangeArgs(1, 2),
		RunE: onDeployment(&f, func(ctx context.Context, b client.Backend, name string) error {
			return rolloutHistory(ctx, io.out, b, f.namespace, name, revision)
		}),
	}
	f.add(cmd)
	cmd.Flags().Int64Var(&revision, "revision", 0, "show the pod template of this revision")
	return cmd
}

// deploymentHistory reads a deployment and its replica sets, oldest revision first.
func deploymentHistory(ctx context.Context, b client.Backend, ns, name string) (*api.Deployment, []*api.ReplicaSet, error) {
	d, err := client.For[*api.Deployment](b, ns).Get(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	list, err := client.ListAll(ctx, b, "replicasets", ns, api.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	rss := make([]*api.ReplicaSet, 0, len(list.Items))
	for _, o := range list.Items {
		if rs, ok := o.(*api.ReplicaSet); ok {
			rss = append(rss, rs)
		}
	}
	return d, deployment.Owned(d, rss), nil
}

func rolloutHistory(ctx context.Context, out io.Writer, b client.Backend, ns, name string, revision int64) error {
	d, owned, err := deploymentHistory(ctx, b, ns, name)
	if err != nil {
		return err
	}
	if revision > 0 {
		for _, rs := range owned {
			if deployment.Revision(rs) != revision {
				continue
			}
			t := rs.Spec.Template
			delete(t.Labels, deployment.PodTemplateHashLabel) // rs was read for this command alone
			y, err := yaml.Marshal(t)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s with revision #%d\nPod Template:\n", deploymentRef(d.Name), revision)
			for _, line := range strings.Split(strings.TrimRight(string(y), "\n"), "\n") {
				fmt.Fprintln(out, "  "+line)
			}
			return nil
		}
		return fmt.Errorf("unable to find revision %d of deployment %q", revision, name)
	}
	fmt.Fprintln(out, deploymentRef(d.Name))
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tCHANGE-CAUSE")
	seen := map[int64]bool{}
	for _, rs := range owned {
		rev := deployment.Revision(rs)
		if rev == 0 || seen[rev] {
			continue
		}
		seen[rev] = true
		cause := rs.Annotations[deployment.ChangeCauseAnnotation]
		if cause == "" {
			cause = "<none>"
		}
		fmt.Fprintf(tw, "%s\t%s\n", strconv.FormatInt(rev, 10), cause)
	}
	if len(seen) == 0 {
		tw.Flush()
		fmt.Fprintln(out, "No rollout history found.")
		return nil
	}
	return tw.Flush()
}

func newRolloutUndoCommand(io streams) *cobra.Command {
	var f clientFlags
	var to int64
	cmd := &cobra.Command{
		Use:   "undo deployment/NAME",
		Short: "Roll back to the previous revision, or to --to-revision",
		Args:  cobra.RangeArgs(1, 2),
		RunE: onDeployment(&f, func(ctx context.Context, b client.Backend, name string) error {
			if to < 0 {
				return fmt.Errorf("--to-revision %d: want a revision number, or 0 for the previous one", to)
			}
			return rolloutUndo(ctx, io.out, b, f.namespace, name, to)
		}),
	}
	f.add(cmd)
	cmd.Flags().Int64Var(&to, "to-revision", 0, "the revision to roll back to (0: the previous one)")
	return cmd
}

// rolloutUndo sets the deployment's template to that of a revision's
// replica set. The update carries the resourceVersion read, so a change
// made meanwhile is a conflict, not overwritten.
func rolloutUndo(ctx context.Context, out io.Writer, b client.Backend, ns, name string, to int64) error {
	d, owned, err := deploymentHistory(ctx, b, ns, name)
	if err != nil {
		return err
	}
	next, rev, err := deployment.Rollback(d, owned, to)
	if errors.Is(err, deployment.ErrSkipped) {
		fmt.Fprintf(out, "%s skipped rollback (current template already matches revision %d)\n", deploymentRef(name), rev)
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := client.For[*api.Deployment](b, ns).Update(ctx, next); err != nil {
		return fmt.Errorf("roll back deployment %q to revision %d: %w", name, rev, err)
	}
	fmt.Fprintf(out, "%s rolled back\n", deploymentRef(name))
	return nil
}

// A patcher returns the merge patch for a deployment, or an error saying
// why not.
type patcher func(d *api.Deployment, now time.Time) ([]byte, error)

func newRolloutPatchCommand(io streams, verb, short string, p patcher) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   verb + " deployment/NAME",
		Short: short,
		Args:  cobra.RangeArgs(1, 2),
		RunE: onDeployment(&f, func(ctx context.Context, b client.Backend, name string) error {
			return patchDeployment(ctx, io.out, b, f.namespace, name, verb, p, time.Now())
		}),
	}
	f.add(cmd)
	return cmd
}

// patchDeployment reads the deployment, asks p for a patch and applies
// it, pinned to the version read.
func patchDeployment(ctx context.Context, out io.Writer, b client.Backend, ns, name, verb string, p patcher, now time.Time) error {
	deps := client.For[*api.Deployment](b, ns)
	d, err := deps.Get(ctx, name)
	if err != nil {
		return err
	}
	patch, err := p(d, now)
	if err != nil {
		return err
	}
	if _, err := deps.Patch(ctx, name, patch); err != nil {
		return fmt.Errorf("%s deployment %q: %w", verb, name, err)
	}
	past := map[string]string{"pause": "paused", "resume": "resumed", "restart": "restarted"}[verb]
	fmt.Fprintf(out, "%s %s\n", deploymentRef(name), past)
	return nil
}

func pinnedDeploymentPatch(d *api.Deployment, spec string) []byte {
	return fmt.Appendf(nil, `{"metadata":{"resourceVersion":%q},"spec":%s}`, d.ResourceVersion, spec)
}

func pauseDeployment(d *api.Deployment, _ time.Time) ([]byte, error) {
	if d.Spec.Paused {
		return nil, fmt.Errorf("deployment %q is already paused", d.Name)
	}
	return pinnedDeploymentPatch(d, `{"paused":true}`), nil
}

func resumeDeployment(d *api.Deployment, _ time.Time) ([]byte, error) {
	if !d.Spec.Paused {
		return nil, fmt.Errorf("deployment %q is not paused", d.Name)
	}
	return pinnedDeploymentPatch(d, `{"paused":null}`), nil
}

func restartDeployment(d *api.Deployment, now time.Time) ([]byte, error) {
	if d.Spec.Paused {
		return nil, fmt.Errorf("deployment %q is paused: resume it first (`skiff rollout resume deployment/%s`), then restart", d.Name, d.Name)
	}
	return pinnedDeploymentPatch(d, fmt.Sprintf(`{"template":{"metadata":{"annotations":{%q:%q}}}}`,
		deployment.RestartedAtAnnotation, now.UTC().Format(time.RFC3339))), nil
}
