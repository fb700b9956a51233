package api

import (
	"slices"
	"strings"
	"testing"
)

// The valid objects each validation case breaks one rule of. Each is
// defaulted, as the API server does before validating.

func testPod(t *testing.T) *Pod {
	t.Helper()
	p := &Pod{
		ObjectMeta: ObjectMeta{Name: "web-0", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:       *testPodSpec(t),
	}
	Default(p)
	return p
}

func testPodSpec(t *testing.T) *PodSpec {
	t.Helper()
	return &PodSpec{
		Volumes: []Volume{
			{Name: "data", VolumeSource: VolumeSource{EmptyDir: &EmptyDirVolumeSource{}}},
			{Name: "conf", VolumeSource: VolumeSource{ConfigMap: &ConfigMapVolumeSource{LocalObjectReference: LocalObjectReference{Name: "web"}}}},
		},
		InitContainers: []Container{{Name: "init", Image: "busybox:1.36", Command: []string{"true"}}},
		Containers: []Container{{
			Name:  "app",
			Image: "nginx:1.27",
			Ports: []ContainerPort{{Name: "http", ContainerPort: 80}},
			Env: []EnvVar{
				{Name: "MODE", Value: "prod"},
				{Name: "POD_IP", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "status.podIP"}}},
				{Name: "APP", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			},
			EnvFrom: []EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &ConfigMapEnvSource{LocalObjectReference: LocalObjectReference{Name: "web"}}}},
			Resources: ResourceRequirements{
				Requests: ResourceList{ResourceCPU: mustQuantity(t, "100m"), ResourceMemory: mustQuantity(t, "64Mi")},
				Limits:   ResourceList{ResourceCPU: mustQuantity(t, "1"), ResourceMemory: mustQuantity(t, "128Mi")},
			},
			VolumeMounts: []VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "conf", MountPath: "/etc/web", ReadOnly: true}},
			LivenessProbe: &Probe{ProbeHandler: ProbeHandler{HTTPGet: &HTTPGetAction{Port: FromString("http"),
				HTTPHeaders: []HTTPHeader{{Name: "X-Probe", Value: "1"}}}}},
			ReadinessProbe: &Probe{ProbeHandler: ProbeHandler{TCPSocket: &TCPSocketAction{Port: FromInt(80)}}},
			Lifecycle:      &Lifecycle{PreStop: &LifecycleHandler{Sleep: &SleepAction{Seconds: 5}}},
			SecurityContext: &SecurityContext{RunAsNonRoot: refOf(true), RunAsUser: refOf[int64](1000),
				AllowPrivilegeEscalation: refOf(false), Capabilities: &Capabilities{Drop: []Capability{"ALL"}}},
		}, {
			Name: "sidecar", Image: "busybox", Command: []string{"sleep", "inf"},
		}},
		Tolerations: []Toleration{
			{Key: "node.kubernetes.io/not-ready", Operator: TolerationOpExists, Effect: TaintEffectNoExecute, TolerationSeconds: refOf[int64](300)},
			{Key: "dedicated", Value: "web", Effect: TaintEffectNoSchedule},
		},
		Affinity: &Affinity{
			NodeAffinity: &NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &NodeSelector{NodeSelectorTerms: []NodeSelectorTerm{{
					MatchExpressions: []NodeSelectorRequirement{{Key: "kubernetes.io/arch", Operator: NodeSelectorOpIn, Values: []string{"arm64", "amd64"}}},
				}}},
				PreferredDuringSchedulingIgnoredDuringExecution: []PreferredSchedulingTerm{{Weight: 10, Preference: NodeSelectorTerm{
					MatchExpressions: []NodeSelectorRequirement{{Key: "ram-gb", Operator: NodeSelectorOpGt, Values: []string{"4"}}},
				}}},
			},
			PodAntiAffinity: &PodAntiAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: PodAffinityTerm{
					LabelSelector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}},
					TopologyKey:   "kubernetes.io/hostname",
				}}},
			},
		},
		TopologySpreadConstraints: []TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: ScheduleAnyway}},
		SecurityContext:           &PodSecurityContext{FSGroup: refOf[int64](2000)},
		ImagePullSecrets:          []LocalObjectReference{{Name: "registry"}},
		Priority:                  refOf[int32](100),
	}
}

// podWith returns the test pod changed by f.
func podWith(t *testing.T, f func(p *Pod)) Object {
	p := testPod(t)
	f(p)
	return p
}

// checkFieldPaths fails the test unless errs name exactly the fields want.
func checkFieldPaths(t *testing.T, errs FieldErrors, want []string) {
	t.Helper()
	got := make([]string, len(errs))
	for i, e := range errs {
		got[i] = e.Field
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("field paths = %q, want %q\nerrors: %v", got, want, errs)
	}
}

// validationCase is one object and the fields Validate must complain of.
type validationCase struct {
	name string
	obj  Object
	want []string
}

// runValidationCases runs Validate on each case.
func runValidationCases(t *testing.T, tests []validationCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFieldPaths(t, Validate(tt.obj), tt.want)
		})
	}
}

func TestValidateValidObjects(t *testing.T) {
	for _, obj := range validObjects(t) {
		if errs := Validate(obj); len(errs) > 0 {
			t.Errorf("Validate(%T) = %v, want no errors", obj, errs)
		}
	}
}

// validObjects returns a valid object of every kind.
func validObjects(t *testing.T) []Object {
	return []Object{
		testNamespace(), testNode(t), testPod(t), testConfigMap(), testSecret(), testEvent(),
		testService(), testEndpoints(), testDeployment(t), testReplicaSet(t), testDaemonSet(t),
		testStatefulSet(t), testJob(t), testCronJob(t), testPriorityClass(), testPVC(), testControllerRevision(t),
	}
}

func TestValidateObjectMeta(t *testing.T) {
	runValidationCases(t, []validationCase{
		{"no name", podWith(t, func(p *Pod) { p.Name = "" }), []string{"metadata.name"}},
		{"generateName instead", podWith(t, func(p *Pod) { p.Name, p.GenerateName = "", "web-" }), nil},
		{"bad generateName", podWith(t, func(p *Pod) { p.Name, p.GenerateName = "", "Web-" }), []string{"metadata.generateName"}},
		{"bad name", podWith(t, func(p *Pod) { p.Name = "Web_0" }), []string{"metadata.name"}},
		{"no namespace", podWith(t, func(p *Pod) { p.Namespace = "" }), []string{"metadata.namespace"}},
		{"bad namespace", podWith(t, func(p *Pod) { p.Namespace = "a.b" }), []string{"metadata.namespace"}},
		{"owner reference without uid and kind", podWith(t, func(p *Pod) {
			p.OwnerReferences = []OwnerReference{{APIVersion: "apps/v1", Name: "web"}}
		}), []string{"metadata.ownerReferences[0].kind", "metadata.ownerReferences[0].uid"}},
		{"two controllers", podWith(t, func(p *Pod) {
			p.OwnerReferences = []OwnerReference{
				{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "a", UID: "1", Controller: refOf(true)},
				{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "b", UID: "2", Controller: refOf(true)},
			}
		}), []string{"metadata.ownerReferences[1].controller"}},
		{"bad label key", podWith(t, func(p *Pod) { p.Labels["a b"] = "x" }), []string{"metadata.labels[a b]"}},
		{"bad label value", podWith(t, func(p *Pod) { p.Labels["tier"] = "front end" }), []string{"metadata.labels[tier]"}},
		{"bad annotation key", podWith(t, func(p *Pod) { p.Annotations = map[string]string{"/x": "y"} }), []string{"metadata.annotations[/x]"}},
		{"bad node selector", podWith(t, func(p *Pod) { p.Spec.NodeSelector = map[string]string{"disk": "fast ssd"} }), []string{"spec.nodeSelector[disk]"}},
		{"bad template label", func() Object { d := testDeployment(t); d.Spec.Template.Labels["a b"] = "x"; return d }(), []string{"spec.template.metadata.labels[a b]"}},
		{"bad service selector", func() Object { s := testService(); s.Spec.Selector["app"] = "-web"; return s }(), []string{"spec.selector[app]"}},
		{"bad finalizer", podWith(t, func(p *Pod) { p.Finalizers = []string{"ok/finalizer", "not ok"} }), []string{"metadata.finalizers[1]"}},
		{"namespace on a cluster-scoped kind", func() Object { n := testNamespace(); n.Namespace = "default"; return n }(), []string{"metadata.namespace"}},
		{"namespace name must be a DNS label", func() Object { n := testNamespace(); n.Name = "a.b"; return n }(), []string{"metadata.name"}},
		{"service name must be a DNS label", func() Object { s := testService(); s.Name = "web.v1"; return s }(), []string{"metadata.name"}},
		{"deployment name may be a DNS subdomain", func() Object { d := testDeployment(t); d.Name = "web.v1"; return d }(), nil},
	})
}

