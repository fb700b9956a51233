package registry

import (
	"context"
	"fmt"
	"strings"

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

// checkAppImages refuses a pod that runs an app's built image outside the
// app's namespace: a build's image holds the app's code (and what its
// build baked in), which is its team's.
func (r *Registry) checkAppImages(ctx context.Context, p *api.Pod) error {
	var errs api.FieldErrors
	check := func(path, image string) error {
		rest, ok := strings.CutPrefix(image, api.AppImageRepository+"/")
		if !ok {
			return nil
		}
		app := rest
		if i := strings.IndexAny(app, ":@/"); i >= 0 {
			app = app[:i]
		}
		list, err := r.List(ctx, "apps", "", api.ListOptions{FieldSelector: "metadata.name=" + app})
		if err != nil {
			return err
		}
		for _, o := range list.Items {
			if o.GetObjectMeta().Namespace == p.Namespace {
				return nil
			}
		}
		errs = append(errs, api.Invalid(path, image, fmt.Sprintf("an image of app %q runs only in that app's namespace", app)))
		return nil
	}
	for i, c := range p.Spec.InitContainers {
		if err := check(fmt.Sprintf("spec.initContainers[%d].image", i), c.Image); err != nil {
			return err
		}
	}
	for i, c := range p.Spec.Containers {
		if err := check(fmt.Sprintf("spec.containers[%d].image", i), c.Image); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
