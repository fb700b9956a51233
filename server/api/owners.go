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
