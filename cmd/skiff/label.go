package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/server/api"
)

func newLabelCommand(io streams) *cobra.Command {
	var f clientFlags
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "label KIND NAME KEY=VALUE... [KEY-]...",
		Short: "Set or remove labels of an object (e.g. skiff label node pi-2 skiff.dev/builder=true)",
		Long: `Set (KEY=VALUE) or remove (KEY-) labels of one object. A label that
already has another value is changed only with --overwrite.`,
		Example: `  skiff label node pi-2 skiff.dev/builder=true
  skiff label node pi-2 skiff.dev/builder-`,
		Args: cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := lookupKind(args[0])
			if err != nil {
				return err
			}
			set, remove, err := parseLabelArgs(args[2:])
			if err != nil {
				return err
			}
			b, err := f.backend()
			if err != nil {
				return err
			}
			ctx, ns, name := cmd.Context(), namespaceFor(k, f.namespace), args[1]
			obj, err := b.Get(ctx, k.Resource, ns, name)
			if err != nil {
				return err
			}
			meta := obj.GetObjectMeta()
			if !overwrite {
				for _, key := range slices.Sorted(maps.Keys(set)) {
					if old, ok := meta.Labels[key]; ok && old != set[key] {
						return fmt.Errorf("%s already has label %s=%s; give --overwrite to change it", refName(k, name), key, old)
					}
				}
			}
			labels := map[string]*string{}
			for key, v := range set {
				labels[key] = &v
			}
			for _, key := range remove {
				labels[key] = nil // JSON null: merge patch removes it
			}
			// Pinned to the version read: a change in between is a
			// conflict, not overwritten unseen.
			patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": meta.ResourceVersion, "labels": labels}})
			if err != nil {
				return err
			}
			if _, err := b.Patch(ctx, k.Resource, ns, name, patch, ""); err != nil {
				return fmt.Errorf("%s: %w", refName(k, name), err)
			}
			fmt.Fprintf(io.out, "%s labeled\n", refName(k, name))
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "change labels that already have another value")
	return cmd
}

// parseLabelArgs reads KEY=VALUE (set) and KEY- (remove), checking each
// key and value as the server would.
func parseLabelArgs(args []string) (set map[string]string, remove []string, err error) {
	set = map[string]string{}
	for _, a := range args {
		if key, ok := strings.CutSuffix(a, "-"); ok && !strings.Contains(a, "=") {
			if errs := api.ValidateLabels(map[string]string{key: ""}, "labels"); len(errs) > 0 {
				return nil, nil, fmt.Errorf("%q: %s", a, errs[0].Detail)
			}
			remove = append(remove, key)
			continue
		}
		key, value, ok := strings.Cut(a, "=")
		if !ok {
			return nil, nil, fmt.Errorf("%q: write KEY=VALUE to set a label or KEY- to remove one", a)
		}
		if errs := api.ValidateLabels(map[string]string{key: value}, "labels"); len(errs) > 0 {
			return nil, nil, fmt.Errorf("%q: %s", a, errs[0].Detail)
		}
		if _, dup := set[key]; dup || slices.Contains(remove, key) {
			return nil, nil, fmt.Errorf("label %s is named twice", key)
		}
		set[key] = value
	}
	for _, key := range remove {
		if _, dup := set[key]; dup {
			return nil, nil, fmt.Errorf("label %s is named twice", key)
		}
	}
	return set, remove, nil
}
