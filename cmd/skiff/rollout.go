package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/deployment"
)

// `skiff rollout` works as kubectl's does. On deployments: status
// watches the status the deployment controller writes; history reads
// the replica sets' revision annotations; undo copies an old replica
// set's template into the deployment; pause, resume and restart patch
// the deployment. On stateful sets and daemon sets: status watches their
// status; history reads the ControllerRevisions their controllers keep;
// undo copies an old revision's template into the set.

func newRolloutCommand(io streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout SUBCOMMAND KIND/NAME",
		Short: "Watch, pause, resume, restart or undo the rollout of a deployment, stateful set or daemon set",
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

// The kinds the rollout verbs work on, as kubectl's: status, history
// and undo take any workload with a rollout history; pause, resume and
// restart only deployments.
var (
	historyKinds    = []string{"Deployment", "StatefulSet", "DaemonSet"}
	deploymentKinds = []string{"Deployment"}
)

// workload is what a rollout verb works on: a kind of the table
// (api.Kind.Kind) and a name.
type workload struct{ kind, name string }

// String is "deployment/web", as the verbs print it.
func (w workload) String() string { return strings.ToLower(w.kind) + "/" + w.name }

// noun is how messages name the kind: "deployment", "statefulset".
func (w workload) noun() string { return strings.ToLower(w.kind) }

// workloadArg reads "KIND/NAME" or "KIND NAME" ("deploy/web",
// "statefulset db") for a verb that works on kinds.
func workloadArg(verb string, args []string, kinds []string) (workload, error) {
	var kind, name string
	switch {
	case len(args) == 1 && strings.Contains(args[0], "/"):
		kind, name, _ = strings.Cut(args[0], "/")
	case len(args) == 2:
		kind, name = args[0], args[1]
	}
	if kind == "" || name == "" {
		return workload{}, fmt.Errorf("name a %s: %s/NAME", kindNouns(kinds, " or "), strings.ToLower(kinds[0]))
	}
	k, err := lookupKind(kind)
	if err != nil {
		return workload{}, err
	}
	if !slices.Contains(kinds, k.Kind) {
		return workload{}, fmt.Errorf("rollout %s works on %ss, not %s", verb, kindNouns(kinds, "s, "), k.Resource)
	}
	return workload{kind: k.Kind, name: name}, nil
}

// kindNouns lists kinds in lower case, joined by sep.
func kindNouns(kinds []string, sep string) string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = strings.ToLower(k)
	}
	return strings.Join(out, sep)
}

// onWorkload is the RunE of a rollout verb: it reads the workload from
// the arguments, connects, and runs run.
func onWorkload(f *clientFlags, verb string, kinds []string, run func(ctx context.Context, b client.Backend, w workload) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		w, err := workloadArg(verb, args, kinds)
		if err != nil {
			return err
		}
		b, err := f.backend()
		if err != nil {
			return err
		}
		return run(cmd.Context(), b, w)
	}
}

type rolloutStatusOptions struct {
	timeout time.Duration
	watch   bool
}