func TestValidatePod(t *testing.T) {
	c0 := func(t *testing.T, f func(c *Container)) Object {
		return podWith(t, func(p *Pod) { f(&p.Spec.Containers[0]) })
	}
	runValidationCases(t, []validationCase{
		{"no containers", podWith(t, func(p *Pod) { p.Spec.Containers = nil }), []string{"spec.containers"}},
		{"init and app container share a name", podWith(t, func(p *Pod) { p.Spec.InitContainers[0].Name = "app" }), []string{"spec.containers[0].name"}},
		{"two app containers share a name", podWith(t, func(p *Pod) { p.Spec.Containers[1].Name = "app" }), []string{"spec.containers[1].name"}},
		{"bad container name", c0(t, func(c *Container) { c.Name = "App_1" }), []string{"spec.containers[0].name"}},
		{"no image", podWith(t, func(p *Pod) { p.Spec.Containers[1].Image = "" }), []string{"spec.containers[1].image"}},
		{"image with spaces", c0(t, func(c *Container) { c.Image = " nginx" }), []string{"spec.containers[0].image"}},
		{"every problem at once", podWith(t, func(p *Pod) {
			p.Spec.Containers[1].Image = ""
			p.Spec.Containers[1].Ports = []ContainerPort{{ContainerPort: 0}}
			p.Spec.InitContainers[0].Image = ""
			p.Spec.RestartPolicy = "Sometimes"
		}), []string{"spec.containers[1].image", "spec.containers[1].ports[0].containerPort", "spec.initContainers[0].image", "spec.restartPolicy"}},
		{"container port 0", c0(t, func(c *Container) { c.Ports[0].ContainerPort = 0 }), []string{"spec.containers[0].ports[0].containerPort"}},
		{"container port too big", c0(t, func(c *Container) { c.Ports[0].ContainerPort = 65536 }), []string{"spec.containers[0].ports[0].containerPort"}},
		{"host port too big", c0(t, func(c *Container) { c.Ports[0].HostPort = 70000 }), []string{"spec.containers[0].ports[0].hostPort"}},
		{"bad protocol", c0(t, func(c *Container) { c.Ports[0].Protocol = "HTTP" }), []string{"spec.containers[0].ports[0].protocol"}},
		{"SCTP is fine", c0(t, func(c *Container) { c.Ports[0].Protocol = ProtocolSCTP }), nil},
		{"bad port name", c0(t, func(c *Container) { c.Ports[0].Name = "http_1" }), []string{"spec.containers[0].ports[0].name"}},
		{"port name too long", c0(t, func(c *Container) { c.Ports[0].Name = "a-very-long-port-name" }), []string{"spec.containers[0].ports[0].name"}},
		{"duplicate port name", c0(t, func(c *Container) {
			c.Ports = append(c.Ports, ContainerPort{Name: "http", ContainerPort: 81})
		}), []string{"spec.containers[0].ports[1].name"}},
		{"bad host IP", c0(t, func(c *Container) { c.Ports[0].HostIP = "1.2.3" }), []string{"spec.containers[0].ports[0].hostIP"}},
		{"host port differs from container port with hostNetwork", podWith(t, func(p *Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 8080
		}), []string{"spec.containers[0].ports[0].hostPort"}},
		{"host port used twice", podWith(t, func(p *Pod) {
			p.Spec.Containers[0].Ports[0].HostPort = 8080
			p.Spec.Containers[1].Ports = []ContainerPort{{ContainerPort: 9090, HostPort: 8080, Protocol: ProtocolTCP}}
		}), []string{"spec.containers[1].ports[0].hostPort"}},
		{"host port twice with different protocols", podWith(t, func(p *Pod) {
			p.Spec.Containers[0].Ports[0].HostPort = 8080
			p.Spec.Containers[1].Ports = []ContainerPort{{ContainerPort: 9090, HostPort: 8080, Protocol: ProtocolUDP}}
		}), nil},
		{"bad env name", c0(t, func(c *Container) { c.Env[0].Name = "1MODE" }), []string{"spec.containers[0].env[0].name"}},
		{"env without name", c0(t, func(c *Container) { c.Env[0].Name = "" }), []string{"spec.containers[0].env[0].name"}},
		{"value and valueFrom", c0(t, func(c *Container) { c.Env[1].Value = "x" }), []string{"spec.containers[0].env[1].valueFrom"}},
		{"valueFrom with two sources", c0(t, func(c *Container) {
			c.Env[1].ValueFrom.SecretKeyRef = &SecretKeySelector{LocalObjectReference: LocalObjectReference{Name: "s"}, Key: "k"}
		}), []string{"spec.containers[0].env[1].valueFrom.secretKeyRef"}},
		{"valueFrom with no source", c0(t, func(c *Container) { c.Env[1].ValueFrom = &EnvVarSource{} }), []string{"spec.containers[0].env[1].valueFrom"}},
		{"unsupported fieldRef", c0(t, func(c *Container) { c.Env[1].ValueFrom.FieldRef.FieldPath = "spec.containers" }), []string{"spec.containers[0].env[1].valueFrom.fieldRef.fieldPath"}},
		{"fieldRef on a bad label key", c0(t, func(c *Container) { c.Env[2].ValueFrom.FieldRef.FieldPath = "metadata.labels['a b']" }), []string{"spec.containers[0].env[2].valueFrom.fieldRef.fieldPath"}},
		{"fieldRef apiVersion", c0(t, func(c *Container) { c.Env[1].ValueFrom.FieldRef.APIVersion = "v2" }), []string{"spec.containers[0].env[1].valueFrom.fieldRef.apiVersion"}},
		{"secretKeyRef without key", c0(t, func(c *Container) {
			c.Env[1].ValueFrom = &EnvVarSource{SecretKeyRef: &SecretKeySelector{LocalObjectReference: LocalObjectReference{Name: "db"}}}
		}), []string{"spec.containers[0].env[1].valueFrom.secretKeyRef.key"}},
		{"configMapKeyRef without name", c0(t, func(c *Container) {
			c.Env[1].ValueFrom = &EnvVarSource{ConfigMapKeyRef: &ConfigMapKeySelector{Key: "k"}}
		}), []string{"spec.containers[0].env[1].valueFrom.configMapKeyRef.name"}},
		{"envFrom with both", c0(t, func(c *Container) {
			c.EnvFrom[0].SecretRef = &SecretEnvSource{LocalObjectReference: LocalObjectReference{Name: "s"}}
		}), []string{"spec.containers[0].envFrom[0].secretRef"}},
		{"envFrom with neither", c0(t, func(c *Container) { c.EnvFrom[0].ConfigMapRef = nil }), []string{"spec.containers[0].envFrom[0]"}},
		{"bad envFrom prefix", c0(t, func(c *Container) { c.EnvFrom[0].Prefix = "1-" }), []string{"spec.containers[0].envFrom[0].prefix"}},
		{"request above limit", c0(t, func(c *Container) { c.Resources.Requests[ResourceCPU] = mustQuantity(t, "1100m") }), []string{"spec.containers[0].resources.requests[cpu]"}},
		{"request equal to limit", c0(t, func(c *Container) { c.Resources.Requests[ResourceCPU] = mustQuantity(t, "1000m") }), nil},
		{"unknown resource", c0(t, func(c *Container) { c.Resources.Limits["nvidia.com/gpu"] = mustQuantity(t, "1") }), []string{"spec.containers[0].resources.limits[nvidia.com/gpu]"}},
		{"pods is not a container resource", c0(t, func(c *Container) { c.Resources.Requests[ResourcePods] = mustQuantity(t, "1") }), []string{"spec.containers[0].resources.requests[pods]"}},
		{"negative request", c0(t, func(c *Container) { c.Resources.Requests[ResourceMemory] = mustQuantity(t, "-1Mi") }), []string{"spec.containers[0].resources.requests[memory]"}},
		{"probe without handler", c0(t, func(c *Container) { c.LivenessProbe.HTTPGet = nil }), []string{"spec.containers[0].livenessProbe"}},
		{"probe with two handlers", c0(t, func(c *Container) { c.ReadinessProbe.Exec = &ExecAction{Command: []string{"true"}} }), []string{"spec.containers[0].readinessProbe.tcpSocket"}},
		{"liveness success threshold", c0(t, func(c *Container) { c.LivenessProbe.SuccessThreshold = 2 }), []string{"spec.containers[0].livenessProbe.successThreshold"}},
		{"readiness success threshold may exceed 1", c0(t, func(c *Container) { c.ReadinessProbe.SuccessThreshold = 2 }), nil},
		{"negative period", c0(t, func(c *Container) { c.ReadinessProbe.PeriodSeconds = -1 }), []string{"spec.containers[0].readinessProbe.periodSeconds"}},
		{"negative initial delay", c0(t, func(c *Container) { c.LivenessProbe.InitialDelaySeconds = -5 }), []string{"spec.containers[0].livenessProbe.initialDelaySeconds"}},
		{"httpGet port 0 and bad scheme", c0(t, func(c *Container) {
			c.LivenessProbe.HTTPGet.Port = FromInt(0)
			c.LivenessProbe.HTTPGet.Scheme = "FTP"
		}), []string{"spec.containers[0].livenessProbe.httpGet.port", "spec.containers[0].livenessProbe.httpGet.scheme"}},
		{"httpGet bad port name", c0(t, func(c *Container) { c.LivenessProbe.HTTPGet.Port = FromString("HTTP") }), []string{"spec.containers[0].livenessProbe.httpGet.port"}},
		{"httpGet bad header name", c0(t, func(c *Container) { c.LivenessProbe.HTTPGet.HTTPHeaders[0].Name = "X Probe" }), []string{"spec.containers[0].livenessProbe.httpGet.httpHeaders[0].name"}},
		{"readiness probe grace period", c0(t, func(c *Container) { c.ReadinessProbe.TerminationGracePeriodSeconds = refOf[int64](10) }), []string{"spec.containers[0].readinessProbe.terminationGracePeriodSeconds"}},
		{"liveness probe grace period 0", c0(t, func(c *Container) { c.LivenessProbe.TerminationGracePeriodSeconds = refOf[int64](0) }), []string{"spec.containers[0].livenessProbe.terminationGracePeriodSeconds"}},
		{"exec without command", c0(t, func(c *Container) { c.StartupProbe = &Probe{ProbeHandler: ProbeHandler{Exec: &ExecAction{}}} }), []string{"spec.containers[0].startupProbe.exec.command"}},
		{"preStop without handler", c0(t, func(c *Container) { c.Lifecycle.PreStop = &LifecycleHandler{} }), []string{"spec.containers[0].lifecycle.preStop"}},
		{"preStop negative sleep", c0(t, func(c *Container) { c.Lifecycle.PreStop.Sleep.Seconds = -1 }), []string{"spec.containers[0].lifecycle.preStop.sleep.seconds"}},
		{"postStart with two handlers", c0(t, func(c *Container) {
			c.Lifecycle.PostStart = &LifecycleHandler{Exec: &ExecAction{Command: []string{"x"}}, Sleep: &SleepAction{Seconds: 1}}
		}), []string{"spec.containers[0].lifecycle.postStart.sleep"}},
		{"init container with a probe", podWith(t, func(p *Pod) {
			p.Spec.InitContainers[0].ReadinessProbe = &Probe{ProbeHandler: ProbeHandler{Exec: &ExecAction{Command: []string{"true"}}}}
		}), []string{"spec.initContainers[0].readinessProbe"}},
		{"bad restart policy", podWith(t, func(p *Pod) { p.Spec.RestartPolicy = "Sometimes" }), []string{"spec.restartPolicy"}},
		{"DNS policy None", podWith(t, func(p *Pod) { p.Spec.DNSPolicy = "None" }), []string{"spec.dnsPolicy"}},
		{"bad pull policy", c0(t, func(c *Container) { c.ImagePullPolicy = "Sometimes" }), []string{"spec.containers[0].imagePullPolicy"}},
		{"negative grace period", podWith(t, func(p *Pod) { p.Spec.TerminationGracePeriodSeconds = refOf[int64](-1) }), []string{"spec.terminationGracePeriodSeconds"}},
		{"zero active deadline", podWith(t, func(p *Pod) { p.Spec.ActiveDeadlineSeconds = refOf[int64](0) }), []string{"spec.activeDeadlineSeconds"}},
		{"negative priority", podWith(t, func(p *Pod) { p.Spec.Priority = refOf[int32](-1) }), nil},
		{"bad preemption policy", podWith(t, func(p *Pod) { p.Spec.PreemptionPolicy = refOf(PreemptionPolicy("Sometimes")) }), []string{"spec.preemptionPolicy"}},
		{"preemption policy Never", podWith(t, func(p *Pod) { p.Spec.PreemptionPolicy = refOf(PreemptNever) }), nil},
		{"bad priority class name", podWith(t, func(p *Pod) { p.Spec.PriorityClassName = "High_Priority" }), []string{"spec.priorityClassName"}},
		{"bad scheduler name", podWith(t, func(p *Pod) { p.Spec.SchedulerName = "My Scheduler" }), []string{"spec.schedulerName"}},
		{"another scheduler", podWith(t, func(p *Pod) { p.Spec.SchedulerName = "gpu-scheduler" }), nil},
		{"bad node name", podWith(t, func(p *Pod) { p.Spec.NodeName = "Node_1" }), []string{"spec.nodeName"}},
		{"bad hostname and subdomain", podWith(t, func(p *Pod) { p.Spec.Hostname, p.Spec.Subdomain = "a.b", "c_d" }), []string{"spec.hostname", "spec.subdomain"}},
		{"image pull secret without name", podWith(t, func(p *Pod) { p.Spec.ImagePullSecrets[0].Name = "" }), []string{"spec.imagePullSecrets[0].name"}},
		{"duplicate volume", podWith(t, func(p *Pod) { p.Spec.Volumes[1].Name = "data" }), []string{"spec.volumes[1].name", "spec.containers[0].volumeMounts[1].name"}},
		{"bad volume name", podWith(t, func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "Tmp", VolumeSource: VolumeSource{EmptyDir: &EmptyDirVolumeSource{}}})
		}), []string{"spec.volumes[2].name"}},
		{"volume without source", podWith(t, func(p *Pod) { p.Spec.Volumes[0].EmptyDir = nil }), []string{"spec.volumes[0]"}},
		{"volume with two sources", podWith(t, func(p *Pod) { p.Spec.Volumes[0].HostPath = &HostPathVolumeSource{Path: "/srv"} }), []string{"spec.volumes[0].emptyDir"}},
		{"relative host path", podWith(t, func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "data", VolumeSource: VolumeSource{HostPath: &HostPathVolumeSource{Path: "srv/data"}}}
		}), []string{"spec.volumes[0].hostPath.path"}},
		{"host path with ..", podWith(t, func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "data", VolumeSource: VolumeSource{HostPath: &HostPathVolumeSource{Path: "/srv/../etc"}}}
		}), []string{"spec.volumes[0].hostPath.path"}},
		{"bad host path type", podWith(t, func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "data", VolumeSource: VolumeSource{HostPath: &HostPathVolumeSource{Path: "/srv", Type: refOf(HostPathType("Dir"))}}}
		}), []string{"spec.volumes[0].hostPath.type"}},
		{"bad emptyDir medium", podWith(t, func(p *Pod) { p.Spec.Volumes[0].EmptyDir.Medium = "Disk" }), []string{"spec.volumes[0].emptyDir.medium"}},
		{"secret volume without name and bad mode", podWith(t, func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "data", VolumeSource: VolumeSource{Secret: &SecretVolumeSource{DefaultMode: refOf[int32](0o1000)}}}
		}), []string{"spec.volumes[0].secret.secretName", "spec.volumes[0].secret.defaultMode"}},
		{"configMap item escaping the volume", podWith(t, func(p *Pod) {
			p.Spec.Volumes[1].ConfigMap.Items = []KeyToPath{{Key: "a", Path: "../a"}, {Key: "b/c", Path: "b"}}
		}), []string{"spec.volumes[1].configMap.items[0].path", "spec.volumes[1].configMap.items[1].key"}},
		{"claim without name", podWith(t, func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "data", VolumeSource: VolumeSource{PersistentVolumeClaim: &PersistentVolumeClaimVolumeSource{}}}
		}), []string{"spec.volumes[0].persistentVolumeClaim.claimName"}},
		{"mount of unknown volume", c0(t, func(c *Container) { c.VolumeMounts[0].Name = "cache" }), []string{"spec.containers[0].volumeMounts[0].name"}},
		{"relative mount path", c0(t, func(c *Container) { c.VolumeMounts[0].MountPath = "data" }), []string{"spec.containers[0].volumeMounts[0].mountPath"}},
		{"duplicate mount path", c0(t, func(c *Container) { c.VolumeMounts[1].MountPath = "/data" }), []string{"spec.containers[0].volumeMounts[1].mountPath"}},
		{"subPath escaping the volume", c0(t, func(c *Container) { c.VolumeMounts[0].SubPath = "a/../../b" }), []string{"spec.containers[0].volumeMounts[0].subPath"}},
		{"Exists toleration with a value", podWith(t, func(p *Pod) { p.Spec.Tolerations[0].Value = "x" }), []string{"spec.tolerations[0].operator"}},
		{"Equal toleration without key", podWith(t, func(p *Pod) { p.Spec.Tolerations[1].Key = "" }), []string{"spec.tolerations[1].operator"}},
		{"bad toleration operator", podWith(t, func(p *Pod) { p.Spec.Tolerations[1].Operator = "In" }), []string{"spec.tolerations[1].operator"}},
		{"bad toleration effect", podWith(t, func(p *Pod) { p.Spec.Tolerations[1].Effect = "NoRun" }), []string{"spec.tolerations[1].effect"}},
		{"tolerationSeconds without NoExecute", podWith(t, func(p *Pod) { p.Spec.Tolerations[0].Effect = TaintEffectNoSchedule }), []string{"spec.tolerations[0].effect"}},
		{"bad toleration key", podWith(t, func(p *Pod) { p.Spec.Tolerations[1].Key = "a b" }), []string{"spec.tolerations[1].key"}},
		{"node affinity In without values", podWith(t, func(p *Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values = nil
		}), []string{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values"}},
		{"node affinity bad operator", podWith(t, func(p *Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Operator = "Has"
		}), []string{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator"}},
		{"node affinity Exists with values", podWith(t, func(p *Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Operator = NodeSelectorOpExists
		}), []string{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values"}},
		{"node affinity Gt with a word", podWith(t, func(p *Pod) {
			p.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].Preference.MatchExpressions[0].Values = []string{"four"}
		}), []string{"spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].values[0]"}},
		{"node affinity weight 0", podWith(t, func(p *Pod) {
			p.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].Weight = 0
		}), []string{"spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight"}},
		{"node affinity without terms", podWith(t, func(p *Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = nil
		}), []string{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"}},
		{"node affinity bad match field", podWith(t, func(p *Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields = []NodeSelectorRequirement{{Key: "metadata.uid", Operator: NodeSelectorOpIn, Values: []string{"a"}}}
		}), []string{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key"}},
		{"anti-affinity without topology key", podWith(t, func(p *Pod) {
			p.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey = ""
		}), []string{"spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey"}},
		{"pod affinity weight 101 and bad namespace", podWith(t, func(p *Pod) {
			p.Spec.Affinity.PodAffinity = &PodAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution:  []PodAffinityTerm{{TopologyKey: "zone", Namespaces: []string{"Prod"}}},
				PreferredDuringSchedulingIgnoredDuringExecution: []WeightedPodAffinityTerm{{Weight: 101, PodAffinityTerm: PodAffinityTerm{TopologyKey: "zone"}}},
			}
		}), []string{"spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaces[0]", "spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight"}},
		{"spread with zero skew and bad action", podWith(t, func(p *Pod) {
			p.Spec.TopologySpreadConstraints[0].MaxSkew = 0
			p.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable = "Ignore"
		}), []string{"spec.topologySpreadConstraints[0].maxSkew", "spec.topologySpreadConstraints[0].whenUnsatisfiable"}},
		{"spread minDomains with ScheduleAnyway", podWith(t, func(p *Pod) { p.Spec.TopologySpreadConstraints[0].MinDomains = refOf[int32](2) }), []string{"spec.topologySpreadConstraints[0].minDomains"}},
		{"duplicate spread constraint", podWith(t, func(p *Pod) {
			p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, p.Spec.TopologySpreadConstraints[0])
		}), []string{"spec.topologySpreadConstraints[1]"}},
		{"negative run-as user", podWith(t, func(p *Pod) { p.Spec.SecurityContext.RunAsUser = refOf[int64](-1) }), []string{"spec.securityContext.runAsUser"}},
		{"privileged without escalation", c0(t, func(c *Container) { c.SecurityContext.Privileged = refOf(true) }), []string{"spec.containers[0].securityContext.allowPrivilegeEscalation"}},
		{"SYS_ADMIN without escalation", c0(t, func(c *Container) { c.SecurityContext.Capabilities.Add = []Capability{"SYS_ADMIN"} }), []string{"spec.containers[0].securityContext.allowPrivilegeEscalation"}},
		{"cap_sys_admin without escalation", c0(t, func(c *Container) { c.SecurityContext.Capabilities.Add = []Capability{"cap_sys_admin"} }), []string{"spec.containers[0].securityContext.allowPrivilegeEscalation"}},
		{"privileged with escalation unset", c0(t, func(c *Container) {
			c.SecurityContext.Privileged, c.SecurityContext.AllowPrivilegeEscalation = refOf(true), nil
		}), nil},
		{"capability names with and without CAP_", c0(t, func(c *Container) {
			c.SecurityContext.Capabilities = &Capabilities{Add: []Capability{"NET_BIND_SERVICE", "CAP_NET_RAW", "net_admin"}, Drop: []Capability{"ALL", "CAP_CHOWN"}}
		}), nil},
		{"add ALL", c0(t, func(c *Container) {
			c.SecurityContext.AllowPrivilegeEscalation = nil
			c.SecurityContext.Capabilities = &Capabilities{Add: []Capability{"ALL"}}
		}), nil},
		{"unknown and empty capabilities", c0(t, func(c *Container) {
			c.SecurityContext.Capabilities = &Capabilities{Add: []Capability{"NET_BIND_SERVICE", "NET_ADMINS", "CAP_"}, Drop: []Capability{"", "CAP_ALL"}}
		}), []string{"spec.containers[0].securityContext.capabilities.add[1]", "spec.containers[0].securityContext.capabilities.add[2]",
			"spec.containers[0].securityContext.capabilities.drop[0]", "spec.containers[0].securityContext.capabilities.drop[1]"}},
		{"init container bad capability", podWith(t, func(p *Pod) {
			p.Spec.InitContainers[0].SecurityContext = &SecurityContext{Capabilities: &Capabilities{Drop: []Capability{"SYS_MAGIC"}}}
		}), []string{"spec.initContainers[0].securityContext.capabilities.drop[0]"}},
		{"bad container run-as group", c0(t, func(c *Container) { c.SecurityContext.RunAsGroup = refOf[int64](-5) }), []string{"spec.containers[0].securityContext.runAsGroup"}},
		{"bad pod supplemental group", podWith(t, func(p *Pod) { p.Spec.SecurityContext.SupplementalGroups = []int64{1, -1} }), []string{"spec.securityContext.supplementalGroups[1]"}},
		{"bad status phase and IP", podWith(t, func(p *Pod) { p.Status.Phase, p.Status.PodIP = "Done", "10.42.0.300" }), []string{"status.phase", "status.podIP"}},
		{"bad condition status", podWith(t, func(p *Pod) { p.Status.Conditions = []PodCondition{{Type: PodReady, Status: "Yes"}} }), []string{"status.conditions[0].status"}},
	})
}

func testNamespace() *Namespace {
	n := &Namespace{ObjectMeta: ObjectMeta{Name: "team-a"}, Spec: NamespaceSpec{Finalizers: []string{"kubernetes"}}}
	Default(n)
	return n
}

func testNode(t *testing.T) *Node {
	n := &Node{
		ObjectMeta: ObjectMeta{Name: "pi-1", Labels: map[string]string{"kubernetes.io/arch": "arm64"}},
		Spec: NodeSpec{PodCIDR: "10.42.1.0/24", PodCIDRs: []string{"10.42.1.0/24", "fd42:1::/64"},
			Taints: []Taint{{Key: "dedicated", Value: "db", Effect: TaintEffectNoSchedule}}},
		Status: NodeStatus{
			Capacity:    ResourceList{ResourceCPU: mustQuantity(t, "4"), ResourceMemory: mustQuantity(t, "4Gi"), ResourcePods: mustQuantity(t, "110")},
			Allocatable: ResourceList{ResourceCPU: mustQuantity(t, "3800m"), ResourceMemory: mustQuantity(t, "3Gi"), ResourcePods: mustQuantity(t, "110")},
			Conditions:  []NodeCondition{{Type: NodeReady, Status: ConditionTrue}},
			Addresses:   []NodeAddress{{Type: NodeInternalIP, Address: "192.168.1.10"}, {Type: NodeHostName, Address: "pi-1"}},
		},
	}
	Default(n)
	return n
}

func testConfigMap() *ConfigMap {
	return &ConfigMap{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Data: map[string]string{"nginx.conf": "events {}", "MODE": "prod"}, BinaryData: map[string][]byte{"logo.png": {0x89, 'P'}}}
}

func testSecret() *Secret {
	s := &Secret{ObjectMeta: ObjectMeta{Name: "tls", Namespace: "default"}, Type: SecretTypeTLS,
		Data: map[string][]byte{TLSCertKey: []byte("cert")}, StringData: map[string]string{TLSPrivateKeyKey: "key"}}
	Default(s)
	return s
}

func testEvent() *Event {
	return &Event{ObjectMeta: ObjectMeta{Name: "web-0.17a", Namespace: "default"},
		InvolvedObject: ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-0"},
		Reason:         "Scheduled", Type: EventTypeNormal, Count: 1, Source: EventSource{Component: "scheduler"}}
}

func testService() *Service {
	s := &Service{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"}, Spec: ServiceSpec{
		Selector: map[string]string{"app": "web"},
		Ports:    []ServicePort{{Name: "http", Port: 80, TargetPort: FromString("http")}, {Name: "dns", Port: 53, Protocol: ProtocolUDP}},
	}}
	Default(s)
	return s
}

func testEndpoints() *Endpoints {
	e := &Endpoints{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"}, Subsets: []EndpointSubset{{
		Addresses:         []EndpointAddress{{IP: "10.42.1.5", NodeName: refOf("pi-1"), TargetRef: &ObjectReference{Kind: "Pod", Name: "web-0"}}},
		NotReadyAddresses: []EndpointAddress{{IP: "fd42:1::6"}},
		Ports:             []EndpointPort{{Name: "http", Port: 8080}, {Name: "dns", Port: 53, Protocol: ProtocolUDP}},
	}}}
	Default(e)
	return e
}

