package api

// This file holds the core/v1 kinds other than Pod (see core_pod.go):
// Namespace, Node, ConfigMap, Secret, Event, Service and Endpoints, with the
// field names and JSON tags of Kubernetes.

// Namespace is a scope for names and for access rules.
type Namespace struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       NamespaceSpec   `json:"spec,omitzero"`
	Status     NamespaceStatus `json:"status,omitzero"`
}

// NamespaceSpec holds the finalizers that must run before a namespace is
// removed.
type NamespaceSpec struct {
	Finalizers []string `json:"finalizers,omitempty"`
}

// NamespacePhase is Active or Terminating.
type NamespacePhase string

// The namespace phases.
const (
	NamespaceActive      NamespacePhase = "Active"
	NamespaceTerminating NamespacePhase = "Terminating"
)

// NamespaceStatus is the observed state of a namespace.
type NamespaceStatus struct {
	Phase NamespacePhase `json:"phase,omitempty"`
}

// Node is a machine that runs pods.
type Node struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       NodeSpec   `json:"spec,omitzero"`
	Status     NodeStatus `json:"status,omitzero"`
}

// NodeSpec is the desired state of a node.
type NodeSpec struct {
	// PodCIDR is the node's slice of the pod network; PodCIDRs holds it
	// and, for dual stack, the IPv6 one.
	PodCIDR  string   `json:"podCIDR,omitempty"`
	PodCIDRs []string `json:"podCIDRs,omitempty"`
	// Unschedulable (cordoned): no new pods are scheduled here.
	Unschedulable bool    `json:"unschedulable,omitempty"`
	Taints        []Taint `json:"taints,omitempty"`
}

// TaintEffect is what a taint does to pods that do not tolerate it.
type TaintEffect string

// The taint effects.
const (
	TaintEffectNoSchedule       TaintEffect = "NoSchedule"
	TaintEffectPreferNoSchedule TaintEffect = "PreferNoSchedule"
	TaintEffectNoExecute        TaintEffect = "NoExecute"
)

// Taint repels pods from a node unless they tolerate it.
type Taint struct {
	Key    string      `json:"key"`
	Value  string      `json:"value,omitempty"`
	Effect TaintEffect `json:"effect"`
	// TimeAdded is set for NoExecute taints.
	TimeAdded *Time `json:"timeAdded,omitempty"`
}

// NodeStatus is the observed state of a node, written by its agent.
type NodeStatus struct {
	// Capacity is the node's total resources; Allocatable what is left
	// for pods after the system's reservations.
	Capacity    ResourceList     `json:"capacity,omitempty"`
	Allocatable ResourceList     `json:"allocatable,omitempty"`
	Conditions  []NodeCondition  `json:"conditions,omitempty"`
	Addresses   []NodeAddress    `json:"addresses,omitempty"`
	NodeInfo    NodeSystemInfo   `json:"nodeInfo,omitzero"`
	Images      []ContainerImage `json:"images,omitempty"`
	// DaemonEndpoints are the ports the node's agent serves on.
	DaemonEndpoints NodeDaemonEndpoints `json:"daemonEndpoints,omitzero"`
}

// NodeDaemonEndpoints are the ports a node's daemons listen on.
type NodeDaemonEndpoints struct {
	// AgentEndpoint is the agent's HTTPS endpoint (logs, exec), reached
	// by the API server only.
	AgentEndpoint DaemonEndpoint `json:"agentEndpoint,omitzero"`
}

// DaemonEndpoint is a port on the node's addresses.
type DaemonEndpoint struct {
	Port int32 `json:"port"`
}

// NodeConditionType names a node condition.
type NodeConditionType string

// The node condition types.
const (
	NodeReady              NodeConditionType = "Ready"
	NodeMemoryPressure     NodeConditionType = "MemoryPressure"
	NodeDiskPressure       NodeConditionType = "DiskPressure"
	NodePIDPressure        NodeConditionType = "PIDPressure"
	NodeNetworkUnavailable NodeConditionType = "NetworkUnavailable"
)

// NodeCondition is one condition of a node, such as Ready.
type NodeCondition struct {
	Type               NodeConditionType `json:"type"`
	Status             ConditionStatus   `json:"status"`
	LastHeartbeatTime  Time              `json:"lastHeartbeatTime,omitzero"`
	LastTransitionTime Time              `json:"lastTransitionTime,omitzero"`
	Reason             string            `json:"reason,omitempty"`
	Message            string            `json:"message,omitempty"`
}

// NodeAddressType says what kind of address a NodeAddress is.
type NodeAddressType string

// The node address types.
const (
	NodeHostName    NodeAddressType = "Hostname"
	NodeInternalIP  NodeAddressType = "InternalIP"
	NodeExternalIP  NodeAddressType = "ExternalIP"
	NodeInternalDNS NodeAddressType = "InternalDNS"
	NodeExternalDNS NodeAddressType = "ExternalDNS"
)

