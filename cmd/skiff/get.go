package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

type getOptions struct {
	output        string
	labels        string
	fields        string
	allNamespaces bool
	watch         bool
	chunkSize     int64
}

func newGetCommand(io streams) *cobra.Command {
	var f clientFlags
	var o getOptions
	cmd := &cobra.Command{
		Use:   "get KIND [NAME...]",
		Short: "List objects, or show some by name",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch o.output {
			case "", "wide", "json", "yaml", "name":
			default:
				return fmt.Errorf("-o %q: use wide, json, yaml or name", o.output)
			}
			var kinds []api.Kind
			for _, name := range strings.Split(args[0], ",") {
				k, err := lookupKind(name)
				if err != nil {
					return err
				}
				kinds = append(kinds, k)
			}
			b, err := f.backend()
			if err != nil {
				return err
			}
			nsOf := func(k api.Kind) string {
				if o.allNamespaces {
					return ""
				}
				return namespaceFor(k, f.namespace)
			}
			if len(kinds) > 1 {
				if len(args) > 1 || o.watch {
					return fmt.Errorf("names and --watch need a single kind, not %q", args[0])
				}
				return getKinds(cmd, io, b, kinds, nsOf, o)
			}
			return runGet(cmd, io, b, kinds[0], nsOf(kinds[0]), args[1:], o, f.namespace)
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&o.output, "output", "o", "", "wide, json, yaml or name")
	fl.StringVarP(&o.labels, "selector", "l", "", "label selector, e.g. app=web,tier!=db")
	fl.StringVar(&o.fields, "field-selector", "", "field selector, e.g. spec.nodeName=node1")
	fl.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list across all namespaces")
	fl.BoolVarP(&o.watch, "watch", "w", false, "after listing, print changes as they happen")
	fl.Int64Var(&o.chunkSize, "chunk-size", 500, "list in pages of this many objects")
	return cmd
}

func runGet(cmd *cobra.Command, io streams, b client.Backend, k api.Kind, ns string, names []string, o getOptions, flagNS string) error {
	ctx := cmd.Context()
	var objs []api.Object
	rv := ""
	if len(names) > 0 {
		for _, n := range names {
			obj, err := b.Get(ctx, k.Resource, namespaceFor(k, flagNS), n)
			if err != nil {
				return err
			}
			objs = append(objs, obj)
		}
	} else {
		list, err := client.ListAll(ctx, b, k.Resource, ns, api.ListOptions{LabelSelector: o.labels, FieldSelector: o.fields, Limit: o.chunkSize})
		if err != nil {
			return err
		}
		objs, rv = list.Items, list.ResourceVersion
	}
	t := table{kind: k, wide: o.output == "wide", allNamespaces: ns == "" && k.Namespaced, now: time.Now()}
	if err := printObjects(io.out, t, objs, o.output, len(names) == 1); err != nil {
		return err
	}
	if len(objs) == 0 && len(names) == 0 && !o.watch && (o.output == "" || o.output == "wide") {
		if ns != "" {
			fmt.Fprintf(io.err, "No resources found in %s namespace.\n", ns)
		} else {
			fmt.Fprintln(io.err, "No resources found.")
		}
	}
	if !o.watch {
		return nil
	}
	wopts := api.ListOptions{LabelSelector: o.labels, FieldSelector: o.fields, ResourceVersion: rv}
	if len(names) > 0 {
		if len(names) > 1 {
			return fmt.Errorf("--watch takes at most one name")
		}
		wopts.FieldSelector = "metadata.name=" + names[0]
		wopts.ResourceVersion = objs[0].GetObjectMeta().ResourceVersion
		ns = namespaceFor(k, flagNS)
	}
	w, err := b.Watch(ctx, k.Resource, ns, wopts)
	if err != nil {
		return err
	}
	defer w.Stop()
	for e := range w.ResultChan() {
		switch e.Type {
		case api.Bookmark:
			continue
		case api.Error:
			return e.Err
		}
		if o.output == "json" || o.output == "yaml" {
			if err := printEvent(io.out, e, o.output); err != nil {
				return err
			}
			continue
		}
		if o.output == "name" {
			fmt.Fprintln(io.out, refName(k, e.Object.GetObjectMeta().Name))
			continue
		}
		t.now = time.Now()
		t.print(io.out, []api.Object{e.Object}, false)
	}
	return ctx.Err()
}

// getKinds lists several kinds: a table each (names as kind/name, as
// kubectl prints them), or one List for json and yaml.
func getKinds(cmd *cobra.Command, io streams, b client.Backend, kinds []api.Kind, nsOf func(api.Kind) string, o getOptions) error {
	var all []api.Object
	printed := false
	for _, k := range kinds {
		list, err := client.ListAll(cmd.Context(), b, k.Resource, nsOf(k), api.ListOptions{LabelSelector: o.labels, FieldSelector: o.fields, Limit: o.chunkSize})
		if err != nil {
			return fmt.Errorf("%s: %w", k.Resource, err)
		}
		all = append(all, list.Items...)
		if o.output == "json" || o.output == "yaml" || len(list.Items) == 0 {
			continue
		}
		if printed && o.output != "name" {
			fmt.Fprintln(io.out)
		}
		printed = true
		t := table{kind: k, wide: o.output == "wide", allNamespaces: nsOf(k) == "" && k.Namespaced, now: time.Now(), qualifyNames: true}
		if err := printObjects(io.out, t, list.Items, o.output, false); err != nil {
			return err
		}
	}
	if o.output == "json" || o.output == "yaml" {
		return printObjects(io.out, table{}, all, o.output, false)
	}
	if !printed {
		fmt.Fprintln(io.err, "No resources found.")
	}
	return nil
}

// printObjects writes objs in the chosen output. single: a lone named
// object prints as itself in json/yaml, not as a List.
func printObjects(w io.Writer, t table, objs []api.Object, output string, single bool) error {
	switch output {
	case "json", "yaml":
		var v any = api.List[api.Object]{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "List"}, Items: objs}
		if single && len(objs) == 1 {
			v = objs[0]
		}
		return writeEncoded(w, v, output)
	case "name":
		for _, o := range objs {
			fmt.Fprintln(w, refName(t.kind, o.GetObjectMeta().Name))
		}
		return nil
	}
	if len(objs) == 0 {
		return nil
	}
	t.print(w, objs, true)
	return nil
}

func printEvent(w io.Writer, e api.WatchEvent, output string) error {
	return writeEncoded(w, map[string]any{"type": e.Type, "object": e.Object}, output)
}

func writeEncoded(w io.Writer, v any, output string) error {
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if output == "json" {
		_, err = fmt.Fprintln(w, string(js))
		return err
	}
	y, err := yaml.JSONToYAML(js)
	if err != nil {
		return err
	}
	if _, err := w.Write(y); err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, "---")
	return err
}