func TestValidateCoreKinds(t *testing.T) {
	node := func(f func(n *Node)) Object { n := testNode(t); f(n); return n }
	cm := func(f func(c *ConfigMap)) Object { c := testConfigMap(); f(c); return c }
	sec := func(f func(s *Secret)) Object { s := testSecret(); f(s); return s }
	ev := func(f func(e *Event)) Object { e := testEvent(); f(e); return e }
	ep := func(f func(e *Endpoints)) Object { e := testEndpoints(); f(e); return e }
	big := strings.Repeat("x", maxConfigSize)
	runValidationCases(t, []validationCase{
		{"namespace bad finalizer", func() Object { n := testNamespace(); n.Spec.Finalizers = []string{"a b"}; return n }(), []string{"spec.finalizers[0]"}},
		{"namespace bad phase", func() Object { n := testNamespace(); n.Status.Phase = "Gone"; return n }(), []string{"status.phase"}},
		{"node in a namespace", node(func(n *Node) { n.Namespace = "default" }), []string{"metadata.namespace"}},
		{"node bad pod CIDR", node(func(n *Node) { n.Spec.PodCIDR = "10.42.1.0/33"; n.Spec.PodCIDRs = nil }), []string{"spec.podCIDR"}},
		{"node pod CIDRs disagree", node(func(n *Node) { n.Spec.PodCIDRs[0] = "10.42.2.0/24" }), []string{"spec.podCIDRs[0]"}},
		{"taint without effect", node(func(n *Node) { n.Spec.Taints[0].Effect = "" }), []string{"spec.taints[0].effect"}},
		{"taint bad effect", node(func(n *Node) { n.Spec.Taints[0].Effect = "NoRun" }), []string{"spec.taints[0].effect"}},
		{"taint without key", node(func(n *Node) { n.Spec.Taints[0].Key = "" }), []string{"spec.taints[0].key"}},
		{"taint bad value", node(func(n *Node) { n.Spec.Taints[0].Value = "a b" }), []string{"spec.taints[0].value"}},
		{"duplicate taint", node(func(n *Node) {
			n.Spec.Taints = append(n.Spec.Taints, Taint{Key: "dedicated", Effect: TaintEffectNoSchedule})
		}), []string{"spec.taints[1]"}},
		{"same taint key, other effect", node(func(n *Node) {
			n.Spec.Taints = append(n.Spec.Taints, Taint{Key: "dedicated", Effect: TaintEffectNoExecute})
		}), nil},
		{"node unknown capacity", node(func(n *Node) { n.Status.Capacity["gpu"] = mustQuantity(t, "1") }), []string{"status.capacity[gpu]"}},
		{"node bad address", node(func(n *Node) { n.Status.Addresses[0].Address = "pi-1" }), []string{"status.addresses[0].address"}},
		{"node bad address type", node(func(n *Node) { n.Status.Addresses[1].Type = "Name" }), []string{"status.addresses[1].type"}},
		{"configmap bad key", cm(func(c *ConfigMap) { c.Data["a/b"] = "x" }), []string{"data[a/b]"}},
		{"configmap key ..", cm(func(c *ConfigMap) { c.Data[".."] = "x" }), []string{"data[..]"}},
		{"configmap key in data and binaryData", cm(func(c *ConfigMap) { c.BinaryData["MODE"] = []byte("x") }), []string{"binaryData[MODE]"}},
		{"configmap too large", cm(func(c *ConfigMap) { c.Data["big"] = big }), []string{"data"}},
		{"configmap too large with binary", cm(func(c *ConfigMap) { c.BinaryData["big"] = []byte(big[:maxConfigSize-20]) }), []string{"data"}},
		{"secret bad key", sec(func(s *Secret) { s.Data["a b"] = nil }), []string{"data[a b]"}},
		{"secret too large", sec(func(s *Secret) { s.Data["big"] = []byte(big) }), []string{"data"}},
		{"tls secret without key", sec(func(s *Secret) { delete(s.Data, TLSPrivateKeyKey) }), []string{"data[tls.key]"}},
		{"docker config secret without config", sec(func(s *Secret) { s.Type = SecretTypeDockerConfigJSON }), []string{"data[.dockerconfigjson]"}},
		{"opaque secret may hold anything", sec(func(s *Secret) { s.Type = SecretTypeOpaque; s.Data = nil }), nil},
		{"event without object", ev(func(e *Event) { e.InvolvedObject = ObjectReference{} }), []string{"involvedObject.kind", "involvedObject.name"}},
		{"event bad type", ev(func(e *Event) { e.Type = "Info" }), []string{"type"}},
		{"event without type", ev(func(e *Event) { e.Type = "" }), []string{"type"}},
		{"event about another namespace", ev(func(e *Event) { e.InvolvedObject.Namespace = "other" }), []string{"involvedObject.namespace"}},
		{"event about a node", ev(func(e *Event) { e.InvolvedObject = ObjectReference{Kind: "Node", Name: "pi-1"} }), nil},
		{"endpoints bad IP", ep(func(e *Endpoints) { e.Subsets[0].Addresses[0].IP = "web-0" }), []string{"subsets[0].addresses[0].ip"}},
		{"endpoints missing IP", ep(func(e *Endpoints) { e.Subsets[0].NotReadyAddresses[0].IP = "" }), []string{"subsets[0].notReadyAddresses[0].ip"}},
		{"endpoints port 0", ep(func(e *Endpoints) { e.Subsets[0].Ports[0].Port = 0 }), []string{"subsets[0].ports[0].port"}},
		{"endpoints unnamed port", ep(func(e *Endpoints) { e.Subsets[0].Ports[1].Name = "" }), []string{"subsets[0].ports[1].name"}},
		{"endpoints bad protocol", ep(func(e *Endpoints) { e.Subsets[0].Ports[1].Protocol = "ICMP" }), []string{"subsets[0].ports[1].protocol"}},
	})
}

