package main

import (
	"cmp"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// table renders objects of one kind as kubectl-style columns.
type table struct {
	kind          api.Kind
	wide          bool
	allNamespaces bool
	now           time.Time
	// qualifyNames prints names as kind/name, when kinds are mixed.
	qualifyNames bool
}

func (t table) header() []string {
	cols := columns(t.kind.Kind, t.wide)
	if t.allNamespaces && t.kind.Namespaced {
		cols = append([]string{"NAMESPACE"}, cols...)
	}
	return cols
}

func (t table) row(obj api.Object) []string {
	r := cells(obj, t.wide, t.now)
	if t.qualifyNames {
		for i, c := range columns(t.kind.Kind, t.wide) {
			if c == "NAME" {
				r[i] = refName(t.kind, r[i])
			}
		}
	}
	if t.allNamespaces && t.kind.Namespaced {
		r = append([]string{obj.GetObjectMeta().Namespace}, r...)
	}
	return r
}

// print writes the header (if header) and one row per object.
func (t table) print(w io.Writer, objs []api.Object, header bool) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	if header {
		fmt.Fprintln(tw, strings.Join(t.header(), "\t"))
	}
	for _, o := range objs {
		fmt.Fprintln(tw, strings.Join(t.row(o), "\t"))
	}
	tw.Flush()
}

func columns(kind string, wide bool) []string {
	switch kind {
	case "Pod":
		if wide {
			return []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"}
		}
		return []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}
	case "Deployment":
		return []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}
	case "ReplicaSet", "DaemonSet":
		return []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"}
	case "StatefulSet":
		return []string{"NAME", "READY", "AGE"}
	case "ControllerRevision":
		return []string{"NAME", "CONTROLLER", "REVISION", "AGE"}
	case "Job":
		return []string{"NAME", "COMPLETIONS", "AGE"}
	case "CronJob":
		return []string{"NAME", "SCHEDULE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"}
	case "Service":
		if wide {
			return []string{"NAME", "TYPE", "CLUSTER-IP", "PORT(S)", "AGE", "SELECTOR"}
		}
		return []string{"NAME", "TYPE", "CLUSTER-IP", "PORT(S)", "AGE"}
	case "Endpoints":
		return []string{"NAME", "ENDPOINTS", "AGE"}
	case "Node":
		return []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION"}
	case "Namespace":
		return []string{"NAME", "STATUS", "AGE"}
	case "ConfigMap":
		return []string{"NAME", "DATA", "AGE"}
	case "Secret":
		return []string{"NAME", "TYPE", "DATA", "AGE"}
	case "Event":
		return []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}
	case "PriorityClass":
		return []string{"NAME", "VALUE", "GLOBAL-DEFAULT", "PREEMPTION", "AGE"}
	case "PersistentVolumeClaim":
		return []string{"NAME", "STATUS", "NODE", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "AGE"}
	case "User":
		return []string{"NAME", "DISPLAY", "EMAIL", "GROUPS", "DISABLED", "AGE"}
	case "Role":
		return []string{"NAME", "RULES", "AGE"}
	case "RoleBinding":
		return []string{"NAME", "ROLE", "SUBJECTS", "NAMESPACES", "AGE"}
	case "App", "Build", "Release":
		return paasColumns(kind, wide)
	}
	return []string{"NAME", "AGE"}
}

