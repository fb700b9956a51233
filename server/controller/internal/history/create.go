package history

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/namespaces"
)

// Owner is what history needs of the workload whose revisions it keeps.
type Owner struct {
	// Namespace is the owner's, and its revisions'.
	Namespace string
	// Ref is the controller reference a revision of the owner carries;
	// its UID tells the owner's revisions from others'.
	Ref api.OwnerReference
	// Annotations are copied onto a new revision, as Kubernetes does:
	// `skiff rollout history` shows the change-cause.
	Annotations map[string]string
	// Template is the owner's pod template, the one its newest revision
	// holds; its labels label the revision too.
	Template *api.PodTemplateSpec
	// CollisionCount is the owner's status.collisionCount.
	CollisionCount *int32
	// SetCollisionCount writes count as the owner's
	// status.collisionCount.
	SetCollisionCount func(ctx context.Context, count int32) error
	// What names the owner in errors: "stateful set default/web".
	What string
}

// Record finds or makes the revision of o's template, as Kubernetes'
// getStatefulSetRevisions and constructHistory do: the newest already
// holding it is kept; an older one holding it (the owner went back to
// it) becomes the newest by taking the next number; else a revision
// named name, labelled with hash, is created (see Create). all is o's
// revisions; Record sorts it and returns the revision and all of o's
// revisions after, oldest first.
func Record(ctx context.Context, b client.Backend, o Owner, all []*api.ControllerRevision, name, hash string) (*api.ControllerRevision, []*api.ControllerRevision, error) {
	Sort(all)
	want, err := json.Marshal(o.Template)
	if err != nil {
		return nil, nil, err
	}
	next := int64(1)
	if n := len(all); n > 0 {
		next = all[n-1].Revision + 1
	}
	switch i := Find(all, name, want); {
	case i >= 0 && i == len(all)-1:
		return all[i], all, nil
	case i >= 0:
		// Back to an old template: it becomes the newest revision.
		bumped := api.Clone(all[i])
		bumped.Revision = next
		cur, err := client.For[*api.ControllerRevision](b, o.Namespace).Update(ctx, bumped)
		if err != nil {
			return nil, nil, fmt.Errorf("renumber revision %s of %s: %w", bumped.Name, o.What, err)
		}
		return cur, append(append(all[:i:i], all[i+1:]...), cur), nil
	}
	cur, err := create(ctx, b, o, name, hash, want, next)
	if err != nil {
		return nil, nil, err
	}
	return cur, append(all, cur), nil
}

// Create creates the revision of o's template named name, labelled
// with hash and numbered rev. One of that name already there (the cache
// is behind) is used if it is o's and holds the template, or adopted
// and renumbered if it is an orphan holding the template; anything else
// is a hash collision: o's collisionCount is raised and the error wraps
// ErrCollision. In a namespace being deleted it returns
// ErrNamespaceClosing.
func Create(ctx context.Context, b client.Backend, o Owner, name, hash string, rev int64) (*api.ControllerRevision, error) {
	want, err := json.Marshal(o.Template)
	if err != nil {
		return nil, err
	}
	return create(ctx, b, o, name, hash, want, rev)
}

// create is Create with the template's JSON, want, already made.
func create(ctx context.Context, b client.Backend, o Owner, name, hash string, want []byte, rev int64) (*api.ControllerRevision, error) {
	data, err := api.RevisionData(o.Template)
	if err != nil {
		return nil, err
	}
	labels := maps.Clone(o.Template.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[HashLabel] = hash
	revs := client.For[*api.ControllerRevision](b, o.Namespace)
	created, err := revs.Create(ctx, &api.ControllerRevision{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: labels, Annotations: maps.Clone(o.Annotations),
			OwnerReferences: []api.OwnerReference{o.Ref}},
		Data:     data,
		Revision: rev,
	})
	if err == nil {
		return created, nil
	}
	if errdefs.IsForbidden(err) && namespaces.Closing(ctx, b, o.Namespace) {
		return nil, ErrNamespaceClosing
	}
	if !errdefs.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create revision %s of %s: %w", name, o.What, err)
	}
	have, err := revs.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("get revision %s of %s: %w", name, o.What, err)
	}
	ref := api.ControllerOf(&have.ObjectMeta)
	switch {
	case ref != nil && ref.UID == o.Ref.UID && SameTemplate(have, want):
		return have, nil
	case ref == nil && have.DeletionTimestamp == nil && SameTemplate(have, want):
		have.OwnerReferences = append(have.OwnerReferences, o.Ref)
		have.Revision = rev
		if have, err = revs.Update(ctx, have); err != nil {
			return nil, fmt.Errorf("adopt revision %s of %s: %w", name, o.What, err)
		}
		return have, nil
	}
	count := int32(1)
	if o.CollisionCount != nil {
		count = *o.CollisionCount + 1
	}
	if err := o.SetCollisionCount(ctx, count); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%s: revision %s: %w", o.What, name, ErrCollision)
}
