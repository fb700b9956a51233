package api

import (
	"maps"
	"testing"
)

func TestSelectableFields(t *testing.T) {
	pod := testPod(t)
	pod.Spec.NodeName = "pi-1"
	pod.Status.Phase, pod.Status.PodIP = PodRunning, "10.42.1.5"
	node := testNode(t)
	node.Spec.Unschedulable = true
	ev := testEvent()
	ev.InvolvedObject.UID = "uid-9"
	sec := testSecret()

	tests := []struct {
		name string
		obj  Object
		want map[string]string // a subset of the answer
	}{
		{"pod", pod, map[string]string{
			"metadata.name": "web-0", "metadata.namespace": "default",
			"spec.nodeName": "pi-1", "spec.restartPolicy": "Always",
			"status.phase": "Running", "status.podIP": "10.42.1.5",
		}},
		{"node", node, map[string]string{"metadata.name": "pi-1", "metadata.namespace": "", "spec.unschedulable": "true"}},
		{"event", ev, map[string]string{
			"involvedObject.kind": "Pod", "involvedObject.namespace": "default", "involvedObject.name": "web-0",
			"involvedObject.uid": "uid-9", "reason": "Scheduled", "type": "Normal", "source": "scheduler",
		}},
		{"secret", sec, map[string]string{"metadata.name": "tls", "type": "kubernetes.io/tls"}},
		{"configmap", testConfigMap(), map[string]string{"metadata.name": "web", "metadata.namespace": "default"}},
	}
	for _, tt := range tests {
		got := SelectableFields(tt.obj)
		for k, want := range tt.want {
			v, ok := got[k]
			if !ok || v != want {
				t.Errorf("%s: SelectableFields[%q] = %q (present %v), want %q", tt.name, k, v, ok, want)
			}
		}
	}
	if got := SelectableFields(testConfigMap()); len(got) != 2 {
		t.Errorf("configmap: SelectableFields = %v, want only metadata.name and metadata.namespace", got)
	}
	for _, obj := range validObjects(t) {
		f := SelectableFields(obj)
		if _, ok := f["metadata.name"]; !ok {
			t.Errorf("%T: SelectableFields has no metadata.name: %v", obj, f)
		}
		if _, ok := f["metadata.namespace"]; !ok {
			t.Errorf("%T: SelectableFields has no metadata.namespace: %v", obj, f)
		}
	}
	// The answer is the caller's to keep.
	a := SelectableFields(pod)
	a["spec.nodeName"] = "changed"
	if b := SelectableFields(pod); maps.Equal(a, b) {
		t.Errorf("SelectableFields answers share a map")
	}
}

func TestDeletionGrace(t *testing.T) {
	pod := func(node string, phase PodPhase, grace *int64) *Pod {
		p := &Pod{Spec: PodSpec{NodeName: node, TerminationGracePeriodSeconds: grace}, Status: PodStatus{Phase: phase}}
		return p
	}
	tests := []struct {
		name      string
		obj       Object
		requested *int64
		want      int64
	}{
		{"bound running pod, default", pod("pi-1", PodRunning, nil), nil, 30},
		{"bound running pod, its own grace", pod("pi-1", PodRunning, refOf[int64](90)), nil, 90},
		{"bound running pod, requested", pod("pi-1", PodRunning, refOf[int64](90)), refOf[int64](5), 5},
		{"bound running pod, requested 0", pod("pi-1", PodRunning, nil), refOf[int64](0), 0},
		{"bound running pod, requested negative", pod("pi-1", PodRunning, nil), refOf[int64](-3), 0},
		{"bound pending pod", pod("pi-1", PodPending, nil), nil, 30},
		{"unscheduled pod", pod("", PodPending, refOf[int64](90)), refOf[int64](10), 0},
		{"succeeded pod", pod("pi-1", PodSucceeded, nil), nil, 0},
		{"failed pod", pod("pi-1", PodFailed, nil), refOf[int64](10), 0},
		{"not a pod", testConfigMap(), refOf[int64](10), 0},
	}
	for _, tt := range tests {
		if got := DeletionGrace(tt.obj, tt.requested); got != tt.want {
			t.Errorf("%s: DeletionGrace = %d, want %d", tt.name, got, tt.want)
		}
	}
}
