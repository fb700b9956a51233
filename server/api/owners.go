package api

// ControllerOf returns the owner reference of m with controller=true, if
// any: the one object that manages m.
func ControllerOf(m *ObjectMeta) *OwnerReference {
	for i := range m.OwnerReferences {
		if r := &m.OwnerReferences[i]; r.Controller != nil && *r.Controller {
			return r
		}
	}
	return nil
}

// NewControllerRef returns the owner reference that makes o, of the
// given apiVersion and kind, the controller of what carries it, with
// blockOwnerDeletion set (foreground deletion of o waits for it).
func NewControllerRef(o Object, apiVersion, kind string) OwnerReference {
	yes := true
	m := o.GetObjectMeta()
	return OwnerReference{
		APIVersion: apiVersion, Kind: kind, Name: m.Name, UID: m.UID,
		Controller: &yes, BlockOwnerDeletion: &yes,
	}
}
