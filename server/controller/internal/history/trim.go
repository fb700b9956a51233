package history

import (
	"context"
	"errors"
	"fmt"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// DefaultLimit is how many revisions that are not live Trim keeps when
// the owner sets no revisionHistoryLimit, as in Kubernetes.
const DefaultLimit = 10

// Trim deletes the oldest of all (oldest first) beyond limit (the
// owner's revisionHistoryLimit; nil is DefaultLimit) that live does not
// report live, as Kubernetes' truncateHistory and cleanupHistory do. A
// revision already gone is no error; what names the owner in the errors
// of the deletes that failed.
func Trim(ctx context.Context, b client.Backend, all []*api.ControllerRevision, live func(*api.ControllerRevision) bool, limit *int32, what string) error {
	var old []*api.ControllerRevision
	for _, r := range all {
		if !live(r) {
			old = append(old, r)
		}
	}
	keep := DefaultLimit
	if limit != nil {
		keep = max(int(*limit), 0) // validation refuses a negative one
	}
	var errs []error
	for _, r := range old[:max(len(old)-keep, 0)] {
		uid := r.UID
		_, err := client.For[*api.ControllerRevision](b, r.Namespace).Delete(ctx, r.Name, api.DeleteOptions{Preconditions: &api.Preconditions{UID: &uid}})
		if err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete revision %s of %s: %w", r.Name, what, err))
		}
	}
	return errors.Join(errs...)
}