func TestValidateService(t *testing.T) {
	svc := func(f func(s *ServiceSpec)) Object { s := testService(); f(&s.Spec); return s }
	runValidationCases(t, []validationCase{
		{"ExternalName", svc(func(s *ServiceSpec) { s.Type = "ExternalName" }), []string{"spec.type"}},
		{"bad type", svc(func(s *ServiceSpec) { s.Type = "Public" }), []string{"spec.type"}},
		{"headless", svc(func(s *ServiceSpec) { s.ClusterIP = ClusterIPNone }), nil},
		{"headless without ports", svc(func(s *ServiceSpec) { s.ClusterIP = ClusterIPNone; s.Ports = nil }), nil},
		{"headless NodePort", svc(func(s *ServiceSpec) { s.ClusterIP = ClusterIPNone; s.Type = ServiceTypeNodePort }), []string{"spec.clusterIP"}},
		{"bad cluster IP", svc(func(s *ServiceSpec) { s.ClusterIP = "10.43.0.256" }), []string{"spec.clusterIP"}},
		{"IPv6 cluster IP", svc(func(s *ServiceSpec) { s.ClusterIP = "fd43::10"; s.ClusterIPs = []string{"fd43::10"} }), nil},
		{"cluster IPs disagree", svc(func(s *ServiceSpec) { s.ClusterIP = "10.43.0.10"; s.ClusterIPs = []string{"10.43.0.11"} }), []string{"spec.clusterIPs[0]"}},
		{"bad external IP", svc(func(s *ServiceSpec) { s.ExternalIPs = []string{"example.com"} }), []string{"spec.externalIPs[0]"}},
		{"no ports", svc(func(s *ServiceSpec) { s.Ports = nil }), []string{"spec.ports"}},
		{"one unnamed port is fine", svc(func(s *ServiceSpec) { s.Ports = s.Ports[:1]; s.Ports[0].Name = "" }), nil},
		{"unnamed port among two", svc(func(s *ServiceSpec) { s.Ports[1].Name = "" }), []string{"spec.ports[1].name"}},
		{"duplicate port name", svc(func(s *ServiceSpec) { s.Ports[1].Name = "http" }), []string{"spec.ports[1].name"}},
		{"bad port name", svc(func(s *ServiceSpec) { s.Ports[1].Name = "DNS" }), []string{"spec.ports[1].name"}},
		{"duplicate port and protocol", svc(func(s *ServiceSpec) { s.Ports[1].Port, s.Ports[1].Protocol = 80, ProtocolTCP }), []string{"spec.ports[1]"}},
		{"same port, other protocol", svc(func(s *ServiceSpec) { s.Ports[1].Port = 80 }), nil},
		{"port 0", svc(func(s *ServiceSpec) { s.Ports[0].Port = 0 }), []string{"spec.ports[0].port"}},
		{"bad protocol", svc(func(s *ServiceSpec) { s.Ports[0].Protocol = "HTTP" }), []string{"spec.ports[0].protocol"}},
		{"bad target port name", svc(func(s *ServiceSpec) { s.Ports[0].TargetPort = FromString("Http") }), []string{"spec.ports[0].targetPort"}},
		{"target port too big", svc(func(s *ServiceSpec) { s.Ports[0].TargetPort = FromInt(65536) }), []string{"spec.ports[0].targetPort"}},
		{"node port on ClusterIP", svc(func(s *ServiceSpec) { s.Ports[0].NodePort = 30080 }), []string{"spec.ports[0].nodePort"}},
		{"node port out of range", svc(func(s *ServiceSpec) { s.Type = ServiceTypeNodePort; s.Ports[0].NodePort = 8080 }), []string{"spec.ports[0].nodePort"}},
		{"node port fine", svc(func(s *ServiceSpec) { s.Type = ServiceTypeLoadBalancer; s.Ports[0].NodePort = 30080 }), nil},
		{"duplicate node port", svc(func(s *ServiceSpec) {
			s.Type = ServiceTypeNodePort
			s.Ports[0].NodePort, s.Ports[1].NodePort, s.Ports[1].Protocol = 30080, 30080, ProtocolTCP
		}), []string{"spec.ports[1].nodePort"}},
		{"bad session affinity", svc(func(s *ServiceSpec) { s.SessionAffinity = "Cookie" }), []string{"spec.sessionAffinity"}},
		{"affinity config without ClientIP", svc(func(s *ServiceSpec) { s.SessionAffinityConfig = &SessionAffinityConfig{} }), []string{"spec.sessionAffinityConfig"}},
		{"affinity timeout 0", svc(func(s *ServiceSpec) {
			s.SessionAffinity = ServiceAffinityClientIP
			s.SessionAffinityConfig = &SessionAffinityConfig{ClientIP: &ClientIPConfig{TimeoutSeconds: refOf[int32](0)}}
		}), []string{"spec.sessionAffinityConfig.clientIP.timeoutSeconds"}},
	})
}

