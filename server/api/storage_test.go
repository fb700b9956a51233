package api

import "testing"

func testPVC() *PersistentVolumeClaim {
	c := &PersistentVolumeClaim{
		ObjectMeta: ObjectMeta{Name: "data", Namespace: "default"},
		Spec: PersistentVolumeClaimSpec{AccessModes: []PersistentVolumeAccessMode{ReadWriteOnce},
			Resources: VolumeResourceRequirements{Requests: ResourceList{ResourceStorage: NewBinaryQuantity(1 << 30)}}},
	}
	Default(c)
	return c
}

func TestDefaultPVC(t *testing.T) {
	c := testPVC()
	if c.APIVersion != "v1" || c.Kind != "PersistentVolumeClaim" {
		t.Errorf("type meta %q %q", c.APIVersion, c.Kind)
	}
	if c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != StorageClassLocal {
		t.Errorf("storageClassName %v, want %s", c.Spec.StorageClassName, StorageClassLocal)
	}
	if c.Status.Phase != ClaimPending {
		t.Errorf("phase %q, want Pending", c.Status.Phase)
	}
	s := testStatefulSet(t)
	s.Spec.VolumeClaimTemplates = []PersistentVolumeClaim{{ObjectMeta: ObjectMeta{Name: "data"}, Spec: testPVC().Spec}}
	s.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = nil
	Default(s)
	if c := s.Spec.VolumeClaimTemplates[0].Spec.StorageClassName; c == nil || *c != StorageClassLocal {
		t.Errorf("claim template storageClassName %v, want %s", c, StorageClassLocal)
	}
}

func TestValidatePVC(t *testing.T) {
	c := func(f func(c *PersistentVolumeClaim)) Object { x := testPVC(); f(x); return x }
	runValidationCases(t, []validationCase{
		{"once per pod", c(func(c *PersistentVolumeClaim) { c.Spec.AccessModes = []PersistentVolumeAccessMode{ReadWriteOncePod} }), nil},
		{"no access mode", c(func(c *PersistentVolumeClaim) { c.Spec.AccessModes = nil }), []string{"spec.accessModes"}},
		{"shared between nodes", c(func(c *PersistentVolumeClaim) { c.Spec.AccessModes = []PersistentVolumeAccessMode{ReadWriteMany} }), []string{"spec.accessModes[0]"}},
		{"unknown mode", c(func(c *PersistentVolumeClaim) { c.Spec.AccessModes = []PersistentVolumeAccessMode{"Sometimes"} }), []string{"spec.accessModes[0]"}},
		{"no size", c(func(c *PersistentVolumeClaim) { c.Spec.Resources.Requests = nil }), []string{"spec.resources.requests[storage]"}},
		{"another class", c(func(c *PersistentVolumeClaim) { c.Spec.StorageClassName = refOf("ebs-gp3") }), []string{"spec.storageClassName"}},
		{"k3s's class", c(func(c *PersistentVolumeClaim) { c.Spec.StorageClassName = refOf("local-path") }), nil},
		{"not namespaced", c(func(c *PersistentVolumeClaim) { c.Namespace = "" }), []string{"metadata.namespace"}},
		{"bad phase", c(func(c *PersistentVolumeClaim) { c.Status.Phase = "Lost" }), []string{"status.phase"}},
		{"selected node", c(func(c *PersistentVolumeClaim) { c.Annotations = map[string]string{AnnotationSelectedNode: "pi-1"} }), nil},
		{"bad selected node", c(func(c *PersistentVolumeClaim) { c.Annotations = map[string]string{AnnotationSelectedNode: "Pi 1"} }), []string{"metadata.annotations[volume.kubernetes.io/selected-node]"}},
	})
}

func TestValidatePVCUpdate(t *testing.T) {
	old := testPVC()
	old.UID = "uid-1"
	n := Clone(old)
	n.Annotations = map[string]string{AnnotationSelectedNode: "pi-1"}
	n.Status.Phase = ClaimBound
	checkFieldPaths(t, ValidateUpdate(old, n), nil)
	n = Clone(old)
	n.Spec.Resources.Requests[ResourceStorage] = NewBinaryQuantity(2 << 30)
	checkFieldPaths(t, ValidateUpdate(old, n), []string{"spec.resources.requests[storage]"})
}
