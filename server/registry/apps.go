package registry

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/server/api"
)

// checkAppName refuses an App whose name another namespace's App has: an
// app's name is its git repository (/git/NAME.git) and its host name
// (NAME.<apps domain>), both cluster-wide. Callers hold r.apps.
func (r *Registry) checkAppName(ctx context.Context, app *api.App) error {
	list, err := r.List(ctx, "apps", "", api.ListOptions{FieldSelector: "metadata.name=" + app.Name})
	if err != nil {
		return err
	}
	for _, o := range list.Items {
		if m := o.GetObjectMeta(); m.Namespace != app.Namespace {
			return invalid(api.Kind{Kind: "App"}, app, api.FieldErrors{api.Invalid("metadata.name", app.Name,
				fmt.Sprintf("an app named %q exists in namespace %s; app names are unique in the cluster (they name the git repository and the host)", app.Name, m.Namespace))})
		}
	}
	return nil
}
