package api

// PersistentVolumeClaim asks for storage that outlives pods. skiff has
// one storage class, "local-path" (k3s's name for the same thing, so
// manifests written for k3s work): a directory on the node that first runs a
// pod using the claim. The scheduler picks that node like any other and
// writes it on the claim (AnnotationSelectedNode); from then on every pod
// using the claim goes to that node, and the claim is Bound. Deleting
// the claim deletes the directory, once no pod uses it.
type PersistentVolumeClaim struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       PersistentVolumeClaimSpec   `json:"spec,omitzero"`
	Status     PersistentVolumeClaimStatus `json:"status,omitzero"`
}

// PersistentVolumeAccessMode says how a volume may be mounted.
type PersistentVolumeAccessMode string

// The access modes. A local volume is on one node, so only the
// ReadWriteOnce kinds are served.
const (
	ReadWriteOnce    PersistentVolumeAccessMode = "ReadWriteOnce"
	ReadOnlyMany     PersistentVolumeAccessMode = "ReadOnlyMany"
	ReadWriteMany    PersistentVolumeAccessMode = "ReadWriteMany"
	ReadWriteOncePod PersistentVolumeAccessMode = "ReadWriteOncePod"
)

// StorageClassLocal is the one storage class, and the default.
const StorageClassLocal = "local-path"

// AnnotationSelectedNode names the node that holds a claim's local
// volume (the annotation Kubernetes puts on a claim whose volume waits
// for its first consumer). The scheduler writes it; removing it lets the
// next pod start the volume afresh on any node.
const AnnotationSelectedNode = "volume.kubernetes.io/selected-node"

// FinalizerPVCProtection keeps a claim that a pod uses until no pod
// does.
const FinalizerPVCProtection = "kubernetes.io/pvc-protection"

// PersistentVolumeClaimSpec is what a claim asks for. It cannot change.
type PersistentVolumeClaimSpec struct {
	AccessModes []PersistentVolumeAccessMode `json:"accessModes,omitempty"`
	// Resources.Requests["storage"] is the size wanted. A local volume
	// is a directory: the size is recorded, not enforced.
	Resources        VolumeResourceRequirements `json:"resources,omitzero"`
	StorageClassName *string                    `json:"storageClassName,omitempty"`
}

// VolumeResourceRequirements is the size of a claim.
type VolumeResourceRequirements struct {
	Limits   ResourceList `json:"limits,omitempty"`
	Requests ResourceList `json:"requests,omitempty"`
}

// ClaimPhase is where a claim is in its life.
type ClaimPhase string

// The claim phases.
const (
	// ClaimPending: no node holds the volume yet.
	ClaimPending ClaimPhase = "Pending"
	// ClaimBound: a node holds it (AnnotationSelectedNode).
	ClaimBound ClaimPhase = "Bound"
)

// PersistentVolumeClaimStatus is what a claim has.
type PersistentVolumeClaimStatus struct {
	Phase       ClaimPhase                   `json:"phase,omitempty"`
	AccessModes []PersistentVolumeAccessMode `json:"accessModes,omitempty"`
	Capacity    ResourceList                 `json:"capacity,omitempty"`
}
