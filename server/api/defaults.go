package api

import "strings"

// Default fills the fields of obj that were left unset with the values
// Kubernetes gives them, and sets apiVersion and kind. It never overwrites
// a value that is set, so it is safe to run on every create and update.
// Validation runs after it.
func Default(obj Object) {
	SetTypeMeta(obj)
	switch o := obj.(type) {
	case *Namespace:
		if o.Status.Phase == "" {
			o.Status.Phase = NamespaceActive
		}
	case *Pod:
		defaultPodSpec(&o.Spec, RestartPolicyAlways)
		if o.Status.Phase == "" {
			o.Status.Phase = PodPending
		}
		if o.Status.QOSClass == "" {
			o.Status.QOSClass = o.Spec.QOSClass()
		}
	case *Secret:
		defaultSecret(o)
	case *Service:
		defaultServiceSpec(&o.Spec)
	case *Endpoints:
		for i := range o.Subsets {
			for j := range o.Subsets[i].Ports {
				if o.Subsets[i].Ports[j].Protocol == "" {
					o.Subsets[i].Ports[j].Protocol = ProtocolTCP
				}
			}
		}
	case *Deployment:
		defaultDeploymentSpec(&o.Spec)
	case *ReplicaSet:
		setInt32(&o.Spec.Replicas, 1)
		defaultPodSpec(&o.Spec.Template.Spec, RestartPolicyAlways)
	case *DaemonSet:
		defaultDaemonSetSpec(&o.Spec)
	case *StatefulSet:
		defaultStatefulSetSpec(&o.Spec)
	case *Job:
		defaultJob(o)
	case *CronJob:
		defaultCronJobSpec(&o.Spec)
	case *PersistentVolumeClaim:
		defaultPVCSpec(&o.Spec)
		if o.Status.Phase == "" {
			o.Status.Phase = ClaimPending
		}
	case *PriorityClass:
		if o.PreemptionPolicy == nil {
			p := PreemptLowerPriority
			o.PreemptionPolicy = &p
		}

	case *App:
		defaultApp(o)
	case *Build:
		defaultBuild(o)
	case *Release:
		defaultRelease(o)

	case *User, *Role, *RoleBinding:
		// Nothing to fill: whoever writes these says every field. An
		// unset subject kind or verb is an error, not a guess, since a
		// wrong guess grants a role to the wrong party.
	}
}

// setInt32 sets *p to v if it is unset.
func setInt32(p **int32, v int32) {
	if *p == nil {
		*p = &v
	}
}

// setInt64 sets *p to v if it is unset.
func setInt64(p **int64, v int64) {
	if *p == nil {
		*p = &v
	}
}

// defaultPodSpec defaults a pod's spec, or a workload's pod template.
// A job's template gets no restart policy: it must say OnFailure or Never.
func defaultPodSpec(s *PodSpec, restart RestartPolicy) {
	if s.RestartPolicy == "" {
		s.RestartPolicy = restart
	}
	setInt64(&s.TerminationGracePeriodSeconds, 30)
	if s.DNSPolicy == "" {
		s.DNSPolicy = DNSClusterFirst
	}
	for i := range s.InitContainers {
		defaultContainer(&s.InitContainers[i])
	}
	for i := range s.Containers {
		defaultContainer(&s.Containers[i])
	}
	for i := range s.Volumes {
		v := &s.Volumes[i]
		if v.Secret != nil {
			setInt32(&v.Secret.DefaultMode, 0o644)
		}
		if v.ConfigMap != nil {
			setInt32(&v.ConfigMap.DefaultMode, 0o644)
		}
	}
}

// defaultContainer defaults one container.
func defaultContainer(c *Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = ProtocolTCP
		}
	}
	// A limit without a request requests the limit.
	for name, limit := range c.Resources.Limits {
		if _, ok := c.Resources.Requests[name]; !ok {
			if c.Resources.Requests == nil {
				c.Resources.Requests = ResourceList{}
			}
			c.Resources.Requests[name] = limit
		}
	}
	for _, p := range []*Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p != nil {
			defaultProbe(p)
		}
	}
	if c.Lifecycle != nil {
		for _, h := range []*LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
			if h != nil && h.HTTPGet != nil {
				defaultHTTPGet(h.HTTPGet)
			}
		}
	}
}

// defaultPullPolicy is Always for an untagged or :latest image, else
// IfNotPresent. An image pinned by digest is IfNotPresent.
func defaultPullPolicy(image string) PullPolicy {
	if strings.Contains(image, "@") {
		return PullIfNotPresent
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, tagged := strings.Cut(name, ":")
	if !tagged || tag == "latest" {
		return PullAlways
	}
	return PullIfNotPresent
}

// defaultProbe defaults a probe's timing and its HTTP action.
func defaultProbe(p *Probe) {
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	if p.HTTPGet != nil {
		defaultHTTPGet(p.HTTPGet)
	}
}

// defaultHTTPGet sets path / and scheme HTTP.
func defaultHTTPGet(h *HTTPGetAction) {
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = URISchemeHTTP
	}
}

// defaultSecret sets type Opaque and moves stringData into data.
func defaultSecret(s *Secret) {
	if s.Type == "" {
		s.Type = SecretTypeOpaque
	}
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = make(map[string][]byte, len(s.StringData))
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
}