// testTemplate returns a valid pod template labelled app=web.
func testTemplate(t *testing.T) PodTemplateSpec {
	return PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}}, Spec: *testPodSpec(t)}
}

func testSelector() *LabelSelector {
	return &LabelSelector{MatchLabels: map[string]string{"app": "web"}}
}

func testDeployment(t *testing.T) *Deployment {
	d := &Deployment{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Spec: DeploymentSpec{Replicas: refOf[int32](3), Selector: testSelector(), Template: testTemplate(t)}}
	Default(d)
	return d
}

func testReplicaSet(t *testing.T) *ReplicaSet {
	r := &ReplicaSet{ObjectMeta: ObjectMeta{Name: "web-5d4f", Namespace: "default"},
		Spec: ReplicaSetSpec{Selector: testSelector(), Template: testTemplate(t)}}
	Default(r)
	return r
}

func testDaemonSet(t *testing.T) *DaemonSet {
	d := &DaemonSet{ObjectMeta: ObjectMeta{Name: "agent", Namespace: "kube-system"},
		Spec: DaemonSetSpec{Selector: testSelector(), Template: testTemplate(t)}}
	Default(d)
	return d
}

func testStatefulSet(t *testing.T) *StatefulSet {
	s := &StatefulSet{ObjectMeta: ObjectMeta{Name: "db", Namespace: "default"},
		Spec: StatefulSetSpec{Replicas: refOf[int32](3), Selector: testSelector(), Template: testTemplate(t), ServiceName: "db",
			VolumeClaimTemplates: []PersistentVolumeClaim{{ObjectMeta: ObjectMeta{Name: "data"}, Spec: PersistentVolumeClaimSpec{
				AccessModes: []PersistentVolumeAccessMode{ReadWriteOnce},
				Resources:   VolumeResourceRequirements{Requests: ResourceList{ResourceStorage: mustQuantity(t, "1Gi")}},
			}}}}}
	Default(s)
	return s
}

