package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// scalable are the kinds with spec.replicas.
var scalable = map[string]bool{"Deployment": true, "ReplicaSet": true, "StatefulSet": true}

type scaleTarget struct {
	kind api.Kind
	name string
}

func newScaleCommand(io streams) *cobra.Command {
	var f clientFlags
	var replicas, current int32
	cmd := &cobra.Command{
		Use:   "scale (KIND/NAME... | KIND NAME...) --replicas N",
		Short: "Set the number of replicas of a deployment, replica set or stateful set",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("replicas") {
				return fmt.Errorf("scale needs --replicas N")
			}
			if replicas < 0 {
				return fmt.Errorf("--replicas %d: must be 0 or more", replicas)
			}
			targets, err := scaleTargets(args)
			if err != nil {
				return err
			}
			cur := int32(-1)
			if cmd.Flags().Changed("current-replicas") {
				cur = current
			}
			b, err := f.backend()
			if err != nil {
				return err
			}
			failed := false
			for _, t := range targets {
				if err := scaleOne(cmd.Context(), io.out, b, f.namespace, t, replicas, cur); err != nil {
					fmt.Fprintln(io.err, "error:", err)
					failed = true
				}
			}
			if failed {
				return exitError{1}
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().Int32Var(&replicas, "replicas", 0, "the number of replicas wanted")
	cmd.Flags().Int32Var(&current, "current-replicas", 0, "scale only if the object has this many replicas now")
	return cmd
}

// scaleTargets reads "deployment/web replicaset/x" or "deployment web x".
func scaleTargets(args []string) ([]scaleTarget, error) {
	var out []scaleTarget
	add := func(kind, name string) error {
		k, err := lookupKind(kind)
		if err != nil {
			return err
		}
		if !scalable[k.Kind] {
			return fmt.Errorf("%s cannot be scaled; scale deployments, replicasets or statefulsets", k.Resource)
		}
		if name == "" {
			return fmt.Errorf("%q: name the object, e.g. deployment/web", kind+"/")
		}
		out = append(out, scaleTarget{k, name})
		return nil
	}
	if strings.Contains(args[0], "/") {
		for _, a := range args {
			kind, name, ok := strings.Cut(a, "/")
			if !ok {
				return nil, fmt.Errorf("%q: write every object as KIND/NAME", a)
			}
			if err := add(kind, name); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if len(args) < 2 {
		return nil, fmt.Errorf("scale needs KIND/NAME or KIND NAME")
	}
	for _, n := range args[1:] {
		if err := add(args[0], n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scaleOne merge-patches spec.replicas; with current >= 0, only if the
// object has that many now (the patch is pinned to the version read).
func scaleOne(ctx context.Context, out io.Writer, b client.Backend, ns string, t scaleTarget, replicas, current int32) error {
	ns = namespaceFor(t.kind, ns)
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	if current >= 0 {
		obj, err := b.Get(ctx, t.kind.Resource, ns, t.name)
		if err != nil {
			return err
		}
		if have := specReplicas(obj); have != current {
			return fmt.Errorf("%s: has %d replicas, not %d (--current-replicas); not scaled", refName(t.kind, t.name), have, current)
		}
		patch = fmt.Appendf(nil, `{"metadata":{"resourceVersion":%q},"spec":{"replicas":%d}}`, obj.GetObjectMeta().ResourceVersion, replicas)
	}
	if _, err := b.Patch(ctx, t.kind.Resource, ns, t.name, patch, ""); err != nil {
		return fmt.Errorf("%s: %w", refName(t.kind, t.name), err)
	}
	fmt.Fprintf(out, "%s scaled\n", refName(t.kind, t.name))
	return nil
}

func specReplicas(obj api.Object) int32 {
	var p *int32
	switch o := obj.(type) {
	case *api.Deployment:
		p = o.Spec.Replicas
	case *api.ReplicaSet:
		p = o.Spec.Replicas
	case *api.StatefulSet:
		p = o.Spec.Replicas
	}
	if p == nil {
		return 1
	}
	return *p
}