func newRolloutStatusCommand(io streams) *cobra.Command {
	var f clientFlags
	var o rolloutStatusOptions
	cmd := &cobra.Command{
		Use:   "status KIND/NAME",
		Short: "Wait for a rollout to finish, printing its progress",
		Long: `Wait until the rollout of a deployment, stateful set or daemon set is complete,
printing a line whenever its progress changes. Exits non-zero if a deployment's
rollout exceeds its progress deadline or --timeout passes first. Stateful sets
and daemon sets must use the RollingUpdate strategy.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: onWorkload(&f, "status", historyKinds, func(ctx context.Context, b client.Backend, w workload) error {
			return rolloutStatus(ctx, io.out, b, f.namespace, w, o)
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

// statefulSetRolloutMessage says how far a stateful set's rollout is,
// as kubectl words it.
func statefulSetRolloutMessage(s *api.StatefulSet) (string, bool, error) {
	if s.Spec.UpdateStrategy.Type != api.RollingUpdateStatefulSetStrategyType {
		return "", false, fmt.Errorf("rollout status is only available for %s strategy type", api.RollingUpdateStatefulSetStrategyType)
	}
	if s.Status.ObservedGeneration == 0 || s.Generation > s.Status.ObservedGeneration {
		return "Waiting for statefulset spec update to be observed...", false, nil
	}
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	if s.Status.ReadyReplicas < want {
		return fmt.Sprintf("Waiting for %d pods to be ready...", want-s.Status.ReadyReplicas), false, nil
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.Partition != nil && s.Status.UpdatedReplicas < want-*ru.Partition {
			return fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...", s.Status.UpdatedReplicas, want-*ru.Partition), false, nil
		}
		return fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...", s.Status.UpdatedReplicas), true, nil
	}
	if s.Status.UpdateRevision != s.Status.CurrentRevision {
		return fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...", s.Status.UpdatedReplicas, s.Status.UpdateRevision), false, nil
	}
	return fmt.Sprintf("statefulset rolling update complete %d pods at revision %s...", s.Status.CurrentReplicas, s.Status.CurrentRevision), true, nil
}

// daemonSetRolloutMessage says how far a daemon set's rollout is, as
// kubectl words it.
func daemonSetRolloutMessage(ds *api.DaemonSet) (string, bool, error) {
	if ds.Spec.UpdateStrategy.Type != api.RollingUpdateDaemonSetStrategyType {
		return "", false, fmt.Errorf("rollout status is only available for %s strategy type", api.RollingUpdateDaemonSetStrategyType)
	}
	s := ds.Status
	switch {
	case ds.Generation > s.ObservedGeneration:
		return "Waiting for daemon set spec update to be observed...", false, nil
	case s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...", ds.Name, s.UpdatedNumberScheduled, s.DesiredNumberScheduled), false, nil
	case s.NumberAvailable < s.DesiredNumberScheduled:
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...", ds.Name, s.NumberAvailable, s.DesiredNumberScheduled), false, nil
	}
	return fmt.Sprintf("daemon set %q successfully rolled out", ds.Name), true, nil
}

// rolloutStatus prints w's rollout progress until it is done.
func rolloutStatus(ctx context.Context, out io.Writer, b client.Backend, ns string, w workload, o rolloutStatusOptions) error {
	switch w.kind {
	case "StatefulSet":
		return watchRollout(ctx, out, b, ns, w, o, statefulSetRolloutMessage)
	case "DaemonSet":
		return watchRollout(ctx, out, b, ns, w, o, daemonSetRolloutMessage)
	}
	return watchRollout(ctx, out, b, ns, w, o, rolloutMessage)
}

// watchRollout prints message(obj) whenever it changes, watching w,
// until message says done or fails.
func watchRollout[T api.Object](ctx context.Context, out io.Writer, b client.Backend, ns string, w workload, o rolloutStatusOptions, message func(T) (string, bool, error)) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	objs := client.For[T](b, ns)
	last := ""
	show := func(obj T) (bool, error) {
		msg, done, err := message(obj)
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
		obj, err := objs.Get(ctx, w.name)
		if err != nil {
			return timeoutError(ctx, o.timeout, err)
		}
		if done, err := show(obj); err != nil || done || !o.watch {
			return err
		}
		wt, err := objs.Watch(ctx, api.ListOptions{FieldSelector: "metadata.name=" + w.name, ResourceVersion: obj.GetObjectMeta().ResourceVersion})
		if err != nil {
			return timeoutError(ctx, o.timeout, err)
		}
		for e := range wt.ResultChan() {
			switch e.Type {
			case api.Deleted:
				wt.Stop()
				return fmt.Errorf("%s %q was deleted", w.noun(), w.name)
			case api.Added, api.Modified:
				if obj, ok := e.Object.(T); ok {
					if done, err := show(obj); err != nil || done {
						wt.Stop()
						return err
					}
				}
			}
			// An Error event ends the channel; the loop reads again.
		}
		wt.Stop()
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
	var number int64
	cmd := &cobra.Command{
		Use:   "history KIND/NAME",
		Short: "List the revisions of a deployment, stateful set or daemon set, or show one's pod template",
		Args:  cobra.RangeArgs(1, 2),
		RunE: onWorkload(&f, "history", historyKinds, func(ctx context.Context, b client.Backend, w workload) error {
			return rolloutHistory(ctx, io.out, b, f.namespace, w, number)
		}),
	}
	f.add(cmd)
	cmd.Flags().Int64Var(&number, "revision", 0, "show the pod template of this revision")
	return cmd
}

// A revision is one entry of a workload's rollout history.
type revision struct {
	number int64
	cause  string // the kubernetes.io/change-cause annotation
	// template is the revision's pod template, without the labels the
	// controller adds to tell revisions apart.
	template *api.PodTemplateSpec
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

// controllerRevisions reads obj's ControllerRevisions, oldest first.
func controllerRevisions(ctx context.Context, b client.Backend, obj api.Object) ([]*api.ControllerRevision, error) {
	m := obj.GetObjectMeta()
	list, err := client.ListAll(ctx, b, "controllerrevisions", m.Namespace, api.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []*api.ControllerRevision
	for _, o := range list.Items {
		if r, ok := o.(*api.ControllerRevision); ok {
			if ref := api.ControllerOf(&r.ObjectMeta); ref != nil && ref.UID == m.UID {
				out = append(out, r)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *api.ControllerRevision) int { return cmp.Compare(a.Revision, b.Revision) })
	return out, nil
}

// historyOf reads w's revisions, oldest first, one per number.
func historyOf(ctx context.Context, b client.Backend, ns string, w workload) ([]revision, error) {
	var out []revision
	add := func(r revision) {
		if r.number > 0 && (len(out) == 0 || out[len(out)-1].number != r.number) {
			out = append(out, r)
		}
	}
	if w.kind == "Deployment" {
		_, owned, err := deploymentHistory(ctx, b, ns, w.name)
		if err != nil {
			return nil, err
		}
		for _, rs := range owned {
			t := rs.Spec.Template // rs was read for this command alone
			delete(t.Labels, deployment.PodTemplateHashLabel)
			add(revision{number: deployment.Revision(rs), cause: rs.Annotations[deployment.ChangeCauseAnnotation], template: &t})
		}
		return out, nil
	}
	obj, err := getWorkload(ctx, b, ns, w)
	if err != nil {
		return nil, err
	}
	revs, err := controllerRevisions(ctx, b, obj)
	if err != nil {
		return nil, err
	}
	for _, r := range revs {
		t, err := r.Template()
		if err != nil {
			return nil, err
		}
		add(revision{number: r.Revision, cause: r.Annotations[deployment.ChangeCauseAnnotation], template: t})
	}
	return out, nil
}

// getWorkload reads a stateful set or daemon set.
func getWorkload(ctx context.Context, b client.Backend, ns string, w workload) (api.Object, error) {
	if w.kind == "StatefulSet" {
		return client.For[*api.StatefulSet](b, ns).Get(ctx, w.name)
	}
	return client.For[*api.DaemonSet](b, ns).Get(ctx, w.name)
}

func rolloutHistory(ctx context.Context, out io.Writer, b client.Backend, ns string, w workload, number int64) error {
	revs, err := historyOf(ctx, b, ns, w)
	if err != nil {
		return err
	}
	if number > 0 {
		for _, r := range revs {
			if r.number != number {
				continue
			}
			y, err := yaml.Marshal(r.template)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s with revision #%d\nPod Template:\n", w, number)
			for _, line := range strings.Split(strings.TrimRight(string(y), "\n"), "\n") {
				fmt.Fprintln(out, "  "+line)
			}
			return nil
		}
		return fmt.Errorf("unable to find revision %d of %s %q", number, w.noun(), w.name)
	}
	fmt.Fprintln(out, w)
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tCHANGE-CAUSE")
	for _, r := range revs {
		cause := r.cause
		if cause == "" {
			cause = "<none>"
		}
		fmt.Fprintf(tw, "%s\t%s\n", strconv.FormatInt(r.number, 10), cause)
	}
	if err := tw.Flush(); err != nil || len(revs) > 0 {
		return err
	}
	fmt.Fprintln(out, "No rollout history found.")
	return nil
}

func newRolloutUndoCommand(io streams) *cobra.Command {
	var f clientFlags
	var to int64
	cmd := &cobra.Command{
		Use:   "undo KIND/NAME",
		Short: "Roll back to the previous revision, or to --to-revision",
		Args:  cobra.RangeArgs(1, 2),
		RunE: onWorkload(&f, "undo", historyKinds, func(ctx context.Context, b client.Backend, w workload) error {
			if to < 0 {
				return fmt.Errorf("--to-revision %d: want a revision number, or 0 for the previous one", to)
			}
			return undoRollout(ctx, io.out, b, f.namespace, w, to)
		}),
	}
	f.add(cmd)
	cmd.Flags().Int64Var(&to, "to-revision", 0, "the revision to roll back to (0: the previous one)")
	return cmd
}

// rolloutUndo rolls deployment name back (undoRollout).
func rolloutUndo(ctx context.Context, out io.Writer, b client.Backend, ns, name string, to int64) error {
	return undoRollout(ctx, out, b, ns, workload{kind: "Deployment", name: name}, to)
}

// undoRollout sets w's template to that of a revision: a deployment's
// from its replica set, a stateful or daemon set's from its
// ControllerRevision. The update carries the resourceVersion read, so a
// change made meanwhile is a conflict, not overwritten.
func undoRollout(ctx context.Context, out io.Writer, b client.Backend, ns string, w workload, to int64) error {
	var rev int64
	var err error
	switch w.kind {
	case "StatefulSet":
		rev, err = undoFromRevisions(ctx, b, ns, w, to, func(s *api.StatefulSet) *api.PodTemplateSpec { return &s.Spec.Template })
	case "DaemonSet":
		rev, err = undoFromRevisions(ctx, b, ns, w, to, func(ds *api.DaemonSet) *api.PodTemplateSpec { return &ds.Spec.Template })
	default:
		rev, err = undoDeployment(ctx, b, ns, w, to)
	}
	if errors.Is(err, deployment.ErrSkipped) {
		fmt.Fprintf(out, "%s skipped rollback (current template already matches revision %d)\n", w, rev)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s rolled back\n", w)
	return nil
}

// undoDeployment rolls deployment w back to revision to (0: the
// previous one) and returns the revision.
func undoDeployment(ctx context.Context, b client.Backend, ns string, w workload, to int64) (int64, error) {
	d, owned, err := deploymentHistory(ctx, b, ns, w.name)
	if err != nil {
		return 0, err
	}
	next, rev, err := deployment.Rollback(d, owned, to)
	if err != nil {
		return rev, err
	}
	if _, err := client.For[*api.Deployment](b, ns).Update(ctx, next); err != nil {
		return rev, fmt.Errorf("roll back deployment %q to revision %d: %w", w.name, rev, err)
	}
	return rev, nil
}

// undoFromRevisions rolls the stateful or daemon set w back to the
// template of its ControllerRevision numbered to (0: the one before the
// newest), as kubectl does; deployment.ErrSkipped if it has that
// template already. template is where T keeps its pod template.
func undoFromRevisions[T api.Object](ctx context.Context, b client.Backend, ns string, w workload, to int64, template func(T) *api.PodTemplateSpec) (int64, error) {
	objs := client.For[T](b, ns)
	obj, err := objs.Get(ctx, w.name)
	if err != nil {
		return 0, err
	}
	revs, err := controllerRevisions(ctx, b, obj)
	if err != nil {
		return 0, err
	}
	var target *api.ControllerRevision
	switch {
	case to == 0 && len(revs) < 2:
		return 0, fmt.Errorf("%s %q has no previous revision to roll back to: %w", w.noun(), w.name, errdefs.ErrNotFound)
	case to == 0:
		target = revs[len(revs)-2]
	default:
		for _, r := range revs {
			if r.Revision == to {
				target = r
			}
		}
	}
	if target == nil {
		return 0, fmt.Errorf("unable to find revision %d of %s %q: %w", to, w.noun(), w.name, errdefs.ErrNotFound)
	}
	t, err := target.Template()
	if err != nil {
		return target.Revision, err
	}
	cur := template(obj)
	if defaultedJSON(t) == defaultedJSON(cur) {
		return target.Revision, deployment.ErrSkipped
	}
	*cur = *t // obj was read for this command alone
	if _, err := objs.Update(ctx, obj); err != nil {
		return target.Revision, fmt.Errorf("roll back %s %q to revision %d: %w", w.noun(), w.name, target.Revision, err)
	}
	return target.Revision, nil
}

// defaultedJSON is the JSON of t with the defaults the server gives a
// workload's template, so that a revision written without them (by
// hand, say) matches the stored template.
func defaultedJSON(t *api.PodTemplateSpec) string {
	holder := api.Clone(&api.DaemonSet{Spec: api.DaemonSetSpec{Template: *t}}) // Default changes it
	api.Default(holder)
	b, _ := json.Marshal(holder.Spec.Template) // a template always encodes
	return string(b)
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
		RunE: onWorkload(&f, verb, deploymentKinds, func(ctx context.Context, b client.Backend, w workload) error {
			return patchDeployment(ctx, io.out, b, f.namespace, w.name, verb, p, time.Now())
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
	fmt.Fprintf(out, "%s %s\n", workload{kind: "Deployment", name: name}, past)
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
