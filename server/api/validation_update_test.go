package api

import (
	"testing"
	"time"
)

func TestValidateUpdate(t *testing.T) {
	// stored returns a valid object as the store holds it: with a uid and
	// a creation time.
	created := NewTime(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC))
	stored := func(o Object) Object {
		m := o.GetObjectMeta()
		if m.UID == "" {
			m.UID = "uid-1"
		}
		m.CreationTimestamp = created
		return o
	}
	// update returns (old, new) where new is old changed by f.
	type pair struct{ old, new Object }
	update := func(old Object, f func(o Object)) pair {
		old = stored(old)
		n := Clone(old)
		f(n)
		return pair{old, n}
	}
	boundPod := func() *Pod { p := testPod(t); p.Spec.NodeName = "pi-1"; return p }
	immutableCM := func() *ConfigMap { c := testConfigMap(); c.Immutable = refOf(true); return c }
	immutableSecret := func() *Secret { s := testSecret(); s.Immutable = refOf(true); return s }
	svcWithIP := func() *Service { s := testService(); s.Spec.ClusterIP = "10.43.0.20"; return s }

	tests := []struct {
		name string
		pair pair
		want []string
	}{
		{"no change", update(testPod(t), func(o Object) {}), nil},
		{"labels may change", update(testPod(t), func(o Object) { o.(*Pod).Labels["v"] = "2" }), nil},
		{"rename", update(testPod(t), func(o Object) { o.(*Pod).Name = "web-1" }), []string{"metadata.name"}},
		{"move namespace", update(testPod(t), func(o Object) { o.(*Pod).Namespace = "other" }), []string{"metadata.namespace"}},
		{"new uid", update(testPod(t), func(o Object) { o.(*Pod).UID = "uid-2" }), []string{"metadata.uid"}},
		{"uid left out", update(testPod(t), func(o Object) { o.(*Pod).UID = "" }), nil},
		{"new creation time", update(testPod(t), func(o Object) {
			o.(*Pod).CreationTimestamp = NewTime(created.Add(time.Hour))
		}), []string{"metadata.creationTimestamp"}},
		{"update runs Validate too", update(testPod(t), func(o Object) { o.(*Pod).Spec.Containers[0].Image = "" }), []string{"spec.containers[0].image"}},

		{"pod image change", update(testPod(t), func(o Object) {
			p := o.(*Pod)
			p.Spec.Containers[0].Image = "nginx:1.28"
			p.Spec.InitContainers[0].Image = "busybox:1.37"
		}), nil},
		{"pod bind", update(testPod(t), func(o Object) { o.(*Pod).Spec.NodeName = "pi-1" }), nil},
		{"pod rebind", update(boundPod(), func(o Object) { o.(*Pod).Spec.NodeName = "pi-2" }), []string{"spec.nodeName"}},
		{"pod unbind", update(boundPod(), func(o Object) { o.(*Pod).Spec.NodeName = "" }), []string{"spec.nodeName"}},
		{"pod add toleration", update(testPod(t), func(o Object) {
			p := o.(*Pod)
			p.Spec.Tolerations = append(p.Spec.Tolerations, Toleration{Key: "gpu", Operator: TolerationOpExists})
		}), nil},
		{"pod change tolerationSeconds", update(testPod(t), func(o Object) { o.(*Pod).Spec.Tolerations[0].TolerationSeconds = refOf[int64](10) }), nil},
		{"pod remove toleration", update(testPod(t), func(o Object) { o.(*Pod).Spec.Tolerations = o.(*Pod).Spec.Tolerations[:1] }), []string{"spec.tolerations[1]"}},
		{"pod set deadline", update(testPod(t), func(o Object) { o.(*Pod).Spec.ActiveDeadlineSeconds = refOf[int64](60) }), nil},
		{"pod shorten deadline", update(func() *Pod { p := testPod(t); p.Spec.ActiveDeadlineSeconds = refOf[int64](60); return p }(),
			func(o Object) { o.(*Pod).Spec.ActiveDeadlineSeconds = refOf[int64](30) }), nil},
		{"pod lengthen deadline", update(func() *Pod { p := testPod(t); p.Spec.ActiveDeadlineSeconds = refOf[int64](60); return p }(),
			func(o Object) { o.(*Pod).Spec.ActiveDeadlineSeconds = refOf[int64](90) }), []string{"spec.activeDeadlineSeconds"}},
		{"pod unset deadline", update(func() *Pod { p := testPod(t); p.Spec.ActiveDeadlineSeconds = refOf[int64](60); return p }(),
			func(o Object) { o.(*Pod).Spec.ActiveDeadlineSeconds = nil }), []string{"spec.activeDeadlineSeconds"}},
		{"pod command change", update(testPod(t), func(o Object) { o.(*Pod).Spec.Containers[1].Command = []string{"sh"} }), []string{"spec.containers[1].command"}},
		{"pod port change", update(testPod(t), func(o Object) { o.(*Pod).Spec.Containers[0].Ports[0].ContainerPort = 81 }), []string{"spec.containers[0].ports[0].containerPort"}},
		{"pod resource change", update(testPod(t), func(o Object) {
			o.(*Pod).Spec.Containers[0].Resources.Limits[ResourceMemory] = mustQuantity(t, "256Mi")
		}), []string{"spec.containers[0].resources.limits[memory]"}},
		{"pod resource rewritten, same value", update(testPod(t), func(o Object) {
			o.(*Pod).Spec.Containers[0].Resources.Limits[ResourceCPU] = mustQuantity(t, "1000m")
		}), nil},
		{"pod container added", update(testPod(t), func(o Object) {
			p := o.(*Pod)
			p.Spec.Containers = append(p.Spec.Containers, Container{Name: "x", Image: "x:1", ImagePullPolicy: PullIfNotPresent})
		}), []string{"spec.containers"}},
		{"pod volume and restart policy change", update(testPod(t), func(o Object) {
			p := o.(*Pod)
			p.Spec.Volumes[0].EmptyDir.Medium = StorageMediumMemory
			p.Spec.RestartPolicy = RestartPolicyNever
		}), []string{"spec.volumes[0].emptyDir.medium", "spec.restartPolicy"}},
		{"pod empty list is no list", update(testPod(t), func(o Object) { o.(*Pod).Spec.Containers[1].Args = []string{} }), nil},
		{"pod status may change", update(testPod(t), func(o Object) { o.(*Pod).Status.Phase = PodRunning }), nil},

		{"deployment selector change", update(testDeployment(t), func(o Object) {
			d := o.(*Deployment)
			d.Spec.Selector.MatchLabels["tier"] = "front"
		}), []string{"spec.selector"}},
		{"deployment template and replicas change", update(testDeployment(t), func(o Object) {
			d := o.(*Deployment)
			d.Spec.Replicas = refOf[int32](5)
			d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		}), nil},
		{"replicaset selector change", update(testReplicaSet(t), func(o Object) {
			o.(*ReplicaSet).Spec.Selector = &LabelSelector{MatchLabels: map[string]string{"tier": "front"}}
		}), []string{"spec.selector"}},
		{"daemonset selector change", update(testDaemonSet(t), func(o Object) {
			o.(*DaemonSet).Spec.Selector.MatchLabels = map[string]string{"app": "web", "tier": "front"}
		}), []string{"spec.selector"}},
		{"statefulset allowed changes", update(testStatefulSet(t), func(o Object) {
			s := o.(*StatefulSet)
			s.Spec.Replicas = refOf[int32](5)
			s.Spec.Template.Spec.Containers[0].Image = "postgres:17"
			s.Spec.UpdateStrategy = StatefulSetUpdateStrategy{Type: OnDeleteStatefulSetStrategyType}
			s.Spec.MinReadySeconds = 10
			s.Spec.RevisionHistoryLimit = refOf[int32](3)
		}), nil},
		{"statefulset forbidden changes", update(testStatefulSet(t), func(o Object) {
			s := o.(*StatefulSet)
			s.Spec.ServiceName = "db-headless"
			s.Spec.PodManagementPolicy = ParallelPodManagement
			s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[ResourceStorage] = mustQuantity(t, "2Gi")
		}), []string{"spec.serviceName", "spec.podManagementPolicy", "spec.volumeClaimTemplates[0].spec.resources.requests[storage]"}},
		{"statefulset selector change", update(testStatefulSet(t), func(o Object) {
			o.(*StatefulSet).Spec.Selector.MatchLabels["tier"] = "front"
		}), []string{"spec.selector"}},
		{"job template change", update(testJob(t), func(o Object) {
			j := o.(*Job)
			j.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
			j.Spec.Template.Labels["extra"] = "x"
		}), []string{"spec.template.spec.containers[0].image", "spec.template.metadata.labels[extra]"}},
		{"job parallelism change", update(testJob(t), func(o Object) { o.(*Job).Spec.Parallelism = refOf[int32](4) }), nil},
		{"job completions change", update(testJob(t), func(o Object) { o.(*Job).Spec.Completions = refOf[int32](4) }), []string{"spec.completions"}},
		{"job selector change", update(testJob(t), func(o Object) { o.(*Job).Spec.Selector.MatchLabels["x"] = "y" }),
			[]string{"spec.selector", "spec.template.metadata.labels"}}, // and it no longer matches
		{"cronjob schedule change", update(testCronJob(t), func(o Object) { o.(*CronJob).Spec.Schedule = "@daily" }), nil},

		{"service cluster IP assigned", update(testService(), func(o Object) { o.(*Service).Spec.ClusterIP = "10.43.0.20" }), nil},
		{"service cluster IP changed", update(svcWithIP(), func(o Object) { o.(*Service).Spec.ClusterIP = "10.43.0.21" }), []string{"spec.clusterIP"}},
		{"service ports changed", update(svcWithIP(), func(o Object) { o.(*Service).Spec.Ports[0].Port = 8080 }), nil},
		{"immutable configmap data", update(immutableCM(), func(o Object) { o.(*ConfigMap).Data["MODE"] = "dev" }), []string{"data"}},
		{"immutable configmap binaryData", update(immutableCM(), func(o Object) { delete(o.(*ConfigMap).BinaryData, "logo.png") }), []string{"binaryData"}},
		{"immutable configmap made mutable", update(immutableCM(), func(o Object) { o.(*ConfigMap).Immutable = refOf(false) }), []string{"immutable"}},
		{"immutable configmap labels", update(immutableCM(), func(o Object) { o.(*ConfigMap).Labels = map[string]string{"a": "b"} }), nil},
		{"mutable configmap data", update(testConfigMap(), func(o Object) { o.(*ConfigMap).Data["MODE"] = "dev" }), nil},
		{"configmap made immutable", update(testConfigMap(), func(o Object) { o.(*ConfigMap).Immutable = refOf(true) }), nil},
		{"immutable secret data", update(immutableSecret(), func(o Object) { o.(*Secret).Data[TLSCertKey] = []byte("new") }), []string{"data"}},
		{"immutable secret stringData", update(immutableSecret(), func(o Object) {
			o.(*Secret).StringData = map[string]string{TLSCertKey: "new"}
		}), []string{"stringData"}},
		{"secret type change", update(testSecret(), func(o Object) { o.(*Secret).Type = SecretTypeOpaque }), []string{"type"}},
		{"node pod CIDR change", update(testNode(t), func(o Object) {
			n := o.(*Node)
			n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.42.2.0/24", []string{"10.42.2.0/24"}
		}), []string{"spec.podCIDR", "spec.podCIDRs"}},
		{"node cordon", update(testNode(t), func(o Object) { o.(*Node).Spec.Unschedulable = true }), nil},
		{"node pod CIDR set", update(func() *Node { n := testNode(t); n.Spec.PodCIDR, n.Spec.PodCIDRs = "", nil; return n }(), func(o Object) {
			o.(*Node).Spec.PodCIDR = "10.42.3.0/24"
		}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFieldPaths(t, ValidateUpdate(tt.pair.old, tt.pair.new), tt.want)
		})
	}
}

