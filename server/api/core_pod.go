package api

import "slices"

// This file holds the Pod kind and the types of its spec and status, with
// the field names and JSON tags of Kubernetes' core/v1.

// Pod is one or more containers scheduled together onto a node, sharing a
// network namespace and volumes.
type Pod struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       PodSpec   `json:"spec,omitzero"`
	Status     PodStatus `json:"status,omitzero"`
}

// PodTemplateSpec is the pod a workload stamps out: labels and
// annotations, and a pod spec.
type PodTemplateSpec struct {
	ObjectMeta `json:"metadata,omitzero"`
	Spec       PodSpec `json:"spec,omitzero"`
}

// RestartPolicy says when the agent restarts a pod's exited containers.
type RestartPolicy string

// The restart policies.
const (
	RestartPolicyAlways    RestartPolicy = "Always"
	RestartPolicyOnFailure RestartPolicy = "OnFailure"
	RestartPolicyNever     RestartPolicy = "Never"
)

// DNSPolicy says which resolver a pod's containers use.
type DNSPolicy string

// The DNS policies.
const (
	// DNSClusterFirst: cluster DNS, then the node's upstream servers.
	DNSClusterFirst DNSPolicy = "ClusterFirst"
	// DNSClusterFirstWithHostNet: cluster DNS even with hostNetwork.
	DNSClusterFirstWithHostNet DNSPolicy = "ClusterFirstWithHostNet"
	// DNSDefault: the node's own resolver configuration.
	DNSDefault DNSPolicy = "Default"
)

