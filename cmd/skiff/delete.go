package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

func newDeleteCommand(io streams) *cobra.Command {
	var f clientFlags
	var files []string
	var recursive, ignoreNotFound bool
	var grace int64
	var cascade string
	cmd := &cobra.Command{
		Use:   "delete (KIND NAME... | -f FILE|DIR|-)",
		Short: "Delete objects by name or by the manifests that made them",
		RunE: func(cmd *cobra.Command, args []string) error {
			type target struct {
				kind     api.Kind
				ns, name string
			}
			var targets []target
			switch {
			case len(files) > 0 && len(args) > 0:
				return fmt.Errorf("delete takes either KIND NAME... or -f, not both")
			case len(files) > 0:
				docs, err := readManifests(files, recursive, io.in)
				if err != nil {
					return err // even one unreadable document: delete nothing
				}
				// Delete in the reverse of apply order: what lives in a
				// namespace before the namespace.
				sortForApply(docs)
				slices.Reverse(docs)
				for _, d := range docs {
					k, _ := api.KindOf(d.obj)
					ns := d.obj.GetObjectMeta().Namespace
					if ns == "" {
						ns = f.namespace
					}
					targets = append(targets, target{k, namespaceFor(k, ns), d.obj.GetObjectMeta().Name})
				}
			case len(args) >= 2:
				k, err := lookupKind(args[0])
				if err != nil {
					return err
				}
				for _, n := range args[1:] {
					targets = append(targets, target{k, namespaceFor(k, f.namespace), n})
				}
			default:
				return fmt.Errorf("delete needs KIND NAME... or -f FILE")
			}
			policy, ok := cascadePolicies[cascade]
			if !ok {
				return fmt.Errorf("--cascade %q: want background, foreground or orphan", cascade)
			}
			b, err := f.backend()
			if err != nil {
				return err
			}
			opts := api.DeleteOptions{PropagationPolicy: policy}
			if cmd.Flags().Changed("grace-period") {
				opts.GracePeriodSeconds = &grace
			}
			failed := 0
			for _, t := range targets {
				what := fmt.Sprintf("%s %q", strings.ToLower(t.kind.Kind), t.name)
				obj, err := b.Delete(cmd.Context(), t.kind.Resource, t.ns, t.name, opts)
				switch {
				case errdefs.IsNotFound(err) && ignoreNotFound:
				case err != nil:
					fmt.Fprintf(io.err, "error: %s: %v\n", what, err)
					failed++
				case obj.GetObjectMeta().DeletionTimestamp != nil:
					fmt.Fprintf(io.out, "%s deletion started\n", what)
				default:
					fmt.Fprintf(io.out, "%s deleted\n", what)
				}
			}
			if failed > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file, directory, or - for stdin (repeatable)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "read directories recursively")
	cmd.Flags().BoolVar(&ignoreNotFound, "ignore-not-found", false, "treat a missing object as deleted")
	cmd.Flags().Int64Var(&grace, "grace-period", 0, "seconds a pod gets to stop; 0 deletes at once")
	cmd.Flags().StringVar(&cascade, "cascade", "background",
		"what happens to what the object owns: background (deleted after it), foreground (deleted before it) or orphan (left)")
	return cmd
}

// cascadePolicies maps --cascade to the API's propagation policies.
var cascadePolicies = map[string]string{"background": "Background", "foreground": "Foreground", "orphan": "Orphan"}