func TestValidateUpdateKindMismatch(t *testing.T) {
	errs := ValidateUpdate(testPod(t), testService())
	if len(errs) != 1 || errs[0].Field != "kind" {
		t.Errorf("ValidateUpdate(pod, service) = %v, want one error at kind", errs)
	}
}

func TestChangedPaths(t *testing.T) {
	type inner struct {
		N int `json:"n"`
	}
	type Embedded struct {
		E string `json:"e"`
	}
	type outer struct {
		Embedded `json:",inline"`
		S        string            `json:"s,omitempty"`
		P        *inner            `json:"p,omitempty"`
		L        []inner           `json:"l"`
		M        map[string]string `json:"m"`
		B        []byte            `json:"b"`
		Q        Quantity          `json:"q"`
	}
	tests := []struct {
		name string
		a, b outer
		want []string
	}{
		{"equal", outer{S: "x"}, outer{S: "x"}, nil},
		{"nil and empty", outer{L: nil, M: nil}, outer{L: []inner{}, M: map[string]string{}}, nil},
		{"string", outer{S: "x"}, outer{S: "y"}, []string{"x.s"}},
		{"inline", outer{Embedded: Embedded{E: "1"}}, outer{}, []string{"x.e"}},
		{"pointer set", outer{}, outer{P: &inner{}}, []string{"x.p"}},
		{"pointer field", outer{P: &inner{N: 1}}, outer{P: &inner{N: 2}}, []string{"x.p.n"}},
		{"list length", outer{L: []inner{{}}}, outer{}, []string{"x.l"}},
		{"list element", outer{L: []inner{{N: 1}, {N: 2}}}, outer{L: []inner{{N: 1}, {N: 3}}}, []string{"x.l[1].n"}},
		{"map keys", outer{M: map[string]string{"a": "1", "b": "2"}}, outer{M: map[string]string{"b": "3", "c": "4"}}, []string{"x.m[a]", "x.m[b]", "x.m[c]"}},
		{"bytes", outer{B: []byte("a")}, outer{B: []byte("b")}, []string{"x.b"}},
		{"quantity by value", outer{Q: mustQuantity(t, "1")}, outer{Q: mustQuantity(t, "1000m")}, nil},
		{"quantity", outer{Q: mustQuantity(t, "1")}, outer{Q: mustQuantity(t, "2")}, []string{"x.q"}},
	}
	for _, tt := range tests {
		got := changedPaths("x", &tt.a, &tt.b)
		if len(got) != len(tt.want) {
			t.Errorf("%s: changedPaths = %q, want %q", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: changedPaths = %q, want %q", tt.name, got, tt.want)
				break
			}
		}
	}
}
