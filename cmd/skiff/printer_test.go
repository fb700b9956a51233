package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n%s\nwant:\n%s", name, path, got, want)
	}
}

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) api.Time { return api.NewTime(now.Add(-d)) }

func i32(v int32) *int32 { return &v }

func TestPrintTables(t *testing.T) {
	running := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "web-1", Namespace: "shop", CreationTimestamp: ago(90 * time.Second)},
		Spec:       api.PodSpec{NodeName: "pi-1", Containers: []api.Container{{Name: "a"}, {Name: "b"}}},
		Status: api.PodStatus{Phase: "Running", PodIP: "10.42.0.7", ContainerStatuses: []api.ContainerStatus{
			{Name: "a", Ready: true, RestartCount: 2}, {Name: "b", Ready: false, RestartCount: 1,
				State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}},
	}
	pending := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "web-2", Namespace: "default", CreationTimestamp: ago(3 * time.Hour)},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "a"}}},
	}
	deploy := &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "shop", CreationTimestamp: ago(50 * time.Hour)},
		Spec:       api.DeploymentSpec{Replicas: i32(3)},
		Status:     api.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2},
	}
	svc := &api.Service{
		ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "shop", CreationTimestamp: ago(10 * time.Minute)},
		Spec: api.ServiceSpec{Type: "NodePort", ClusterIP: "10.43.0.12", Selector: map[string]string{"app": "web"},
			Ports: []api.ServicePort{{Port: 80, NodePort: 30080, Protocol: "TCP"}, {Port: 53, Protocol: "UDP"}}},
	}
	node := &api.Node{
		ObjectMeta: api.ObjectMeta{Name: "pi-1", CreationTimestamp: ago(400 * 24 * time.Hour), Labels: map[string]string{"node-role.kubernetes.io/server": ""}},
		Status: api.NodeStatus{Conditions: []api.NodeCondition{{Type: "Ready", Status: "True"}},
			NodeInfo: api.NodeSystemInfo{KubeletVersion: "v0.1.0"}},
	}
	never := api.PreemptNever
	classes := []api.Object{
		&api.PriorityClass{ObjectMeta: api.ObjectMeta{Name: "system-node-critical", CreationTimestamp: ago(20 * 24 * time.Hour)}, Value: 2000001000},
		&api.PriorityClass{ObjectMeta: api.ObjectMeta{Name: "batch", CreationTimestamp: ago(2 * time.Hour)}, Value: -10, GlobalDefault: true, PreemptionPolicy: &never},
	}
	class := api.StorageClassLocal
	claims := []api.Object{
		&api.PersistentVolumeClaim{ObjectMeta: api.ObjectMeta{Name: "data-db-0", Namespace: "default", CreationTimestamp: ago(5 * 24 * time.Hour),
			Annotations: map[string]string{api.AnnotationSelectedNode: "pi-1"}},
			Spec: api.PersistentVolumeClaimSpec{AccessModes: []api.PersistentVolumeAccessMode{api.ReadWriteOnce}, StorageClassName: &class,
				Resources: api.VolumeResourceRequirements{Requests: api.ResourceList{api.ResourceStorage: api.NewBinaryQuantity(10 << 30)}}},
			Status: api.PersistentVolumeClaimStatus{Phase: api.ClaimBound}},
		&api.PersistentVolumeClaim{ObjectMeta: api.ObjectMeta{Name: "scratch", Namespace: "default", CreationTimestamp: ago(time.Minute)},
			Spec: api.PersistentVolumeClaimSpec{AccessModes: []api.PersistentVolumeAccessMode{api.ReadWriteOncePod}, StorageClassName: &class,
				Resources: api.VolumeResourceRequirements{Requests: api.ResourceList{api.ResourceStorage: api.NewBinaryQuantity(512 << 20)}}},
			Status: api.PersistentVolumeClaimStatus{Phase: api.ClaimPending}},
	}
	yes := true
	revisions := []api.Object{
		&api.ControllerRevision{ObjectMeta: api.ObjectMeta{Name: "db-7b9d5c", Namespace: "default", CreationTimestamp: ago(26 * time.Hour),
			OwnerReferences: []api.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "u1", Controller: &yes}}}, Revision: 1},
		&api.ControllerRevision{ObjectMeta: api.ObjectMeta{Name: "agent-5f8c", Namespace: "kube-system", CreationTimestamp: ago(3 * time.Minute),
			OwnerReferences: []api.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "u2", Controller: &yes}}}, Revision: 12},
		&api.ControllerRevision{ObjectMeta: api.ObjectMeta{Name: "orphan", Namespace: "default", CreationTimestamp: ago(time.Hour)}, Revision: 3},
	}
	for _, tc := range []struct {
		name string
		kind string
		objs []api.Object
		wide bool
		all  bool
	}{
		{"pods", "pods", []api.Object{running, pending}, false, false},
		{"pods-wide-all", "pods", []api.Object{running, pending}, true, true},
		{"deployments", "deployments", []api.Object{deploy}, false, false},
		{"services-wide", "services", []api.Object{svc}, true, false},
		{"nodes", "nodes", []api.Object{node}, false, true},
		{"priorityclasses", "priorityclasses", classes, false, true},
		{"pvcs", "pvc", claims, false, false},
		{"controllerrevisions", "controllerrevisions", revisions, false, true},
	} {
		k, _ := api.LookupResource(tc.kind)
		var b bytes.Buffer
		table{kind: k, wide: tc.wide, allNamespaces: tc.all, now: now}.print(&b, tc.objs, true)
		golden(t, "table-"+tc.name, b.Bytes())
	}
}

func TestHumanAge(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {-time.Second, "0s"}, {90 * time.Second, "90s"}, {5 * time.Minute, "5m"},
		{3 * time.Hour, "3h"}, {72 * time.Hour, "3d"}, {800 * 24 * time.Hour, "2y"},
	} {
		if got := humanAge(ago(tc.d), now); got != tc.want {
			t.Errorf("humanAge(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := humanAge(api.Time{}, now); got != "<unknown>" {
		t.Errorf("zero time: %q", got)
	}
}

func TestDescribeGolden(t *testing.T) {
	p := &api.Pod{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: api.ObjectMeta{Name: "web-1", Namespace: "shop", CreationTimestamp: ago(time.Hour),
			Labels:      map[string]string{"app": "web"},
			Annotations: map[string]string{lastAppliedAnnotation: "{}", "note": "x"}},
		Spec: api.PodSpec{NodeName: "pi-1", Containers: []api.Container{{Name: "web", Image: "busybox:1.36",
			Ports: []api.ContainerPort{{ContainerPort: 8080, Protocol: "TCP"}}}}},
		Status: api.PodStatus{Phase: "Running", PodIP: "10.42.0.7"},
	}
	ev := &api.Event{ObjectMeta: api.ObjectMeta{Name: "e1", Namespace: "shop"}, Type: "Normal", Reason: "Scheduled",
		Message: "assigned to pi-1", InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "web-1"}, LastTimestamp: ago(time.Minute)}
	var b bytes.Buffer
	describe(&b, p, []api.Object{ev}, now)
	golden(t, "describe-pod", b.Bytes())
}
