package client

import (
	"context"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/auth"
)

// Backend is what a typed client talks to: the API server over HTTPS
// (*HTTP, from New) or, for components inside the server process, the
// registry directly (server/registry). Both give the same answers: errors
// are of the errdefs classes, objects are defaulted and validated.
//
// resource is the plural resource name ("pods"); namespace is "" for
// cluster-scoped kinds, and for List and Watch "" means all namespaces.
type Backend interface {
	Create(ctx context.Context, resource, namespace string, obj api.Object) (api.Object, error)
	Get(ctx context.Context, resource, namespace, name string) (api.Object, error)
	List(ctx context.Context, resource, namespace string, opts api.ListOptions) (*ObjectList, error)
	// Update replaces the object; subresource "status" replaces only its status.
	Update(ctx context.Context, resource, namespace string, obj api.Object, subresource string) (api.Object, error)
	// Patch applies a JSON merge patch (RFC 7386).
	Patch(ctx context.Context, resource, namespace, name string, patch []byte, subresource string) (api.Object, error)
	Delete(ctx context.Context, resource, namespace, name string, opts api.DeleteOptions) (api.Object, error)
	Watch(ctx context.Context, resource, namespace string, opts api.ListOptions) (api.Watcher, error)
}

// ObjectList is one page of a list.
type ObjectList struct {
	Items           []api.Object
	ResourceVersion string
	Continue        string
}

// ListAll reads every page of a list (pages of opts.Limit, 500 if unset).
// The resourceVersion is the first page's: a watch from it sees every
// change made while the pages were read.
func ListAll(ctx context.Context, b Backend, resource, namespace string, opts api.ListOptions) (*ObjectList, error) {
	if opts.Limit <= 0 {
		opts.Limit = 500
	}
	all := &ObjectList{}
	for {
		page, err := b.List(ctx, resource, namespace, opts)
		if err != nil {
			return nil, err
		}
		if all.ResourceVersion == "" {
			all.ResourceVersion = page.ResourceVersion
		}
		all.Items = append(all.Items, page.Items...)
		if page.Continue == "" {
			return all, nil
		}
		opts.Continue = page.Continue
	}
}

// AsServer is b written to as the server itself, not as the identity in
// a call's context: for the server's own parts that keep credentials
// (sessions, API tokens, node certificate records) while serving
// someone's request. Reads are b's.
func AsServer(b Backend) Backend { return asServer{b} }

type asServer struct{ Backend }

func serverCtx(ctx context.Context) context.Context { return auth.WithIdentity(ctx, nil) }

func (b asServer) Create(ctx context.Context, resource, namespace string, obj api.Object) (api.Object, error) {
	return b.Backend.Create(serverCtx(ctx), resource, namespace, obj)
}

func (b asServer) Update(ctx context.Context, resource, namespace string, obj api.Object, subresource string) (api.Object, error) {
	return b.Backend.Update(serverCtx(ctx), resource, namespace, obj, subresource)
}

func (b asServer) Patch(ctx context.Context, resource, namespace, name string, patch []byte, subresource string) (api.Object, error) {
	return b.Backend.Patch(serverCtx(ctx), resource, namespace, name, patch, subresource)
}

func (b asServer) Delete(ctx context.Context, resource, namespace, name string, opts api.DeleteOptions) (api.Object, error) {
	return b.Backend.Delete(serverCtx(ctx), resource, namespace, name, opts)
}