// PodSpec is the desired state of a pod.
type PodSpec struct {
	Volumes        []Volume    `json:"volumes,omitempty"`
	InitContainers []Container `json:"initContainers,omitempty"`
	Containers     []Container `json:"containers"`
	// RestartPolicy: Always (default), OnFailure or Never.
	RestartPolicy RestartPolicy `json:"restartPolicy,omitempty"`
	// TerminationGracePeriodSeconds is how long containers get between
	// SIGTERM and SIGKILL. Default 30.
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
	// ActiveDeadlineSeconds bounds how long the pod may run, counted from
	// its start, before it is failed.
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
	// DNSPolicy: ClusterFirst (default), ClusterFirstWithHostNet or Default.
	DNSPolicy DNSPolicy `json:"dnsPolicy,omitempty"`
	// NodeSelector must match a node's labels for the pod to go there.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// NodeName is the node the pod is bound to. The scheduler sets it once.
	NodeName string `json:"nodeName,omitempty"`
	// SchedulerName names the scheduler that binds the pod: "" (or
	// "default-scheduler", or "skiff") is skiff's own; a pod naming
	// another stays Pending until that scheduler binds it.
	SchedulerName   string              `json:"schedulerName,omitempty"`
	HostNetwork     bool                `json:"hostNetwork,omitempty"`
	SecurityContext *PodSecurityContext `json:"securityContext,omitempty"`
	// ImagePullSecrets name Secrets of type kubernetes.io/dockerconfigjson
	// in the pod's namespace.
	ImagePullSecrets []LocalObjectReference `json:"imagePullSecrets,omitempty"`
	// Hostname defaults to the pod's name; with Subdomain the pod gets the
	// DNS name <hostname>.<subdomain>.<namespace>.svc.<cluster domain>.
	Hostname                  string                     `json:"hostname,omitempty"`
	Subdomain                 string                     `json:"subdomain,omitempty"`
	Affinity                  *Affinity                  `json:"affinity,omitempty"`
	Tolerations               []Toleration               `json:"tolerations,omitempty"`
	TopologySpreadConstraints []TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// PriorityClassName names the pod's PriorityClass; "" is the global
	// default class, if there is one.
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// Priority orders pods for scheduling and preemption; higher first.
	// The registry sets it from the PriorityClass on create; a pod may
	// only repeat the class's value.
	Priority *int32 `json:"priority,omitempty"`
	// PreemptionPolicy: PreemptLowerPriority (the default) or Never. Set
	// from the PriorityClass on create, like Priority.
	PreemptionPolicy *PreemptionPolicy `json:"preemptionPolicy,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	Name string `json:"name,omitempty"`
}

// PullPolicy says when the agent pulls a container's image.
type PullPolicy string

// The pull policies.
const (
	PullAlways       PullPolicy = "Always"
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullNever        PullPolicy = "Never"
)

// Container is one container of a pod.
type Container struct {
	Name       string          `json:"name"`
	Image      string          `json:"image,omitempty"`
	Command    []string        `json:"command,omitempty"`
	Args       []string        `json:"args,omitempty"`
	WorkingDir string          `json:"workingDir,omitempty"`
	Ports      []ContainerPort `json:"ports,omitempty"`
	EnvFrom    []EnvFromSource `json:"envFrom,omitempty"`
	Env        []EnvVar        `json:"env,omitempty"`
	// Resources: requests are what the scheduler reserves, limits what
	// the runtime enforces.
	Resources      ResourceRequirements `json:"resources,omitzero"`
	VolumeMounts   []VolumeMount        `json:"volumeMounts,omitempty"`
	LivenessProbe  *Probe               `json:"livenessProbe,omitempty"`
	ReadinessProbe *Probe               `json:"readinessProbe,omitempty"`
	StartupProbe   *Probe               `json:"startupProbe,omitempty"`
	Lifecycle      *Lifecycle           `json:"lifecycle,omitempty"`
	// ImagePullPolicy defaults to Always for an untagged or :latest image,
	// IfNotPresent otherwise.
	ImagePullPolicy PullPolicy       `json:"imagePullPolicy,omitempty"`
	SecurityContext *SecurityContext `json:"securityContext,omitempty"`
	// Stdin and TTY keep a stdin stream and a terminal for attach.
	Stdin bool `json:"stdin,omitempty"`
	TTY   bool `json:"tty,omitempty"`
}

// Protocol is a network protocol of a port.
type Protocol string

// The protocols.
const (
	ProtocolTCP  Protocol = "TCP"
	ProtocolUDP  Protocol = "UDP"
	ProtocolSCTP Protocol = "SCTP"
)

// ContainerPort is a port a container listens on.
type ContainerPort struct {
	// Name, if set, is an IANA service name (≤15 characters) that services
	// and probes can refer to.
	Name string `json:"name,omitempty"`
	// HostPort, if set, exposes the port on the node.
	HostPort      int32    `json:"hostPort,omitempty"`
	ContainerPort int32    `json:"containerPort"`
	Protocol      Protocol `json:"protocol,omitempty"`
	HostIP        string   `json:"hostIP,omitempty"`
}

// EnvVar is one environment variable: a value, or a reference to one.
type EnvVar struct {
	Name      string        `json:"name"`
	Value     string        `json:"value,omitempty"`
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

// EnvVarSource is where an environment variable's value comes from;
// exactly one field is set.
type EnvVarSource struct {
	FieldRef        *ObjectFieldSelector  `json:"fieldRef,omitempty"`
	ConfigMapKeyRef *ConfigMapKeySelector `json:"configMapKeyRef,omitempty"`
	SecretKeyRef    *SecretKeySelector    `json:"secretKeyRef,omitempty"`
}

// ObjectFieldSelector picks a field of the pod: metadata.name,
// metadata.namespace, metadata.uid, metadata.labels['k'],
// metadata.annotations['k'], spec.nodeName, spec.serviceAccountName,
// status.hostIP, status.hostIPs, status.podIP or status.podIPs.
type ObjectFieldSelector struct {
	APIVersion string `json:"apiVersion,omitempty"`
	FieldPath  string `json:"fieldPath"`
}

// ConfigMapKeySelector picks one key of a ConfigMap.
type ConfigMapKeySelector struct {
	LocalObjectReference `json:",inline"`
	Key                  string `json:"key"`
	// Optional: a missing ConfigMap or key leaves the variable unset
	// instead of failing the container.
	Optional *bool `json:"optional,omitempty"`
}

// SecretKeySelector picks one key of a Secret.
type SecretKeySelector struct {
	LocalObjectReference `json:",inline"`
	Key                  string `json:"key"`
	Optional             *bool  `json:"optional,omitempty"`
}

// EnvFromSource imports every key of a ConfigMap or Secret as variables;
// exactly one of ConfigMapRef and SecretRef is set.
type EnvFromSource struct {
	// Prefix is put before every imported name.
	Prefix       string              `json:"prefix,omitempty"`
	ConfigMapRef *ConfigMapEnvSource `json:"configMapRef,omitempty"`
	SecretRef    *SecretEnvSource    `json:"secretRef,omitempty"`
}

// ConfigMapEnvSource names the ConfigMap of an EnvFromSource.
type ConfigMapEnvSource struct {
	LocalObjectReference `json:",inline"`
	Optional             *bool `json:"optional,omitempty"`
}

// SecretEnvSource names the Secret of an EnvFromSource.
type SecretEnvSource struct {
	LocalObjectReference `json:",inline"`
	Optional             *bool `json:"optional,omitempty"`
}

// ResourceRequirements are a container's resource requests and limits.
type ResourceRequirements struct {
	Limits   ResourceList `json:"limits,omitempty"`
	Requests ResourceList `json:"requests,omitempty"`
}

// VolumeMount mounts one of the pod's volumes into a container.
type VolumeMount struct {
	Name      string `json:"name"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	MountPath string `json:"mountPath"`
	// SubPath mounts a path inside the volume instead of its root.
	SubPath string `json:"subPath,omitempty"`
}