func testJob(t *testing.T) *Job {
	tmpl := testTemplate(t)
	tmpl.Spec.RestartPolicy = RestartPolicyOnFailure
	j := &Job{ObjectMeta: ObjectMeta{Name: "migrate", Namespace: "default", UID: "0b5e"}, Spec: JobSpec{Template: tmpl}}
	Default(j)
	return j
}

func testCronJob(t *testing.T) *CronJob {
	tmpl := testTemplate(t)
	tmpl.Spec.RestartPolicy = RestartPolicyNever
	c := &CronJob{ObjectMeta: ObjectMeta{Name: "backup", Namespace: "default"}, Spec: CronJobSpec{
		Schedule: "*/15 * * * *", TimeZone: refOf("Europe/Paris"),
		JobTemplate: JobTemplateSpec{Spec: JobSpec{Template: tmpl}},
	}}
	Default(c)
	return c
}

func TestValidateApps(t *testing.T) {
	dep := func(f func(s *DeploymentSpec)) Object { d := testDeployment(t); f(&d.Spec); return d }
	rs := func(f func(s *ReplicaSetSpec)) Object { r := testReplicaSet(t); f(&r.Spec); return r }
	ds := func(f func(s *DaemonSetSpec)) Object { d := testDaemonSet(t); f(&d.Spec); return d }
	sts := func(f func(s *StatefulSetSpec)) Object { s := testStatefulSet(t); f(&s.Spec); return s }
	runValidationCases(t, []validationCase{
		{"deployment without selector", dep(func(s *DeploymentSpec) { s.Selector = nil }), []string{"spec.selector"}},
		{"deployment empty selector", dep(func(s *DeploymentSpec) { s.Selector = &LabelSelector{} }), []string{"spec.selector"}},
		{"deployment selector not matching", dep(func(s *DeploymentSpec) { s.Selector.MatchLabels["app"] = "api" }), []string{"spec.template.metadata.labels"}},
		{"deployment selector with expressions", dep(func(s *DeploymentSpec) {
			s.Selector.MatchExpressions = []LabelSelectorRequirement{{Key: "tier", Operator: "In", Values: []string{"front", "back"}}}
		}), nil},
		{"deployment selector expression not matching", dep(func(s *DeploymentSpec) {
			s.Selector.MatchExpressions = []LabelSelectorRequirement{{Key: "tier", Operator: "NotIn", Values: []string{"front"}}}
		}), []string{"spec.template.metadata.labels"}},
		{"deployment negative replicas", dep(func(s *DeploymentSpec) { s.Replicas = refOf[int32](-1) }), []string{"spec.replicas"}},
		{"deployment zero replicas", dep(func(s *DeploymentSpec) { s.Replicas = refOf[int32](0) }), nil},
		{"deployment template restarts Never", dep(func(s *DeploymentSpec) { s.Template.Spec.RestartPolicy = RestartPolicyNever }), []string{"spec.template.spec.restartPolicy"}},
		{"deployment template with deadline", dep(func(s *DeploymentSpec) { s.Template.Spec.ActiveDeadlineSeconds = refOf[int64](60) }), []string{"spec.template.spec.activeDeadlineSeconds"}},
		{"deployment template container port", dep(func(s *DeploymentSpec) {
			s.Template.Spec.Containers[1].Ports = []ContainerPort{{ContainerPort: -1}}
		}), []string{"spec.template.spec.containers[1].ports[0].containerPort"}},
		{"deployment bad strategy", dep(func(s *DeploymentSpec) { s.Strategy.Type = "BlueGreen" }), []string{"spec.strategy.type"}},
		{"deployment surge and unavailable both 0", dep(func(s *DeploymentSpec) {
			s.Strategy.RollingUpdate = &RollingUpdateDeployment{MaxSurge: refOf(FromInt(0)), MaxUnavailable: refOf(FromString("0%"))}
		}), []string{"spec.strategy.rollingUpdate.maxUnavailable"}},
		{"deployment surge 0 alone", dep(func(s *DeploymentSpec) { s.Strategy.RollingUpdate.MaxSurge = refOf(FromInt(0)) }), nil},
		{"deployment bad surge", dep(func(s *DeploymentSpec) { s.Strategy.RollingUpdate.MaxSurge = refOf(FromString("ten")) }), []string{"spec.strategy.rollingUpdate.maxSurge"}},
		{"deployment negative surge", dep(func(s *DeploymentSpec) { s.Strategy.RollingUpdate.MaxSurge = refOf(FromInt(-1)) }), []string{"spec.strategy.rollingUpdate.maxSurge"}},
		{"deployment unavailable over 100%", dep(func(s *DeploymentSpec) { s.Strategy.RollingUpdate.MaxUnavailable = refOf(FromString("150%")) }), []string{"spec.strategy.rollingUpdate.maxUnavailable"}},
		{"deployment Recreate with rollingUpdate", dep(func(s *DeploymentSpec) { s.Strategy.Type = RecreateDeploymentStrategyType }), []string{"spec.strategy.rollingUpdate"}},
		{"deployment deadline not above minReady", dep(func(s *DeploymentSpec) { s.MinReadySeconds = 600 }), []string{"spec.progressDeadlineSeconds"}},
		{"deployment negative history", dep(func(s *DeploymentSpec) { s.RevisionHistoryLimit = refOf[int32](-1) }), []string{"spec.revisionHistoryLimit"}},
		{"replicaset without selector", rs(func(s *ReplicaSetSpec) { s.Selector = nil }), []string{"spec.selector"}},
		{"replicaset negative replicas", rs(func(s *ReplicaSetSpec) { s.Replicas = refOf[int32](-2) }), []string{"spec.replicas"}},
		{"replicaset template restarts OnFailure", rs(func(s *ReplicaSetSpec) { s.Template.Spec.RestartPolicy = RestartPolicyOnFailure }), []string{"spec.template.spec.restartPolicy"}},
		{"daemonset selector not matching", ds(func(s *DaemonSetSpec) { s.Template.Labels = map[string]string{"app": "agent"} }), []string{"spec.template.metadata.labels"}},
		{"daemonset OnDelete with rollingUpdate", ds(func(s *DaemonSetSpec) { s.UpdateStrategy.Type = OnDeleteDaemonSetStrategyType }), []string{"spec.updateStrategy.rollingUpdate"}},
		{"daemonset bad strategy", ds(func(s *DaemonSetSpec) { s.UpdateStrategy.Type = "Recreate"; s.UpdateStrategy.RollingUpdate = nil }), []string{"spec.updateStrategy.type"}},
		{"daemonset nothing may move", ds(func(s *DaemonSetSpec) { s.UpdateStrategy.RollingUpdate.MaxUnavailable = refOf(FromInt(0)) }), []string{"spec.updateStrategy.rollingUpdate.maxUnavailable"}},
		{"statefulset bad pod management", sts(func(s *StatefulSetSpec) { s.PodManagementPolicy = "Random" }), []string{"spec.podManagementPolicy"}},
		{"statefulset negative partition", sts(func(s *StatefulSetSpec) { s.UpdateStrategy.RollingUpdate.Partition = refOf[int32](-1) }), []string{"spec.updateStrategy.rollingUpdate.partition"}},
		{"statefulset maxUnavailable 0", sts(func(s *StatefulSetSpec) { s.UpdateStrategy.RollingUpdate.MaxUnavailable = refOf(FromInt(0)) }), []string{"spec.updateStrategy.rollingUpdate.maxUnavailable"}},
		{"statefulset bad strategy", sts(func(s *StatefulSetSpec) { s.UpdateStrategy = StatefulSetUpdateStrategy{Type: "Partitioned"} }), []string{"spec.updateStrategy.type"}},
		{"statefulset bad service name", sts(func(s *StatefulSetSpec) { s.ServiceName = "db.svc" }), []string{"spec.serviceName"}},
		{"statefulset claim without size", sts(func(s *StatefulSetSpec) { s.VolumeClaimTemplates[0].Spec.Resources.Requests = nil }), []string{"spec.volumeClaimTemplates[0].spec.resources.requests[storage]"}},
		{"statefulset claim without access mode", sts(func(s *StatefulSetSpec) { s.VolumeClaimTemplates[0].Spec.AccessModes = nil }), []string{"spec.volumeClaimTemplates[0].spec.accessModes"}},
		{"statefulset claim bad access mode", sts(func(s *StatefulSetSpec) { s.VolumeClaimTemplates[0].Spec.AccessModes[0] = "RWO" }), []string{"spec.volumeClaimTemplates[0].spec.accessModes[0]"}},
		{"statefulset claim without name", sts(func(s *StatefulSetSpec) { s.VolumeClaimTemplates[0].Name = "" }), []string{"spec.volumeClaimTemplates[0].metadata.name"}},
		{"statefulset duplicate claim", sts(func(s *StatefulSetSpec) {
			s.VolumeClaimTemplates = append(s.VolumeClaimTemplates, s.VolumeClaimTemplates[0])
		}), []string{"spec.volumeClaimTemplates[1].metadata.name"}},
		{"statefulset template restarts Never", sts(func(s *StatefulSetSpec) { s.Template.Spec.RestartPolicy = RestartPolicyNever }), []string{"spec.template.spec.restartPolicy"}},
	})
}

