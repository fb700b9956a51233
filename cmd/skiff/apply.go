package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// lastAppliedAnnotation holds the manifest as last applied, so that a
// later apply can tell a field the user removed from one the server set.
const lastAppliedAnnotation = "skiff.dev/last-applied-configuration"

func newApplyCommand(io streams) *cobra.Command {
	var f clientFlags
	var files []string
	var recursive, dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update objects from manifests",
		Long: `Create or update the objects in YAML or JSON manifests (several documents per
file, separated by ---). Every document is checked before anything is sent;
if one is wrong, nothing is applied.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return fmt.Errorf("apply needs -f FILE, DIR or - (stdin)")
			}
			docs, err := readManifests(files, recursive, io.in)
			var problems manifestError
			if !errors.As(err, &problems) && err != nil {
				return err
			}
			if cerr := checkDocuments(docs, f.namespace); cerr != nil {
				problems = append(problems, cerr.(manifestError)...)
			}
			if len(problems) > 0 {
				return problems
			}
			b, err := f.backend()
			if err != nil {
				return err
			}
			sortForApply(docs)
			failed := 0
			for _, d := range docs {
				msg, err := applyOne(cmd.Context(), b, d, dryRun)
				if err != nil {
					fmt.Fprintln(io.err, "error:", describeError(d.String(), err))
					failed++
					var answered *client.StatusError
					if !errors.As(err, &answered) {
						return exitError{1} // the server is unreachable: the rest would fail alike
					}
					continue
				}
				fmt.Fprintln(io.out, msg)
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
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check and show what would happen, change nothing")
	return cmd
}

// checkDocuments sets each object's namespace and validates it locally,
// collecting every problem, so that nothing is applied if anything is wrong.
func checkDocuments(docs []document, namespace string) error {
	var problems manifestError
	for _, d := range docs {
		k, _ := api.KindOf(d.obj)
		m := d.obj.GetObjectMeta()
		if k.Namespaced && m.Namespace == "" {
			m.Namespace = namespace
		}
		check := api.Clone(d.obj)
		api.Default(check)
		if errs := api.Validate(check); len(errs) > 0 {
			problems = append(problems, describeError(d.String(), errs).Error())
		}
	}
	if len(problems) > 0 {
		return problems
	}
	return nil
}

// applyOrder puts what others depend on first, as kubectl does.
func applyOrder(kind string) int {
	switch kind {
	case "Namespace":
		return 0
	case "ConfigMap", "Secret":
		return 1
	case "Service":
		return 2
	}
	return 3
}

func sortForApply(docs []document) {
	sort.SliceStable(docs, func(i, j int) bool {
		return applyOrder(docs[i].obj.GetTypeMeta().Kind) < applyOrder(docs[j].obj.GetTypeMeta().Kind)
	})
}

// manifestJSON is the object as the user wrote it, without the annotation.
func manifestJSON(obj api.Object) ([]byte, error) {
	c := api.Clone(obj)
	delete(c.GetObjectMeta().Annotations, lastAppliedAnnotation)
	if len(c.GetObjectMeta().Annotations) == 0 {
		c.GetObjectMeta().Annotations = nil
	}
	return json.Marshal(c)
}

// applyOne creates the object or patches it towards the manifest.
func applyOne(ctx context.Context, b client.Backend, d document, dryRun bool) (string, error) {
	k, _ := api.KindOf(d.obj)
	m := d.obj.GetObjectMeta()
	ns := namespaceFor(k, m.Namespace)
	ref := refName(k, m.Name)
	suffix := ""
	if dryRun {
		suffix = " (dry run)"
	}
	modified, err := manifestJSON(d.obj)
	if err != nil {
		return "", err
	}
	live, err := b.Get(ctx, k.Resource, ns, m.Name)
	if errdefs.IsNotFound(err) {
		if dryRun {
			return ref + " created" + suffix, nil
		}
		obj := api.Clone(d.obj)
		om := obj.GetObjectMeta()
		if om.Annotations == nil {
			om.Annotations = map[string]string{}
		}
		om.Annotations[lastAppliedAnnotation] = string(modified)
		if _, err := b.Create(ctx, k.Resource, ns, obj); err != nil {
			return "", err
		}
		return ref + " created", nil
	}
	if err != nil {
		return "", err
	}
	lastApplied := live.GetObjectMeta().Annotations[lastAppliedAnnotation]
	liveJSON, err := manifestJSON(live)
	if err != nil {
		return "", err
	}
	// Compare the live object with the manifest as the server would store
	// it: defaults filled in, so a default the server added (a protocol, a
	// pull policy inside a list) is not mistaken for a change.
	defaulted := api.Clone(d.obj)
	api.Default(defaulted)
	defaultedJSON, err := manifestJSON(defaulted)
	if err != nil {
		return "", err
	}
	patch, err := api.CreateThreeWayMergePatch([]byte(lastApplied), defaultedJSON, liveJSON)
	if err != nil {
		return "", err
	}
	var p map[string]any
	json.Unmarshal(patch, &p)
	if len(p) == 0 && lastApplied == string(modified) {
		return ref + " unchanged", nil
	}
	changes := changedPaths(p, liveJSON)
	// Record the manifest as applied, in the same patch.
	meta, _ := p["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		p["metadata"] = meta
	}
	ann, _ := meta["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		meta["annotations"] = ann
	}
	ann[lastAppliedAnnotation] = string(modified)
	if !dryRun {
		full, _ := json.Marshal(p)
		if _, err := b.Patch(ctx, k.Resource, ns, m.Name, full, ""); err != nil {
			return "", err
		}
	}
	msg := ref + " configured" + suffix
	for _, c := range changes {
		msg += "\n  " + c
	}
	return msg, nil
}

// changedPaths lists the fields a patch changes, "path: old → new", the
// first few in order.
func changedPaths(patch map[string]any, liveJSON []byte) []string {
	var live map[string]any
	json.Unmarshal(liveJSON, &live)
	var out []string
	var walk func(p map[string]any, l map[string]any, prefix string)
	walk = func(p map[string]any, l map[string]any, prefix string) {
		keys := make([]string, 0, len(p))
		for k := range p {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			path := k
			if prefix != "" {
				path = prefix + "." + k
			}
			pv, lv := p[k], l[k]
			pm, pIsMap := pv.(map[string]any)
			lm, lIsMap := lv.(map[string]any)
			switch {
			case pIsMap && lIsMap:
				walk(pm, lm, path)
			case pv == nil:
				out = append(out, fmt.Sprintf("%s: %s → (removed)", path, short(lv)))
			case lv == nil:
				out = append(out, fmt.Sprintf("%s: (added) %s", path, short(pv)))
			case !reflect.DeepEqual(pv, lv):
				out = append(out, fmt.Sprintf("%s: %s → %s", path, short(lv), short(pv)))
			}
		}
	}
	walk(patch, live, "")
	const max = 8
	if len(out) > max {
		out = append(out[:max], fmt.Sprintf("… and %d more", len(out)-max))
	}
	return out
}

func short(v any) string {
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return strings.ReplaceAll(s, "\n", " ")
}