// Probe is a periodic health check of a container.
type Probe struct {
	ProbeHandler        `json:",inline"`
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	// TimeoutSeconds per attempt; default 1.
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
	// PeriodSeconds between attempts; default 10.
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`
	// SuccessThreshold: consecutive successes to count as passing after a
	// failure; default 1, and 1 for liveness and startup probes.
	SuccessThreshold int32 `json:"successThreshold,omitempty"`
	// FailureThreshold: consecutive failures to count as failing; default 3.
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
	// TerminationGracePeriodSeconds overrides the pod's for a kill caused
	// by this (liveness or startup) probe.
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
}

// ProbeHandler is how a probe checks; exactly one field is set.
type ProbeHandler struct {
	Exec      *ExecAction      `json:"exec,omitempty"`
	HTTPGet   *HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket *TCPSocketAction `json:"tcpSocket,omitempty"`
}

// ExecAction runs a command in the container; exit status 0 is success.
type ExecAction struct {
	Command []string `json:"command,omitempty"`
}

// URIScheme is HTTP or HTTPS.
type URIScheme string

// The URI schemes.
const (
	URISchemeHTTP  URIScheme = "HTTP"
	URISchemeHTTPS URIScheme = "HTTPS"
)

// HTTPGetAction sends a GET; a status in [200, 400) is success.
type HTTPGetAction struct {
	// Path defaults to "/".
	Path string `json:"path,omitempty"`
	// Port is a number or the name of a container port.
	Port IntOrString `json:"port"`
	// Host defaults to the pod IP.
	Host        string       `json:"host,omitempty"`
	Scheme      URIScheme    `json:"scheme,omitempty"`
	HTTPHeaders []HTTPHeader `json:"httpHeaders,omitempty"`
}

// HTTPHeader is one request header of an HTTPGetAction.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TCPSocketAction opens a TCP connection; connecting is success.
type TCPSocketAction struct {
	Port IntOrString `json:"port"`
	Host string      `json:"host,omitempty"`
}

// Lifecycle holds hooks run after a container starts and before it is
// stopped.
type Lifecycle struct {
	PostStart *LifecycleHandler `json:"postStart,omitempty"`
	PreStop   *LifecycleHandler `json:"preStop,omitempty"`
}

// LifecycleHandler is what a hook does; exactly one field is set.
type LifecycleHandler struct {
	Exec      *ExecAction      `json:"exec,omitempty"`
	HTTPGet   *HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket *TCPSocketAction `json:"tcpSocket,omitempty"`
	Sleep     *SleepAction     `json:"sleep,omitempty"`
}

// SleepAction waits before going on, typically in preStop so that load
// balancers stop sending traffic first.
type SleepAction struct {
	Seconds int64 `json:"seconds"`
}

// Capability is a Linux capability name, such as NET_ADMIN.
type Capability string

// Capabilities adds and drops Linux capabilities.
type Capabilities struct {
	Add  []Capability `json:"add,omitempty"`
	Drop []Capability `json:"drop,omitempty"`
}

// SecurityContext is a container's security settings; they override the
// pod's. docs/api.md ("Container security defaults") lists what an
// unset field means.
type SecurityContext struct {
	// Capabilities change containerd's default set: adds and drops as
	// containerd's CRI plugin applies them, a drop winning. Adding one
	// outside the baseline set (Capability.InBaseline), ALL included,
	// needs an admin.
	Capabilities *Capabilities `json:"capabilities,omitempty"`
	// Privileged gives every capability the node has, its devices, and
	// no confinement. Needs an admin.
	Privileged             *bool  `json:"privileged,omitempty"`
	RunAsUser              *int64 `json:"runAsUser,omitempty"`
	RunAsGroup             *int64 `json:"runAsGroup,omitempty"`
	RunAsNonRoot           *bool  `json:"runAsNonRoot,omitempty"`
	ReadOnlyRootFilesystem *bool  `json:"readOnlyRootFilesystem,omitempty"`
	// AllowPrivilegeEscalation false sets no_new_privs: no process of
	// the container gains privileges through setuid or setgid binaries
	// or file capabilities. Unlike Kubernetes, unset means false too,
	// unless the container is privileged or adds CAP_SYS_ADMIN
	// (EscalationAllowed). An image that relies on setuid binaries (su,
	// sudo, a setuid ping run by a non-root user) or file capabilities
	// then fails inside the container, typically with "operation not
	// permitted" (EPERM) or as if the binary lacked them, and skiff
	// cannot tell that failure from any other exit: set it to true for
	// such an image.
	AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation,omitempty"`
}