// NodeAddress is one address of a node.
type NodeAddress struct {
	Type    NodeAddressType `json:"type"`
	Address string          `json:"address"`
}

// NodeSystemInfo describes a node's machine and software. KubeletVersion
// holds the skiff agent's version.
type NodeSystemInfo struct {
	MachineID               string `json:"machineID"`
	SystemUUID              string `json:"systemUUID"`
	BootID                  string `json:"bootID"`
	KernelVersion           string `json:"kernelVersion"`
	OSImage                 string `json:"osImage"`
	ContainerRuntimeVersion string `json:"containerRuntimeVersion"`
	KubeletVersion          string `json:"kubeletVersion"`
	KubeProxyVersion        string `json:"kubeProxyVersion"`
	OperatingSystem         string `json:"operatingSystem"`
	Architecture            string `json:"architecture"`
}

// ContainerImage is an image present on a node.
type ContainerImage struct {
	Names     []string `json:"names"`
	SizeBytes int64    `json:"sizeBytes,omitempty"`
}

// ConfigMap holds configuration as keys and values.
type ConfigMap struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Immutable: once true, data may not change and the flag may not be
	// cleared.
	Immutable  *bool             `json:"immutable,omitempty"`
	Data       map[string]string `json:"data,omitempty"`
	BinaryData map[string][]byte `json:"binaryData,omitempty"`
}

// SecretType says what a Secret holds, and so which keys it must have.
type SecretType string

// The secret types.
const (
	SecretTypeOpaque           SecretType = "Opaque"
	SecretTypeDockerConfigJSON SecretType = "kubernetes.io/dockerconfigjson"
	SecretTypeBasicAuth        SecretType = "kubernetes.io/basic-auth"
	SecretTypeSSHAuth          SecretType = "kubernetes.io/ssh-auth"
	SecretTypeTLS              SecretType = "kubernetes.io/tls"
	// SecretTypeJoinToken is a join token (skiff join-token create), in
	// namespace skiff-system as join-token-<id>: the hash of its secret,
	// not the secret.
	SecretTypeJoinToken SecretType = "skiff.dev/join-token"
)

// The keys of a join token Secret.
const (
	JoinTokenIDKey          = "token-id"
	JoinTokenSecretHashKey  = "secret-sha256"
	JoinTokenExpiresKey     = "expires" // RFC 3339; absent: never
	JoinTokenNodeKey        = "node"    // the node it may rejoin as; absent: any new name
	JoinTokenDescriptionKey = "description"
)

// The keys the typed secrets must have.
const (
	DockerConfigJSONKey  = ".dockerconfigjson"
	BasicAuthUsernameKey = "username"
	BasicAuthPasswordKey = "password"
	SSHAuthPrivateKey    = "ssh-privatekey"
	TLSCertKey           = "tls.crt"
	TLSPrivateKeyKey     = "tls.key"
)

// Secret holds sensitive data; it is encrypted at rest.
type Secret struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Immutable  *bool             `json:"immutable,omitempty"`
	Data       map[string][]byte `json:"data,omitempty"`
	// StringData is a write-only convenience: Default merges it into Data
	// (it wins on a shared key) and clears it.
	StringData map[string]string `json:"stringData,omitempty"`
	Type       SecretType        `json:"type,omitempty"`
}

// Event reports something that happened to an object, for people reading
// `skiff describe`.
type Event struct {
	TypeMeta       `json:",inline"`
	ObjectMeta     `json:"metadata"`
	InvolvedObject ObjectReference `json:"involvedObject,omitzero"`
	// Reason is a short CamelCase word ("Scheduled", "BackOff").
	Reason  string      `json:"reason,omitempty"`
	Message string      `json:"message,omitempty"`
	Source  EventSource `json:"source,omitzero"`
	// FirstTimestamp, LastTimestamp and Count describe repeats of the
	// same event.
	FirstTimestamp      Time             `json:"firstTimestamp,omitzero"`
	LastTimestamp       Time             `json:"lastTimestamp,omitzero"`
	Count               int32            `json:"count,omitempty"`
	Type                string           `json:"type,omitempty"`
	Action              string           `json:"action,omitempty"`
	Related             *ObjectReference `json:"related,omitempty"`
	ReportingController string           `json:"reportingComponent,omitempty"`
	ReportingInstance   string           `json:"reportingInstance,omitempty"`
}

// The event types.
const (
	EventTypeNormal  = "Normal"
	EventTypeWarning = "Warning"
)

// ObjectReference points at an object, possibly at a field inside it.
type ObjectReference struct {
	Kind            string `json:"kind,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	UID             string `json:"uid,omitempty"`
	APIVersion      string `json:"apiVersion,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// FieldPath names part of the object, e.g. "spec.containers{web}".
	FieldPath string `json:"fieldPath,omitempty"`
}

// EventSource is the component (and node) that reported an event.
type EventSource struct {
	Component string `json:"component,omitempty"`
	Host      string `json:"host,omitempty"`
}

