// Package history keeps a workload controller's revision history as
// ControllerRevisions, the way Kubernetes' StatefulSet and DaemonSet
// controllers do: one revision per pod template the owner has had,
// named <owner>-<hash>, controlled by the owner, labelled with the
// template's labels and controller-revision-hash=<hash>, holding
// {"spec":{"template":…}} and numbered, the newest highest.
//
// It finds, creates, adopts, renumbers and trims revisions, and raises
// the owner's collisionCount (through a function the controller gives)
// when a revision's name is taken. It does not read a cache, compute
// template hashes, decide which revision is current or which ones pods
// still use: the controller passes all of those in.
package history

import (
	"encoding/json"
	"errors"
	"sort"

	"github.com/skiffhq/skiff/server/api"
)

// HashLabel is the label a revision carries with its template's hash:
// the same key the controllers put on their pods (their RevisionLabel).
const HashLabel = "controller-revision-hash"

// ErrCollision: a revision of the name the owner's template should have
// exists and holds another template, or is another object's. The owner's
// collisionCount has been raised; the next sync tries the next name.
var ErrCollision = errors.New("revision name collision")

// ErrNamespaceClosing: the owner's namespace is being deleted, so no
// revision may be created in it; none need be. It is not a failure.
var ErrNamespaceClosing = errors.New("namespace is being deleted")

// Sort orders rs oldest first: by revision number, then name.
func Sort(rs []*api.ControllerRevision) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Revision != rs[j].Revision {
			return rs[i].Revision < rs[j].Revision
		}
		return rs[i].Name < rs[j].Name
	})
}

// SameTemplate reports whether r holds the template whose JSON is want:
// the two encode alike (whatever else r's data holds, such as
// Kubernetes' "$patch").
func SameTemplate(r *api.ControllerRevision, want []byte) bool {
	rt, err := r.Template()
	if err != nil {
		return false
	}
	got, err := json.Marshal(rt)
	return err == nil && string(got) == string(want)
}

// Find returns the index in all (oldest first) of the revision holding
// the template whose JSON is want, or -1. The newest, if it is named
// name (the template's revision's name), is looked at first: that is the
// revision of every sync but the first after a change.
func Find(all []*api.ControllerRevision, name string, want []byte) int {
	if n := len(all) - 1; n >= 0 && all[n].Name == name && SameTemplate(all[n], want) {
		return n
	}
	for i, r := range all {
		if SameTemplate(r, want) {
			return i
		}
	}
	return -1
}
