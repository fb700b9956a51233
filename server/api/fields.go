package api

import "strconv"

// SelectableFields returns the fields of obj that a field selector
// ("spec.nodeName=node1") can test, with their values as text. Every kind
// has metadata.name and metadata.namespace ("" for cluster-scoped kinds);
// a field missing from the map cannot be selected on.
func SelectableFields(obj Object) map[string]string {
	m := obj.GetObjectMeta()
	f := map[string]string{
		"metadata.name":      m.Name,
		"metadata.namespace": m.Namespace,
	}
	switch o := obj.(type) {
	case *Namespace:
		f["status.phase"] = string(o.Status.Phase)
	case *Node:
		f["spec.unschedulable"] = strconv.FormatBool(o.Spec.Unschedulable)
	case *Pod:
		f["spec.nodeName"] = o.Spec.NodeName
		f["spec.restartPolicy"] = string(o.Spec.RestartPolicy)
		f["spec.hostNetwork"] = strconv.FormatBool(o.Spec.HostNetwork)
		f["status.phase"] = string(o.Status.Phase)
		f["status.podIP"] = o.Status.PodIP
		f["status.nominatedNodeName"] = o.Status.NominatedNodeName
	case *Event:
		f["involvedObject.kind"] = o.InvolvedObject.Kind
		f["involvedObject.namespace"] = o.InvolvedObject.Namespace
		f["involvedObject.name"] = o.InvolvedObject.Name
		f["involvedObject.uid"] = o.InvolvedObject.UID
		f["involvedObject.apiVersion"] = o.InvolvedObject.APIVersion
		f["involvedObject.resourceVersion"] = o.InvolvedObject.ResourceVersion
		f["involvedObject.fieldPath"] = o.InvolvedObject.FieldPath
		f["reason"] = o.Reason
		f["reportingComponent"] = o.ReportingController
		f["source"] = o.Source.Component
		f["type"] = o.Type
	case *Secret:
		f["type"] = string(o.Type)
	case *Build:
		f["spec.app"] = o.Spec.App
		f["status.phase"] = string(o.Status.Phase)
	case *Release:
		f["spec.app"] = o.Spec.App
		f["status.phase"] = string(o.Status.Phase)
	}
	return f
}

// DefaultTerminationGracePeriodSeconds is a pod's grace period when its
// spec gives none.
const DefaultTerminationGracePeriodSeconds = 30

// DeletionGrace returns how many seconds a delete of obj waits before the
// object is removed: for a pod bound to a node and not finished, the
// requested grace period if any (DeleteOptions.GracePeriodSeconds; below 0
// counts as 0), else its terminationGracePeriodSeconds (default 30). For
// any other object, and a pod that is unscheduled or has finished, 0:
// delete at once.
func DeletionGrace(obj Object, requested *int64) int64 {
	pod, ok := obj.(*Pod)
	if !ok || pod.Spec.NodeName == "" {
		return 0
	}
	if pod.Status.Phase == PodSucceeded || pod.Status.Phase == PodFailed {
		return 0
	}
	if requested != nil {
		return max(*requested, 0)
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return max(*g, 0)
	}
	return DefaultTerminationGracePeriodSeconds
}