// defaultServiceSpec defaults a service's type, affinity and ports.
func defaultServiceSpec(s *ServiceSpec) {
	if s.Type == "" {
		s.Type = ServiceTypeClusterIP
	}
	if s.SessionAffinity == "" {
		s.SessionAffinity = ServiceAffinityNone
	}
	if s.SessionAffinity == ServiceAffinityClientIP {
		if s.SessionAffinityConfig == nil {
			s.SessionAffinityConfig = &SessionAffinityConfig{}
		}
		if s.SessionAffinityConfig.ClientIP == nil {
			s.SessionAffinityConfig.ClientIP = &ClientIPConfig{}
		}
		setInt32(&s.SessionAffinityConfig.ClientIP.TimeoutSeconds, 10800)
	}
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Protocol == "" {
			p.Protocol = ProtocolTCP
		}
		if p.TargetPort == (IntOrString{}) {
			p.TargetPort = FromInt(p.Port)
		}
	}
}

// defaultDeploymentSpec defaults replicas, strategy and limits.
func defaultDeploymentSpec(s *DeploymentSpec) {
	setInt32(&s.Replicas, 1)
	if s.Strategy.Type == "" {
		s.Strategy.Type = RollingUpdateDeploymentStrategyType
	}
	if s.Strategy.Type == RollingUpdateDeploymentStrategyType {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &RollingUpdateDeployment{}
		}
		setIntOrString(&s.Strategy.RollingUpdate.MaxUnavailable, FromString("25%"))
		setIntOrString(&s.Strategy.RollingUpdate.MaxSurge, FromString("25%"))
	}
	setInt32(&s.RevisionHistoryLimit, 10)
	setInt32(&s.ProgressDeadlineSeconds, 600)
	defaultPodSpec(&s.Template.Spec, RestartPolicyAlways)
}

// setIntOrString sets *p to v if it is unset.
func setIntOrString(p **IntOrString, v IntOrString) {
	if *p == nil {
		*p = &v
	}
}

// defaultDaemonSetSpec defaults the update strategy and history limit.
func defaultDaemonSetSpec(s *DaemonSetSpec) {
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = RollingUpdateDaemonSetStrategyType
	}
	if s.UpdateStrategy.Type == RollingUpdateDaemonSetStrategyType {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &RollingUpdateDaemonSet{}
		}
		setIntOrString(&s.UpdateStrategy.RollingUpdate.MaxUnavailable, FromInt(1))
		setIntOrString(&s.UpdateStrategy.RollingUpdate.MaxSurge, FromInt(0))
	}
	setInt32(&s.RevisionHistoryLimit, 10)
	defaultPodSpec(&s.Template.Spec, RestartPolicyAlways)
}

// defaultPVCSpec gives a claim the one storage class.
func defaultPVCSpec(s *PersistentVolumeClaimSpec) {
	if s.StorageClassName == nil || *s.StorageClassName == "" {
		c := StorageClassLocal
		s.StorageClassName = &c
	}
}

// defaultStatefulSetSpec defaults replicas, policies, limits and the
// claim templates' storage class.
func defaultStatefulSetSpec(s *StatefulSetSpec) {
	for i := range s.VolumeClaimTemplates {
		defaultPVCSpec(&s.VolumeClaimTemplates[i].Spec)
	}
	setInt32(&s.Replicas, 1)
	if s.PodManagementPolicy == "" {
		s.PodManagementPolicy = OrderedReadyPodManagement
	}
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = RollingUpdateStatefulSetStrategyType
	}
	if s.UpdateStrategy.Type == RollingUpdateStatefulSetStrategyType {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &RollingUpdateStatefulSetStrategy{}
		}
		setInt32(&s.UpdateStrategy.RollingUpdate.Partition, 0)
	}
	setInt32(&s.RevisionHistoryLimit, 10)
	defaultPodSpec(&s.Template.Spec, RestartPolicyAlways)
}

// defaultJob defaults a job's counts and, as Kubernetes does at creation,
// generates its selector and pod labels from its uid unless the user
// manages the selector. Run it once the job has its uid.
func defaultJob(j *Job) {
	defaultJobSpec(&j.Spec)
	manual := j.Spec.ManualSelector != nil && *j.Spec.ManualSelector
	if j.Spec.Selector == nil && !manual && j.UID != "" {
		j.Spec.Selector = &LabelSelector{MatchLabels: map[string]string{JobControllerUIDLabel: j.UID}}
		if j.Spec.Template.Labels == nil {
			j.Spec.Template.Labels = map[string]string{}
		}
		j.Spec.Template.Labels[JobControllerUIDLabel] = j.UID
		if j.Name != "" {
			j.Spec.Template.Labels[JobNameLabel] = j.Name
		}
	}
}

// defaultJobSpec defaults parallelism, completions, backoff and the pod
// template.
func defaultJobSpec(s *JobSpec) {
	if s.Completions == nil && s.Parallelism == nil {
		setInt32(&s.Completions, 1)
	}
	setInt32(&s.Parallelism, 1)
	setInt32(&s.BackoffLimit, 6)
	if s.CompletionMode == nil {
		m := NonIndexedCompletion
		s.CompletionMode = &m
	}
	if s.Suspend == nil {
		f := false
		s.Suspend = &f
	}
	defaultPodSpec(&s.Template.Spec, "")
}

// defaultCronJobSpec defaults the policy, history limits and the job's pod
// template. The job spec's own defaults apply when a job is created.
func defaultCronJobSpec(s *CronJobSpec) {
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = AllowConcurrent
	}
	if s.Suspend == nil {
		f := false
		s.Suspend = &f
	}
	setInt32(&s.SuccessfulJobsHistoryLimit, 3)
	setInt32(&s.FailedJobsHistoryLimit, 1)
	defaultPodSpec(&s.JobTemplate.Spec.Template.Spec, "")
}
