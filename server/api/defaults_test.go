package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

// refOf returns a pointer to a copy of v.
func refOf[T any](v T) *T { return &v }

// decodeAs decodes JSON into a new T or fails the test.
func decodeAs[T any](t *testing.T, s string) *T {
	t.Helper()
	out := new(T)
	if err := json.Unmarshal([]byte(s), out); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return out
}

func TestDefaultPod(t *testing.T) {
	pod := decodeAs[Pod](t, `{
		"metadata": {"name": "web", "namespace": "default"},
		"spec": {
			"volumes": [{"name": "conf", "configMap": {"name": "web"}}, {"name": "tls", "secret": {"secretName": "web", "defaultMode": 256}}],
			"initContainers": [{"name": "init", "image": "busybox"}],
			"containers": [
				{"name": "app", "image": "registry.local:5000/web:1.2",
				 "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
				 "resources": {"limits": {"cpu": "1", "memory": "128Mi"}, "requests": {"cpu": "100m"}},
				 "livenessProbe": {"httpGet": {"port": 80}},
				 "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5, "failureThreshold": 1},
				 "lifecycle": {"preStop": {"httpGet": {"port": "http", "path": "/quit"}}}},
				{"name": "latest", "image": "nginx:latest"},
				{"name": "pinned", "image": "nginx@sha256:0123456789abcdef"},
				{"name": "explicit", "image": "nginx", "imagePullPolicy": "Never"}
			]
		}
	}`)
	Default(pod)

	if got, want := pod.TypeMeta, (TypeMeta{APIVersion: "v1", Kind: "Pod"}); got != want {
		t.Errorf("TypeMeta = %+v, want %+v", got, want)
	}
	s := &pod.Spec
	checks := []struct {
		field string
		got   any
		want  any
	}{
		{"restartPolicy", s.RestartPolicy, RestartPolicyAlways},
		{"terminationGracePeriodSeconds", *s.TerminationGracePeriodSeconds, int64(30)},
		{"dnsPolicy", s.DNSPolicy, DNSClusterFirst},
		{"volumes[0].configMap.defaultMode", *s.Volumes[0].ConfigMap.DefaultMode, int32(0o644)},
		{"volumes[1].secret.defaultMode", *s.Volumes[1].Secret.DefaultMode, int32(256)},
		{"initContainers[0].imagePullPolicy", s.InitContainers[0].ImagePullPolicy, PullAlways},
		{"containers[0].imagePullPolicy", s.Containers[0].ImagePullPolicy, PullIfNotPresent},
		{"containers[1].imagePullPolicy", s.Containers[1].ImagePullPolicy, PullAlways},
		{"containers[2].imagePullPolicy", s.Containers[2].ImagePullPolicy, PullIfNotPresent},
		{"containers[3].imagePullPolicy", s.Containers[3].ImagePullPolicy, PullNever},
		{"containers[0].ports[0].protocol", s.Containers[0].Ports[0].Protocol, ProtocolTCP},
		{"containers[0].ports[1].protocol", s.Containers[0].Ports[1].Protocol, ProtocolUDP},
		{"containers[0].resources.requests[cpu]", s.Containers[0].Resources.Requests[ResourceCPU].String(), "100m"},
		{"containers[0].resources.requests[memory]", s.Containers[0].Resources.Requests[ResourceMemory].String(), "128Mi"},
		{"containers[0].livenessProbe.periodSeconds", s.Containers[0].LivenessProbe.PeriodSeconds, int32(10)},
		{"containers[0].livenessProbe.timeoutSeconds", s.Containers[0].LivenessProbe.TimeoutSeconds, int32(1)},
		{"containers[0].livenessProbe.successThreshold", s.Containers[0].LivenessProbe.SuccessThreshold, int32(1)},
		{"containers[0].livenessProbe.failureThreshold", s.Containers[0].LivenessProbe.FailureThreshold, int32(3)},
		{"containers[0].livenessProbe.httpGet.path", s.Containers[0].LivenessProbe.HTTPGet.Path, "/"},
		{"containers[0].livenessProbe.httpGet.scheme", s.Containers[0].LivenessProbe.HTTPGet.Scheme, URISchemeHTTP},
		{"containers[0].readinessProbe.periodSeconds", s.Containers[0].ReadinessProbe.PeriodSeconds, int32(5)},
		{"containers[0].readinessProbe.failureThreshold", s.Containers[0].ReadinessProbe.FailureThreshold, int32(1)},
		{"containers[0].lifecycle.preStop.httpGet.path", s.Containers[0].Lifecycle.PreStop.HTTPGet.Path, "/quit"},
		{"containers[0].lifecycle.preStop.httpGet.scheme", s.Containers[0].Lifecycle.PreStop.HTTPGet.Scheme, URISchemeHTTP},
		{"status.phase", pod.Status.Phase, PodPending},
		{"status.qosClass", pod.Status.QOSClass, PodQOSBurstable},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}

	// Defaulting twice changes nothing.
	again := Clone(pod)
	Default(again)
	if !reflect.DeepEqual(again, pod) {
		t.Errorf("Default is not idempotent:\nonce  %+v\ntwice %+v", pod, again)
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  PullPolicy
	}{
		{"nginx", PullAlways},
		{"nginx:latest", PullAlways},
		{"nginx:1.27", PullIfNotPresent},
		{"library/nginx", PullAlways},
		{"registry.local:5000/web", PullAlways},
		{"registry.local:5000/web:latest", PullAlways},
		{"registry.local:5000/web:v2", PullIfNotPresent},
		{"nginx@sha256:abcd", PullIfNotPresent},
		{"nginx:1.27@sha256:abcd", PullIfNotPresent},
	}
	for _, tt := range tests {
		if got := defaultPullPolicy(tt.image); got != tt.want {
			t.Errorf("defaultPullPolicy(%q) = %s, want %s", tt.image, got, tt.want)
		}
	}
}