// PodSecurityContext holds security settings for every container of a pod.
type PodSecurityContext struct {
	RunAsUser          *int64  `json:"runAsUser,omitempty"`
	RunAsGroup         *int64  `json:"runAsGroup,omitempty"`
	RunAsNonRoot       *bool   `json:"runAsNonRoot,omitempty"`
	SupplementalGroups []int64 `json:"supplementalGroups,omitempty"`
	FSGroup            *int64  `json:"fsGroup,omitempty"`
}

// Volume is a named volume that a pod's containers can mount.
type Volume struct {
	Name         string `json:"name"`
	VolumeSource `json:",inline"`
}

// VolumeSource is what backs a volume; exactly one field is set.
type VolumeSource struct {
	HostPath              *HostPathVolumeSource              `json:"hostPath,omitempty"`
	EmptyDir              *EmptyDirVolumeSource              `json:"emptyDir,omitempty"`
	Secret                *SecretVolumeSource                `json:"secret,omitempty"`
	ConfigMap             *ConfigMapVolumeSource             `json:"configMap,omitempty"`
	PersistentVolumeClaim *PersistentVolumeClaimVolumeSource `json:"persistentVolumeClaim,omitempty"`
}

// HostPathType says what must exist at a hostPath volume's path.
type HostPathType string

// The host path types. The empty type checks nothing.
const (
	HostPathUnset             HostPathType = ""
	HostPathDirectoryOrCreate HostPathType = "DirectoryOrCreate"
	HostPathDirectory         HostPathType = "Directory"
	HostPathFileOrCreate      HostPathType = "FileOrCreate"
	HostPathFile              HostPathType = "File"
	HostPathSocket            HostPathType = "Socket"
	HostPathCharDev           HostPathType = "CharDevice"
	HostPathBlockDev          HostPathType = "BlockDevice"
)

// HostPathVolumeSource mounts a path of the node.
type HostPathVolumeSource struct {
	Path string        `json:"path"`
	Type *HostPathType `json:"type,omitempty"`
}

// StorageMedium is where an emptyDir lives.
type StorageMedium string

// The storage media.
const (
	StorageMediumDefault StorageMedium = ""       // the node's disk
	StorageMediumMemory  StorageMedium = "Memory" // tmpfs
)

// EmptyDirVolumeSource is a scratch directory that lives as long as the pod.
type EmptyDirVolumeSource struct {
	Medium    StorageMedium `json:"medium,omitempty"`
	SizeLimit *Quantity     `json:"sizeLimit,omitempty"`
}

// KeyToPath projects one key of a ConfigMap or Secret to a file.
type KeyToPath struct {
	Key  string `json:"key"`
	Path string `json:"path"`
	Mode *int32 `json:"mode,omitempty"`
}

// SecretVolumeSource mounts a Secret's keys as files.
type SecretVolumeSource struct {
	SecretName string      `json:"secretName,omitempty"`
	Items      []KeyToPath `json:"items,omitempty"`
	// DefaultMode of the files; default 0644.
	DefaultMode *int32 `json:"defaultMode,omitempty"`
	Optional    *bool  `json:"optional,omitempty"`
}