func TestValidateBatch(t *testing.T) {
	job := func(f func(s *JobSpec)) Object { j := testJob(t); f(&j.Spec); return j }
	cron := func(f func(c *CronJob)) Object { c := testCronJob(t); f(c); return c }
	runValidationCases(t, []validationCase{
		{"job restarts Always", job(func(s *JobSpec) { s.Template.Spec.RestartPolicy = RestartPolicyAlways }), []string{"spec.template.spec.restartPolicy"}},
		{"job without restart policy", job(func(s *JobSpec) { s.Template.Spec.RestartPolicy = "" }), []string{"spec.template.spec.restartPolicy"}},
		{"job without selector", job(func(s *JobSpec) { s.Selector = nil }), nil},
		{"job selector not matching", job(func(s *JobSpec) { s.Selector = &LabelSelector{MatchLabels: map[string]string{"app": "other"}} }), []string{"spec.template.metadata.labels"}},
		{"job negative counts", job(func(s *JobSpec) {
			s.Parallelism, s.Completions, s.BackoffLimit = refOf[int32](-1), refOf[int32](-1), refOf[int32](-1)
		}), []string{"spec.parallelism", "spec.completions", "spec.backoffLimit"}},
		{"job zero deadline", job(func(s *JobSpec) { s.ActiveDeadlineSeconds = refOf[int64](0) }), []string{"spec.activeDeadlineSeconds"}},
		{"job negative ttl", job(func(s *JobSpec) { s.TTLSecondsAfterFinished = refOf[int32](-1) }), []string{"spec.ttlSecondsAfterFinished"}},
		{"indexed job without completions", job(func(s *JobSpec) { s.CompletionMode = refOf(IndexedCompletion); s.Completions = nil }), []string{"spec.completions"}},
		{"bad completion mode", job(func(s *JobSpec) { s.CompletionMode = refOf(CompletionMode("Ordered")) }), []string{"spec.completionMode"}},
		{"job template container", job(func(s *JobSpec) { s.Template.Spec.Containers[0].Image = "" }), []string{"spec.template.spec.containers[0].image"}},
		{"cron bad schedule", cron(func(c *CronJob) { c.Spec.Schedule = "every 5 minutes" }), []string{"spec.schedule"}},
		{"cron never runs", cron(func(c *CronJob) { c.Spec.Schedule = "0 0 30 2 *" }), []string{"spec.schedule"}},
		{"cron no schedule", cron(func(c *CronJob) { c.Spec.Schedule = "" }), []string{"spec.schedule"}},
		{"cron TZ in schedule", cron(func(c *CronJob) { c.Spec.Schedule = "CRON_TZ=UTC 0 * * * *" }), []string{"spec.schedule"}},
		{"cron macro", cron(func(c *CronJob) { c.Spec.Schedule = "@hourly" }), nil},
		{"cron bad time zone", cron(func(c *CronJob) { c.Spec.TimeZone = refOf("Mars/Olympus") }), []string{"spec.timeZone"}},
		{"cron Local time zone", cron(func(c *CronJob) { c.Spec.TimeZone = refOf("Local") }), []string{"spec.timeZone"}},
		{"cron name too long", cron(func(c *CronJob) { c.Name = strings.Repeat("a", 53) }), []string{"metadata.name"}},
		{"cron bad concurrency policy", cron(func(c *CronJob) { c.Spec.ConcurrencyPolicy = "Queue" }), []string{"spec.concurrencyPolicy"}},
		{"cron negative deadline and limits", cron(func(c *CronJob) {
			c.Spec.StartingDeadlineSeconds = refOf[int64](-1)
			c.Spec.SuccessfulJobsHistoryLimit = refOf[int32](-1)
			c.Spec.FailedJobsHistoryLimit = refOf[int32](-1)
		}), []string{"spec.startingDeadlineSeconds", "spec.successfulJobsHistoryLimit", "spec.failedJobsHistoryLimit"}},
		{"cron job template restarts Always", cron(func(c *CronJob) { c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = RestartPolicyAlways }), []string{"spec.jobTemplate.spec.template.spec.restartPolicy"}},
	})
}