func TestPodQOSClass(t *testing.T) {
	rl := func(t *testing.T, kv ...string) ResourceList {
		l := ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[kv[i]] = mustQuantity(t, kv[i+1])
		}
		return l
	}
	tests := []struct {
		name string
		res  []ResourceRequirements
		want PodQOSClass
	}{
		{"none", []ResourceRequirements{{}}, PodQOSBestEffort},
		{"limits equal requests", []ResourceRequirements{{Limits: rl(t, "cpu", "1", "memory", "1Gi"), Requests: rl(t, "cpu", "1000m", "memory", "1Gi")}}, PodQOSGuaranteed},
		{"only limits", []ResourceRequirements{{Limits: rl(t, "cpu", "1", "memory", "1Gi")}}, PodQOSGuaranteed},
		{"request below limit", []ResourceRequirements{{Limits: rl(t, "cpu", "1", "memory", "1Gi"), Requests: rl(t, "cpu", "500m")}}, PodQOSBurstable},
		{"no memory limit", []ResourceRequirements{{Limits: rl(t, "cpu", "1")}}, PodQOSBurstable},
		{"one container without", []ResourceRequirements{{Limits: rl(t, "cpu", "1", "memory", "1Gi")}, {}}, PodQOSBurstable},
		{"only requests", []ResourceRequirements{{Requests: rl(t, "memory", "1Gi")}}, PodQOSBurstable},
	}
	for _, tt := range tests {
		var spec PodSpec
		for i, r := range tt.res {
			spec.Containers = append(spec.Containers, Container{Name: string(rune('a' + i)), Image: "x", Resources: r})
		}
		defaultPodSpec(&spec, RestartPolicyAlways) // limits become requests
		if got := spec.QOSClass(); got != tt.want {
			t.Errorf("%s: QOSClass() = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestDefaultWorkloads(t *testing.T) {
	dep := &Deployment{}
	Default(dep)
	rs := &ReplicaSet{}
	Default(rs)
	ds := &DaemonSet{}
	Default(ds)
	sts := &StatefulSet{}
	Default(sts)
	recreate := &Deployment{Spec: DeploymentSpec{Strategy: DeploymentStrategy{Type: RecreateDeploymentStrategyType}}}
	Default(recreate)
	partial := &Deployment{Spec: DeploymentSpec{Replicas: refOf[int32](0), Strategy: DeploymentStrategy{RollingUpdate: &RollingUpdateDeployment{MaxSurge: refOf(FromInt(0))}}}}
	Default(partial)

	checks := []struct {
		field string
		got   any
		want  any
	}{
		{"deployment kind", dep.APIVersion + " " + dep.Kind, "apps/v1 Deployment"},
		{"deployment replicas", *dep.Spec.Replicas, int32(1)},
		{"deployment strategy", dep.Spec.Strategy.Type, RollingUpdateDeploymentStrategyType},
		{"deployment maxUnavailable", *dep.Spec.Strategy.RollingUpdate.MaxUnavailable, FromString("25%")},
		{"deployment maxSurge", *dep.Spec.Strategy.RollingUpdate.MaxSurge, FromString("25%")},
		{"deployment revisionHistoryLimit", *dep.Spec.RevisionHistoryLimit, int32(10)},
		{"deployment progressDeadlineSeconds", *dep.Spec.ProgressDeadlineSeconds, int32(600)},
		{"deployment template restartPolicy", dep.Spec.Template.Spec.RestartPolicy, RestartPolicyAlways},
		{"recreate has no rollingUpdate", recreate.Spec.Strategy.RollingUpdate == nil, true},
		{"replicas 0 kept", *partial.Spec.Replicas, int32(0)},
		{"maxSurge kept", *partial.Spec.Strategy.RollingUpdate.MaxSurge, FromInt(0)},
		{"maxUnavailable filled", *partial.Spec.Strategy.RollingUpdate.MaxUnavailable, FromString("25%")},
		{"replicaset replicas", *rs.Spec.Replicas, int32(1)},
		{"replicaset template terminationGracePeriodSeconds", *rs.Spec.Template.Spec.TerminationGracePeriodSeconds, int64(30)},
		{"daemonset strategy", ds.Spec.UpdateStrategy.Type, RollingUpdateDaemonSetStrategyType},
		{"daemonset maxUnavailable", *ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable, FromInt(1)},
		{"daemonset maxSurge", *ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge, FromInt(0)},
		{"daemonset revisionHistoryLimit", *ds.Spec.RevisionHistoryLimit, int32(10)},
		{"statefulset replicas", *sts.Spec.Replicas, int32(1)},
		{"statefulset podManagementPolicy", sts.Spec.PodManagementPolicy, OrderedReadyPodManagement},
		{"statefulset strategy", sts.Spec.UpdateStrategy.Type, RollingUpdateStatefulSetStrategyType},
		{"statefulset partition", *sts.Spec.UpdateStrategy.RollingUpdate.Partition, int32(0)},
		{"statefulset revisionHistoryLimit", *sts.Spec.RevisionHistoryLimit, int32(10)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
}

func TestDefaultJob(t *testing.T) {
	tests := []struct {
		name                     string
		spec                     JobSpec
		parallelism, completions *int32
	}{
		{"both unset", JobSpec{}, refOf[int32](1), refOf[int32](1)},
		{"parallelism set", JobSpec{Parallelism: refOf[int32](3)}, refOf[int32](3), nil},
		{"completions set", JobSpec{Completions: refOf[int32](5)}, refOf[int32](1), refOf[int32](5)},
	}
	for _, tt := range tests {
		j := &Job{ObjectMeta: ObjectMeta{Name: "migrate", UID: "u-1"}, Spec: tt.spec}
		Default(j)
		if !reflect.DeepEqual(j.Spec.Parallelism, tt.parallelism) || !reflect.DeepEqual(j.Spec.Completions, tt.completions) {
			t.Errorf("%s: parallelism %v completions %v, want %v %v", tt.name,
				fmtOptional(j.Spec.Parallelism), fmtOptional(j.Spec.Completions), fmtOptional(tt.parallelism), fmtOptional(tt.completions))
		}
		if got := *j.Spec.BackoffLimit; got != 6 {
			t.Errorf("%s: backoffLimit = %d, want 6", tt.name, got)
		}
		if got := j.Spec.Template.Spec.RestartPolicy; got != "" {
			t.Errorf("%s: template restartPolicy = %q, want it left for the user", tt.name, got)
		}
		want := &LabelSelector{MatchLabels: map[string]string{JobControllerUIDLabel: "u-1"}}
		if !reflect.DeepEqual(j.Spec.Selector, want) {
			t.Errorf("%s: selector = %+v, want %+v", tt.name, j.Spec.Selector, want)
		}
		if got := j.Spec.Template.Labels[JobNameLabel]; got != "migrate" {
			t.Errorf("%s: template label %s = %q, want migrate", tt.name, JobNameLabel, got)
		}
	}

	manual := &Job{ObjectMeta: ObjectMeta{Name: "m", UID: "u-2"}, Spec: JobSpec{ManualSelector: refOf(true)}}
	Default(manual)
	if manual.Spec.Selector != nil {
		t.Errorf("manualSelector: selector = %+v, want none generated", manual.Spec.Selector)
	}
	noUID := &Job{ObjectMeta: ObjectMeta{Name: "n"}}
	Default(noUID)
	if noUID.Spec.Selector != nil {
		t.Errorf("no uid: selector = %+v, want none generated yet", noUID.Spec.Selector)
	}
}

func TestDefaultCronJob(t *testing.T) {
	cj := &CronJob{}
	Default(cj)
	checks := []struct {
		field string
		got   any
		want  any
	}{
		{"kind", cj.APIVersion + " " + cj.Kind, "batch/v1 CronJob"},
		{"concurrencyPolicy", cj.Spec.ConcurrencyPolicy, AllowConcurrent},
		{"suspend", *cj.Spec.Suspend, false},
		{"successfulJobsHistoryLimit", *cj.Spec.SuccessfulJobsHistoryLimit, int32(3)},
		{"failedJobsHistoryLimit", *cj.Spec.FailedJobsHistoryLimit, int32(1)},
		{"template grace period", *cj.Spec.JobTemplate.Spec.Template.Spec.TerminationGracePeriodSeconds, int64(30)},
		{"job spec left for the job", cj.Spec.JobTemplate.Spec.BackoffLimit == nil, true},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
}

func TestDefaultService(t *testing.T) {
	svc := decodeAs[Service](t, `{"metadata":{"name":"web","namespace":"default"},
		"spec":{"selector":{"app":"web"},"sessionAffinity":"ClientIP",
		"ports":[{"name":"http","port":80},{"name":"dns","port":53,"protocol":"UDP","targetPort":"dns"}]}}`)
	Default(svc)
	checks := []struct {
		field string
		got   any
		want  any
	}{
		{"type", svc.Spec.Type, ServiceTypeClusterIP},
		{"sessionAffinity", svc.Spec.SessionAffinity, ServiceAffinityClientIP},
		{"timeoutSeconds", *svc.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds, int32(10800)},
		{"ports[0].protocol", svc.Spec.Ports[0].Protocol, ProtocolTCP},
		{"ports[0].targetPort", svc.Spec.Ports[0].TargetPort, FromInt(80)},
		{"ports[1].protocol", svc.Spec.Ports[1].Protocol, ProtocolUDP},
		{"ports[1].targetPort", svc.Spec.Ports[1].TargetPort, FromString("dns")},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	plain := &Service{}
	Default(plain)
	if plain.Spec.SessionAffinity != ServiceAffinityNone || plain.Spec.SessionAffinityConfig != nil {
		t.Errorf("sessionAffinity = %q with config %+v, want None without", plain.Spec.SessionAffinity, plain.Spec.SessionAffinityConfig)
	}
}

func TestDefaultSecretNamespaceEndpoints(t *testing.T) {
	sec := &Secret{Data: map[string][]byte{"a": []byte("old"), "b": []byte("keep")}, StringData: map[string]string{"a": "new", "c": "added"}}
	Default(sec)
	wantData := map[string][]byte{"a": []byte("new"), "b": []byte("keep"), "c": []byte("added")}
	if !reflect.DeepEqual(sec.Data, wantData) || sec.StringData != nil || sec.Type != SecretTypeOpaque {
		t.Errorf("secret = data %q stringData %v type %q, want data %q, no stringData, type Opaque", sec.Data, sec.StringData, sec.Type, wantData)
	}
	typed := &Secret{Type: SecretTypeTLS}
	Default(typed)
	if typed.Type != SecretTypeTLS {
		t.Errorf("secret type = %q, want it kept", typed.Type)
	}

	ns := &Namespace{}
	Default(ns)
	if ns.Status.Phase != NamespaceActive || ns.Kind != "Namespace" || ns.APIVersion != "v1" {
		t.Errorf("namespace = %+v, want phase Active, v1 Namespace", ns)
	}
	ep := &Endpoints{Subsets: []EndpointSubset{{Ports: []EndpointPort{{Port: 80}}}}}
	Default(ep)
	if got := ep.Subsets[0].Ports[0].Protocol; got != ProtocolTCP {
		t.Errorf("endpoints port protocol = %q, want TCP", got)
	}
}