// ConfigMapVolumeSource mounts a ConfigMap's keys as files.
type ConfigMapVolumeSource struct {
	LocalObjectReference `json:",inline"`
	Items                []KeyToPath `json:"items,omitempty"`
	// DefaultMode of the files; default 0644.
	DefaultMode *int32 `json:"defaultMode,omitempty"`
	Optional    *bool  `json:"optional,omitempty"`
}

// PersistentVolumeClaimVolumeSource mounts the volume bound to a claim.
type PersistentVolumeClaimVolumeSource struct {
	ClaimName string `json:"claimName"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// TolerationOperator is how a toleration matches a taint's value.
type TolerationOperator string

// The toleration operators. Empty means Equal.
const (
	TolerationOpExists TolerationOperator = "Exists"
	TolerationOpEqual  TolerationOperator = "Equal"
)

// Toleration lets a pod onto nodes with a matching taint.
type Toleration struct {
	// Key is the taint key; empty with operator Exists matches every taint.
	Key      string             `json:"key,omitempty"`
	Operator TolerationOperator `json:"operator,omitempty"`
	Value    string             `json:"value,omitempty"`
	// Effect to match; empty matches every effect.
	Effect TaintEffect `json:"effect,omitempty"`
	// TolerationSeconds, for NoExecute only: how long the pod stays after
	// the taint appears. Unset: forever.
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// Affinity holds a pod's scheduling constraints and preferences.
type Affinity struct {
	NodeAffinity    *NodeAffinity    `json:"nodeAffinity,omitempty"`
	PodAffinity     *PodAffinity     `json:"podAffinity,omitempty"`
	PodAntiAffinity *PodAntiAffinity `json:"podAntiAffinity,omitempty"`
}

// NodeAffinity constrains (required) or steers (preferred) a pod to nodes
// by their labels.
type NodeAffinity struct {
	RequiredDuringSchedulingIgnoredDuringExecution  *NodeSelector             `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
	PreferredDuringSchedulingIgnoredDuringExecution []PreferredSchedulingTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// NodeSelector matches a node if any of its terms does.
type NodeSelector struct {
	NodeSelectorTerms []NodeSelectorTerm `json:"nodeSelectorTerms"`
}

// NodeSelectorTerm matches a node if all of its requirements do.
type NodeSelectorTerm struct {
	MatchExpressions []NodeSelectorRequirement `json:"matchExpressions,omitempty"`
	// MatchFields: only metadata.name, with In or NotIn and one value.
	MatchFields []NodeSelectorRequirement `json:"matchFields,omitempty"`
}

// NodeSelectorOperator relates a node label to values.
type NodeSelectorOperator string

// The node selector operators.
const (
	NodeSelectorOpIn           NodeSelectorOperator = "In"
	NodeSelectorOpNotIn        NodeSelectorOperator = "NotIn"
	NodeSelectorOpExists       NodeSelectorOperator = "Exists"
	NodeSelectorOpDoesNotExist NodeSelectorOperator = "DoesNotExist"
	NodeSelectorOpGt           NodeSelectorOperator = "Gt"
	NodeSelectorOpLt           NodeSelectorOperator = "Lt"
)

// NodeSelectorRequirement is one condition on a node label (or field).
type NodeSelectorRequirement struct {
	Key      string               `json:"key"`
	Operator NodeSelectorOperator `json:"operator"`
	Values   []string             `json:"values,omitempty"`
}

// PreferredSchedulingTerm adds Weight (1-100) to a node's score when
// Preference matches.
type PreferredSchedulingTerm struct {
	Weight     int32            `json:"weight"`
	Preference NodeSelectorTerm `json:"preference"`
}

// PodAffinity puts a pod in the same topology domain as other pods.
type PodAffinity struct {
	RequiredDuringSchedulingIgnoredDuringExecution  []PodAffinityTerm         `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
	PreferredDuringSchedulingIgnoredDuringExecution []WeightedPodAffinityTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// PodAntiAffinity keeps a pod out of the topology domains of other pods.
type PodAntiAffinity struct {
	RequiredDuringSchedulingIgnoredDuringExecution  []PodAffinityTerm         `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
	PreferredDuringSchedulingIgnoredDuringExecution []WeightedPodAffinityTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// PodAffinityTerm selects pods (by labels, in some namespaces) and a node
// label (TopologyKey) whose value defines a domain, such as a zone.
type PodAffinityTerm struct {
	LabelSelector *LabelSelector `json:"labelSelector,omitempty"`
	// Namespaces to look in; empty means the pod's own.
	Namespaces        []string       `json:"namespaces,omitempty"`
	TopologyKey       string         `json:"topologyKey"`
	NamespaceSelector *LabelSelector `json:"namespaceSelector,omitempty"`
}

// WeightedPodAffinityTerm is a preferred PodAffinityTerm with a weight
// (1-100).
type WeightedPodAffinityTerm struct {
	Weight          int32           `json:"weight"`
	PodAffinityTerm PodAffinityTerm `json:"podAffinityTerm"`
}

// UnsatisfiableConstraintAction is what to do when a spread constraint
// cannot be met.
type UnsatisfiableConstraintAction string

// The unsatisfiable-constraint actions.
const (
	DoNotSchedule  UnsatisfiableConstraintAction = "DoNotSchedule"
	ScheduleAnyway UnsatisfiableConstraintAction = "ScheduleAnyway"
)

// TopologySpreadConstraint spreads matching pods evenly across the values
// of a node label.
type TopologySpreadConstraint struct {
	// MaxSkew is the largest allowed difference in matching pods between
	// two domains; at least 1.
	MaxSkew           int32                         `json:"maxSkew"`
	TopologyKey       string                        `json:"topologyKey"`
	WhenUnsatisfiable UnsatisfiableConstraintAction `json:"whenUnsatisfiable"`
	LabelSelector     *LabelSelector                `json:"labelSelector,omitempty"`
	MinDomains        *int32                        `json:"minDomains,omitempty"`
}

// PodPhase is where a pod is in its life.
type PodPhase string

// The pod phases.
const (
	PodPending   PodPhase = "Pending"
	PodRunning   PodPhase = "Running"
	PodSucceeded PodPhase = "Succeeded"
	PodFailed    PodPhase = "Failed"
	PodUnknown   PodPhase = "Unknown"
)

// ConditionStatus is the status of a condition.
type ConditionStatus string

// The condition statuses.
const (
	ConditionTrue    ConditionStatus = "True"
	ConditionFalse   ConditionStatus = "False"
	ConditionUnknown ConditionStatus = "Unknown"
)

// PodConditionType names a pod condition.
type PodConditionType string

// The pod condition types.
const (
	PodScheduled    PodConditionType = "PodScheduled"
	PodInitialized  PodConditionType = "Initialized"
	ContainersReady PodConditionType = "ContainersReady"
	PodReady        PodConditionType = "Ready"
)

// PodQOSClass is a pod's quality-of-service class, from its resources.
type PodQOSClass string

// The QoS classes.
const (
	// PodQOSGuaranteed: every container has limits equal to requests for
	// CPU and memory.
	PodQOSGuaranteed PodQOSClass = "Guaranteed"
	// PodQOSBurstable: some container has a request or limit.
	PodQOSBurstable PodQOSClass = "Burstable"
	// PodQOSBestEffort: no container has any.
	PodQOSBestEffort PodQOSClass = "BestEffort"
)

// PodStatus is the observed state of a pod, written by the scheduler and
// the node agent.
type PodStatus struct {
	Phase      PodPhase       `json:"phase,omitempty"`
	Conditions []PodCondition `json:"conditions,omitempty"`
	// Message and Reason say, for people and programs, why the pod is in
	// its phase (Reason: "Evicted", "DeadlineExceeded", …).
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// NominatedNodeName is where preemption made room for the pod.
	NominatedNodeName     string            `json:"nominatedNodeName,omitempty"`
	HostIP                string            `json:"hostIP,omitempty"`
	HostIPs               []HostIP          `json:"hostIPs,omitempty"`
	PodIP                 string            `json:"podIP,omitempty"`
	PodIPs                []PodIP           `json:"podIPs,omitempty"`
	StartTime             *Time             `json:"startTime,omitempty"`
	InitContainerStatuses []ContainerStatus `json:"initContainerStatuses,omitempty"`
	ContainerStatuses     []ContainerStatus `json:"containerStatuses,omitempty"`
	QOSClass              PodQOSClass       `json:"qosClass,omitempty"`
}

// PodIP is one IP address of a pod.
type PodIP struct {
	IP string `json:"ip"`
}

// HostIP is one IP address of a pod's node.
type HostIP struct {
	IP string `json:"ip"`
}

// PodCondition is one condition of a pod, such as Ready.
type PodCondition struct {
	Type               PodConditionType `json:"type"`
	Status             ConditionStatus  `json:"status"`
	LastProbeTime      Time             `json:"lastProbeTime,omitzero"`
	LastTransitionTime Time             `json:"lastTransitionTime,omitzero"`
	Reason             string           `json:"reason,omitempty"`
	Message            string           `json:"message,omitempty"`
}

// ContainerStatus is the observed state of one container.
type ContainerStatus struct {
	Name string `json:"name"`
	// State is the current state; LastTerminationState the previous run's
	// end, after a restart.
	State                ContainerState `json:"state,omitzero"`
	LastTerminationState ContainerState `json:"lastState,omitzero"`
	Ready                bool           `json:"ready"`
	RestartCount         int32          `json:"restartCount"`
	Image                string         `json:"image"`
	ImageID              string         `json:"imageID"`
	ContainerID          string         `json:"containerID,omitempty"`
	// Started: the startup probe (if any) has passed.
	Started *bool `json:"started,omitempty"`
}

// ContainerState is a container's state; at most one field is set.
type ContainerState struct {
	Waiting    *ContainerStateWaiting    `json:"waiting,omitempty"`
	Running    *ContainerStateRunning    `json:"running,omitempty"`
	Terminated *ContainerStateTerminated `json:"terminated,omitempty"`
}

// ContainerStateWaiting is a container not yet running, and why
// ("ContainerCreating", "ImagePullBackOff", "CrashLoopBackOff", …).
type ContainerStateWaiting struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ContainerStateRunning is a running container.
type ContainerStateRunning struct {
	StartedAt Time `json:"startedAt,omitzero"`
}

// ContainerStateTerminated is a container that has exited.
type ContainerStateTerminated struct {
	ExitCode    int32  `json:"exitCode"`
	Signal      int32  `json:"signal,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Message     string `json:"message,omitempty"`
	StartedAt   Time   `json:"startedAt,omitzero"`
	FinishedAt  Time   `json:"finishedAt,omitzero"`
	ContainerID string `json:"containerID,omitempty"`
}

// QOSClass computes the pod's quality-of-service class from its
// containers' requests and limits, as Kubernetes does.
func (s *PodSpec) QOSClass() PodQOSClass {
	requests := map[string]Quantity{}
	limits := map[string]Quantity{}
	guaranteed := true
	all := make([]Container, 0, len(s.InitContainers)+len(s.Containers))
	all = append(append(all, s.InitContainers...), s.Containers...)
	for _, c := range all {
		for _, name := range []string{ResourceCPU, ResourceMemory} {
			req, hasReq := c.Resources.Requests[name]
			lim, hasLim := c.Resources.Limits[name]
			if hasReq && !req.IsZero() {
				requests[name] = req
			}
			if hasLim && !lim.IsZero() {
				limits[name] = lim
			} else {
				guaranteed = false
			}
			if hasReq && hasLim && !req.Equal(lim) {
				guaranteed = false
			}
		}
	}
	switch {
	case len(requests) == 0 && len(limits) == 0:
		return PodQOSBestEffort
	case guaranteed:
		return PodQOSGuaranteed
	}
	return PodQOSBurstable
}

// SecretNames lists the Secrets the pod uses, in its namespace: its
// volumes', its containers' env and envFrom, and its image pull secrets.
// A node may read only these (and only for pods bound to it).
func (s *PodSpec) SecretNames() []string {
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, v := range s.Volumes {
		if v.Secret != nil {
			add(v.Secret.SecretName)
		}
	}
	for _, ps := range s.ImagePullSecrets {
		add(ps.Name)
	}
	for _, cs := range [][]Container{s.InitContainers, s.Containers} {
		for _, c := range cs {
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil {
					add(ef.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					add(e.ValueFrom.SecretKeyRef.Name)
				}
			}
		}
	}
	return names
}