// Service gives a set of pods one stable virtual IP and DNS name.
type Service struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ServiceSpec   `json:"spec,omitzero"`
	Status     ServiceStatus `json:"status,omitzero"`
}

// ServiceType says how a service is exposed.
type ServiceType string

// The service types skiff supports. (Kubernetes' ExternalName is not one.)
const (
	// ServiceTypeClusterIP: a virtual IP inside the cluster.
	ServiceTypeClusterIP ServiceType = "ClusterIP"
	// ServiceTypeNodePort: also a port on every node.
	ServiceTypeNodePort ServiceType = "NodePort"
	// ServiceTypeLoadBalancer: also an external address.
	ServiceTypeLoadBalancer ServiceType = "LoadBalancer"
)

// ClusterIPNone is the clusterIP of a headless service: DNS names the pods
// directly and there is no virtual IP.
const ClusterIPNone = "None"

// ServiceAffinity is None or ClientIP.
type ServiceAffinity string

// The session affinities.
const (
	ServiceAffinityNone     ServiceAffinity = "None"
	ServiceAffinityClientIP ServiceAffinity = "ClientIP"
)

// ServiceSpec is the desired state of a service.
type ServiceSpec struct {
	Ports []ServicePort `json:"ports,omitempty"`
	// Selector picks the pods behind the service by label. Without one,
	// Endpoints are managed by hand.
	Selector map[string]string `json:"selector,omitempty"`
	// ClusterIP is assigned at creation unless given; "None" makes the
	// service headless. ClusterIPs holds it first.
	ClusterIP   string      `json:"clusterIP,omitempty"`
	ClusterIPs  []string    `json:"clusterIPs,omitempty"`
	Type        ServiceType `json:"type,omitempty"`
	ExternalIPs []string    `json:"externalIPs,omitempty"`
	// SessionAffinity ClientIP sends a client to the same pod each time.
	SessionAffinity       ServiceAffinity        `json:"sessionAffinity,omitempty"`
	SessionAffinityConfig *SessionAffinityConfig `json:"sessionAffinityConfig,omitempty"`
	// PublishNotReadyAddresses lists pods in DNS before they are ready
	// (for StatefulSet peers finding each other).
	PublishNotReadyAddresses bool `json:"publishNotReadyAddresses,omitempty"`
}

// SessionAffinityConfig tunes session affinity.
type SessionAffinityConfig struct {
	ClientIP *ClientIPConfig `json:"clientIP,omitempty"`
}

// ClientIPConfig tunes ClientIP affinity.
type ClientIPConfig struct {
	// TimeoutSeconds an idle client stays stuck to a pod; 1-86400,
	// default 10800.
	TimeoutSeconds *int32 `json:"timeoutSeconds,omitempty"`
}

// ServicePort is one port a service serves.
type ServicePort struct {
	// Name is required when there is more than one port.
	Name        string   `json:"name,omitempty"`
	Protocol    Protocol `json:"protocol,omitempty"`
	AppProtocol *string  `json:"appProtocol,omitempty"`
	Port        int32    `json:"port"`
	// TargetPort is the pods' port, a number or a container port's name.
	// Default: Port.
	TargetPort IntOrString `json:"targetPort,omitzero"`
	// NodePort (30000-32767) for NodePort and LoadBalancer services; chosen
	// at creation unless given.
	NodePort int32 `json:"nodePort,omitempty"`
}

// ServiceStatus is the observed state of a service.
type ServiceStatus struct {
	LoadBalancer LoadBalancerStatus `json:"loadBalancer,omitzero"`
}

// LoadBalancerStatus lists the external addresses of a LoadBalancer
// service.
type LoadBalancerStatus struct {
	Ingress []LoadBalancerIngress `json:"ingress,omitempty"`
}

// LoadBalancerIngress is one external address.
type LoadBalancerIngress struct {
	IP       string `json:"ip,omitempty"`
	Hostname string `json:"hostname,omitempty"`
}

// Endpoints lists the addresses behind a service; it has the service's
// name.
type Endpoints struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Subsets    []EndpointSubset `json:"subsets,omitempty"`
}

// EndpointSubset is a set of addresses that all serve the same ports.
type EndpointSubset struct {
	Addresses         []EndpointAddress `json:"addresses,omitempty"`
	NotReadyAddresses []EndpointAddress `json:"notReadyAddresses,omitempty"`
	Ports             []EndpointPort    `json:"ports,omitempty"`
}

// EndpointAddress is one address, usually a pod's.
type EndpointAddress struct {
	IP        string           `json:"ip"`
	Hostname  string           `json:"hostname,omitempty"`
	NodeName  *string          `json:"nodeName,omitempty"`
	TargetRef *ObjectReference `json:"targetRef,omitempty"`
}

// EndpointPort is one port of an EndpointSubset.
type EndpointPort struct {
	Name        string   `json:"name,omitempty"`
	Port        int32    `json:"port"`
	Protocol    Protocol `json:"protocol,omitempty"`
	AppProtocol *string  `json:"appProtocol,omitempty"`
}