func TestValidateErrorTypes(t *testing.T) {
	tests := []struct {
		name  string
		obj   Object
		field string
		want  FieldErrorType
	}{
		{"missing", podWith(t, func(p *Pod) { p.Spec.Containers[0].Image = "" }), "spec.containers[0].image", FieldRequired},
		{"bad value", podWith(t, func(p *Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 }), "spec.containers[0].ports[0].containerPort", FieldInvalid},
		{"not in enum", podWith(t, func(p *Pod) { p.Spec.RestartPolicy = "Sometimes" }), "spec.restartPolicy", FieldNotSupported},
		{"duplicate", podWith(t, func(p *Pod) { p.Spec.Containers[1].Name = "app" }), "spec.containers[1].name", FieldDuplicate},
		{"forbidden", podWith(t, func(p *Pod) { p.Spec.Volumes[0].HostPath = &HostPathVolumeSource{Path: "/x"} }), "spec.volumes[0].emptyDir", FieldForbidden},
		{"too long", func() Object { c := testCronJob(t); c.Name = strings.Repeat("a", 60); return c }(), "metadata.name", FieldTooLong},
	}
	for _, tt := range tests {
		errs := Validate(tt.obj)
		if len(errs) != 1 || errs[0].Field != tt.field || errs[0].Type != tt.want {
			t.Errorf("%s: Validate = %v, want one %s error at %s", tt.name, errs, tt.want, tt.field)
		}
	}
	// The detail says what is wrong and what would be right.
	errs := Validate(func() Object { s := testService(); s.Spec.Type = "ExternalName"; return s }())
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "not supported") || !strings.Contains(errs[0].Error(), "ClusterIP") {
		t.Errorf("ExternalName: Validate = %v, want an error saying it is not supported and naming ClusterIP", errs)
	}
}