func cells(obj api.Object, wide bool, now time.Time) []string {
	m := obj.GetObjectMeta()
	age := humanAge(m.CreationTimestamp, now)
	switch o := obj.(type) {
	case *api.Pod:
		ready, restarts := 0, int32(0)
		for _, c := range o.Status.ContainerStatuses {
			if c.Ready {
				ready++
			}
			restarts += c.RestartCount
		}
		r := []string{m.Name, fmt.Sprintf("%d/%d", ready, len(o.Spec.Containers)), podStatus(o), fmt.Sprint(restarts), age}
		if wide {
			r = append(r, orNone(o.Status.PodIP), orNone(o.Spec.NodeName))
		}
		return r
	case *api.Deployment:
		return []string{m.Name, fmt.Sprintf("%d/%d", o.Status.ReadyReplicas, deref(o.Spec.Replicas)),
			fmt.Sprint(o.Status.UpdatedReplicas), fmt.Sprint(o.Status.AvailableReplicas), age}
	case *api.ReplicaSet:
		return []string{m.Name, fmt.Sprint(deref(o.Spec.Replicas)), fmt.Sprint(o.Status.Replicas), fmt.Sprint(o.Status.ReadyReplicas), age}
	case *api.DaemonSet:
		return []string{m.Name, fmt.Sprint(o.Status.DesiredNumberScheduled), fmt.Sprint(o.Status.CurrentNumberScheduled), fmt.Sprint(o.Status.NumberReady), age}
	case *api.StatefulSet:
		return []string{m.Name, fmt.Sprintf("%d/%d", o.Status.ReadyReplicas, deref(o.Spec.Replicas)), age}
	case *api.ControllerRevision:
		return []string{m.Name, controllerName(m), fmt.Sprint(o.Revision), age}
	case *api.Job:
		return []string{m.Name, fmt.Sprintf("%d/%d", o.Status.Succeeded, deref(o.Spec.Completions)), age}
	case *api.CronJob:
		last := "<none>"
		if o.Status.LastScheduleTime != nil {
			last = humanAge(*o.Status.LastScheduleTime, now)
		}
		suspend := o.Spec.Suspend != nil && *o.Spec.Suspend
		return []string{m.Name, o.Spec.Schedule, fmt.Sprint(suspend), fmt.Sprint(len(o.Status.Active)), last, age}
	case *api.Service:
		var ports []string
		for _, p := range o.Spec.Ports {
			s := fmt.Sprintf("%d", p.Port)
			if p.NodePort != 0 {
				s += fmt.Sprintf(":%d", p.NodePort)
			}
			ports = append(ports, s+"/"+string(p.Protocol))
		}
		r := []string{m.Name, string(o.Spec.Type), orNone(o.Spec.ClusterIP), orNone(strings.Join(ports, ",")), age}
		if wide {
			r = append(r, orNone(labelString(o.Spec.Selector)))
		}
		return r
	case *api.Endpoints:
		var eps []string
		for _, s := range o.Subsets {
			for _, a := range s.Addresses {
				for _, p := range s.Ports {
					eps = append(eps, fmt.Sprintf("%s:%d", a.IP, p.Port))
				}
			}
		}
		return []string{m.Name, orNone(strings.Join(eps, ",")), age}
	case *api.Node:
		status := "Unknown"
		for _, c := range o.Status.Conditions {
			if c.Type == "Ready" {
				status = map[bool]string{true: "Ready", false: "NotReady"}[c.Status == "True"]
			}
		}
		if o.Spec.Unschedulable {
			status += ",SchedulingDisabled"
		}
		var roles []string
		for l := range m.Labels {
			if r, ok := strings.CutPrefix(l, "node-role.kubernetes.io/"); ok {
				roles = append(roles, r)
			}
		}
		sort.Strings(roles)
		return []string{m.Name, status, orNone(strings.Join(roles, ",")), age, orNone(o.Status.NodeInfo.KubeletVersion)}
	case *api.Namespace:
		phase := string(o.Status.Phase)
		if m.DeletionTimestamp != nil {
			phase = "Terminating"
		}
		return []string{m.Name, orNone(phase), age}
	case *api.ConfigMap:
		return []string{m.Name, fmt.Sprint(len(o.Data) + len(o.BinaryData)), age}
	case *api.Secret:
		return []string{m.Name, string(o.Type), fmt.Sprint(len(o.Data)), age}
	case *api.Event:
		seen := o.LastTimestamp
		if seen.IsZero() {
			seen = m.CreationTimestamp
		}
		ref := strings.ToLower(o.InvolvedObject.Kind) + "/" + o.InvolvedObject.Name
		return []string{humanAge(seen, now), o.Type, o.Reason, ref, o.Message}
	case *api.PersistentVolumeClaim:
		modes := map[api.PersistentVolumeAccessMode]string{api.ReadWriteOnce: "RWO", api.ReadWriteOncePod: "RWOP", api.ReadOnlyMany: "ROX", api.ReadWriteMany: "RWX"}
		var ms []string
		for _, m := range o.Spec.AccessModes {
			ms = append(ms, cmp.Or(modes[m], string(m)))
		}
		size := ""
		if q, ok := o.Spec.Resources.Requests[api.ResourceStorage]; ok {
			size = q.String()
		}
		class := ""
		if o.Spec.StorageClassName != nil {
			class = *o.Spec.StorageClassName
		}
		return []string{m.Name, string(o.Status.Phase), orNone(m.Annotations[api.AnnotationSelectedNode]), orNone(size), strings.Join(ms, ","), orNone(class), age}
	case *api.PriorityClass:
		policy := string(api.PreemptLowerPriority)
		if o.PreemptionPolicy != nil {
			policy = string(*o.PreemptionPolicy)
		}
		return []string{m.Name, fmt.Sprint(o.Value), fmt.Sprint(o.GlobalDefault), policy, age}
	case *api.User:
		return []string{m.Name, orNone(o.Spec.DisplayName), orNone(o.Spec.Email), orNone(strings.Join(o.Spec.Groups, ",")), fmt.Sprint(o.Spec.Disabled), age}
	case *api.Role:
		return []string{m.Name, fmt.Sprint(len(o.Rules)), age}
	case *api.RoleBinding:
		subjects := make([]string, len(o.Subjects))
		for i, s := range o.Subjects {
			subjects[i] = strings.ToLower(s.Kind) + "/" + s.Name
		}
		namespaces := "<all>" // no namespaces: the role applies everywhere
		if len(o.Namespaces) > 0 {
			namespaces = strings.Join(o.Namespaces, ",")
		}
		return []string{m.Name, o.Role, orNone(strings.Join(subjects, ",")), namespaces, age}
	case *api.App, *api.Build, *api.Release:
		return paasCells(o, wide, now)
	}
	return []string{m.Name, age}
}

// controllerName is how kubectl names an object's controller:
// "statefulset.apps/web", or <none>.
func controllerName(m *api.ObjectMeta) string {
	ref := api.ControllerOf(m)
	if ref == nil {
		return "<none>"
	}
	kind := strings.ToLower(ref.Kind)
	if group, _, ok := strings.Cut(ref.APIVersion, "/"); ok {
		kind += "." + group
	}
	return kind + "/" + ref.Name
}

// podStatus is what kubectl shows in STATUS: a waiting or terminated
// reason, Terminating, or the phase.
func podStatus(p *api.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason
		}
		if t := c.State.Terminated; t != nil && t.Reason != "" {
			return t.Reason
		}
	}
	if p.Status.Reason != "" {
		return p.Status.Reason
	}
	if p.Status.Phase == "" {
		return "Pending"
	}
	return string(p.Status.Phase)
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// humanAge renders how long ago t was: 5s, 3m, 2h, 4d, 1y.
func humanAge(t api.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	d := now.Sub(t.Time)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d < 2*365*24*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return fmt.Sprintf("%dy", int(d.Hours()/24/365))
}
