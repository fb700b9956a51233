package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/server/api"
)

func newDescribeCommand(io streams) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "describe KIND NAME",
		Short: "Show an object in detail, with its events",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := lookupKind(args[0])
			if err != nil {
				return err
			}
			b, err := f.backend()
			if err != nil {
				return err
			}
			ns := namespaceFor(k, f.namespace)
			obj, err := b.Get(cmd.Context(), k.Resource, ns, args[1])
			if err != nil {
				return err
			}
			evNS := ns
			if evNS == "" {
				evNS = "default"
			}
			evs, err := b.List(cmd.Context(), "events", evNS, api.ListOptions{
				FieldSelector: "involvedObject.kind=" + k.Kind + ",involvedObject.name=" + args[1],
			})
			var events []api.Object
			if err == nil {
				events = evs.Items
			}
			describe(io.out, obj, events, time.Now())
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

// describe renders obj for a person: metadata first, then the spec and
// status as indented key: value lines, then the events.
func describe(out io.Writer, obj api.Object, events []api.Object, now time.Time) {
	w := tabwriter.NewWriter(out, 0, 8, 1, ' ', 0)
	defer w.Flush()
	m := obj.GetObjectMeta()
	line := func(indent int, key, val string) {
		fmt.Fprintf(w, "%s%s\t%s\n", strings.Repeat("  ", indent), key+":", val)
	}
	line(0, "Name", m.Name)
	if m.Namespace != "" {
		line(0, "Namespace", m.Namespace)
	}
	line(0, "Kind", obj.GetTypeMeta().Kind)
	line(0, "Created", fmt.Sprintf("%s (%s ago)", m.CreationTimestamp.Format(time.RFC3339), humanAge(m.CreationTimestamp, now)))
	if m.DeletionTimestamp != nil {
		line(0, "Deleting", "since "+m.DeletionTimestamp.Format(time.RFC3339))
	}
	line(0, "Labels", orNone(labelString(m.Labels)))
	ann := map[string]string{}
	for k, v := range m.Annotations {
		if k != lastAppliedAnnotation {
			ann[k] = v
		}
	}
	line(0, "Annotations", orNone(labelString(ann)))
	if len(m.OwnerReferences) > 0 {
		var owners []string
		for _, o := range m.OwnerReferences {
			owners = append(owners, strings.ToLower(o.Kind)+"/"+o.Name)
		}
		line(0, "Controlled By", strings.Join(owners, ", "))
	}
	if len(m.Finalizers) > 0 {
		line(0, "Finalizers", strings.Join(m.Finalizers, ", "))
	}
	if p, ok := obj.(*api.Pod); ok {
		describePod(w, p)
	} else {
		var generic map[string]any
		b, _ := json.Marshal(obj)
		json.Unmarshal(b, &generic)
		for _, key := range []string{"spec", "data", "stringData", "type", "subsets", "status"} {
			if v, ok := generic[key]; ok {
				if key == "data" {
					if _, isSecret := obj.(*api.Secret); isSecret {
						v = redact(v)
					}
				}
				fmt.Fprintf(w, "%s:\n", strings.ToUpper(key[:1])+key[1:])
				render(w, v, 1)
			}
		}
	}
	fmt.Fprintln(w, "Events:")
	if len(events) == 0 {
		fmt.Fprintln(w, "  <none>")
		return
	}
	t := table{kind: api.Kind{Kind: "Event"}, now: now}
	sort.Slice(events, func(i, j int) bool {
		return events[i].(*api.Event).LastTimestamp.Before(events[j].(*api.Event).LastTimestamp.Time)
	})
	var buf strings.Builder
	t.print(&buf, events, true)
	for _, l := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		fmt.Fprintln(w, "  "+l)
	}
}

func describePod(w io.Writer, p *api.Pod) {
	fmt.Fprintf(w, "Node:\t%s\n", orNone(p.Spec.NodeName))
	fmt.Fprintf(w, "Status:\t%s\n", podStatus(p))
	fmt.Fprintf(w, "IP:\t%s\n", orNone(p.Status.PodIP))
	statuses := map[string]api.ContainerStatus{}
	for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		statuses[s.Name] = s
	}
	for _, group := range []struct {
		title string
		cs    []api.Container
	}{{"Init Containers", p.Spec.InitContainers}, {"Containers", p.Spec.Containers}} {
		if len(group.cs) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s:\n", group.title)
		for _, c := range group.cs {
			fmt.Fprintf(w, "  %s:\n", c.Name)
			fmt.Fprintf(w, "    Image:\t%s\n", c.Image)
			if len(c.Command) > 0 {
				fmt.Fprintf(w, "    Command:\t%s\n", strings.Join(c.Command, " "))
			}
			if len(c.Args) > 0 {
				fmt.Fprintf(w, "    Args:\t%s\n", strings.Join(c.Args, " "))
			}
			var ports []string
			for _, pt := range c.Ports {
				ports = append(ports, fmt.Sprintf("%d/%s", pt.ContainerPort, pt.Protocol))
			}
			fmt.Fprintf(w, "    Ports:\t%s\n", orNone(strings.Join(ports, ", ")))
			st, ok := statuses[c.Name]
			state := "Waiting"
			switch {
			case !ok:
			case st.State.Running != nil:
				state = "Running since " + st.State.Running.StartedAt.Format(time.RFC3339)
			case st.State.Terminated != nil:
				state = fmt.Sprintf("Terminated (%s, exit code %d)", st.State.Terminated.Reason, st.State.Terminated.ExitCode)
			case st.State.Waiting != nil && st.State.Waiting.Reason != "":
				state = "Waiting (" + st.State.Waiting.Reason + ")"
			}
			fmt.Fprintf(w, "    State:\t%s\n", state)
			fmt.Fprintf(w, "    Ready:\t%v\n", st.Ready)
			fmt.Fprintf(w, "    Restarts:\t%d\n", st.RestartCount)
		}
	}
	if len(p.Status.Conditions) > 0 {
		fmt.Fprintln(w, "Conditions:")
		for _, c := range p.Status.Conditions {
			fmt.Fprintf(w, "  %s\t%s\n", c.Type, c.Status)
		}
	}
}

func redact(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for k, val := range m {
		s, _ := val.(string)
		out[k] = fmt.Sprintf("<%d bytes, base64>", len(s))
	}
	return out
}

// render writes a JSON value as indented YAML-like lines.
func render(w io.Writer, v any, indent int) {
	pad := strings.Repeat("  ", indent)
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch x[k].(type) {
			case map[string]any, []any:
				fmt.Fprintf(w, "%s%s:\n", pad, k)
				render(w, x[k], indent+1)
			default:
				fmt.Fprintf(w, "%s%s:\t%v\n", pad, k, scalar(x[k]))
			}
		}
	case []any:
		for _, e := range x {
			switch e.(type) {
			case map[string]any, []any:
				fmt.Fprintf(w, "%s-\n", pad)
				render(w, e, indent+1)
			default:
				fmt.Fprintf(w, "%s- %v\n", pad, scalar(e))
			}
		}
	default:
		fmt.Fprintf(w, "%s%v\n", pad, scalar(v))
	}
}

func scalar(v any) string {
	if v == nil {
		return "<none>"
	}
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		return fmt.Sprint(int64(f))
	}
	return fmt.Sprint(v)
}
