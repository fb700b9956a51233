package dns

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// Source feeds the server's index: Run tells u of every service and
// endpoints object, calls u.MarkSynced once it has told of all that
// existed when it started, then tells of every change until ctx ends.
type Source interface {
	Run(ctx context.Context, u Updater) error
}

// Updater takes the changes a Source sees. Calls may come from several
// goroutines; objects are shared and not modified.
type Updater interface {
	// UpdateService says svc is the service's state now; nil: deleted.
	UpdateService(namespace, name string, svc *api.Service)
	// UpdateEndpoints says ep is the endpoints' state now; nil: deleted.
	UpdateEndpoints(namespace, name string, ep *api.Endpoints)
	// MarkSynced says the first full list has been delivered.
	MarkSynced()
}

// InformerSource is a Source backed by informers of every Service and
// Endpoints: the server's names follow each informer event.
type InformerSource struct {
	services  *client.Informer[*api.Service]
	endpoints *client.Informer[*api.Endpoints]
}

var _ Source = (*InformerSource)(nil)

// NewInformerSource returns a Source over the set's shared informers of
// all namespaces' services and endpoints (shared with, say, the service
// proxy in the same agent).
func NewInformerSource(f *client.Informers) *InformerSource {
	return &InformerSource{
		services:  client.Shared[*api.Service](f, "", api.ListOptions{}),
		endpoints: client.Shared[*api.Endpoints](f, "", api.ListOptions{}),
	}
}

// Run registers handlers that update u and runs both informers until ctx
// ends, when the handlers are removed (the informers may run on for
// their other users).
func (s *InformerSource) Run(ctx context.Context, u Updater) error {
	s.services.AddHandlerUntil(ctx, client.HandlerFuncs[*api.Service]{
		AddFunc:    func(o *api.Service) { u.UpdateService(o.Namespace, o.Name, o) },
		UpdateFunc: func(_, o *api.Service) { u.UpdateService(o.Namespace, o.Name, o) },
		DeleteFunc: func(o *api.Service) { u.UpdateService(o.Namespace, o.Name, nil) },
	})
	s.endpoints.AddHandlerUntil(ctx, client.HandlerFuncs[*api.Endpoints]{
		AddFunc:    func(o *api.Endpoints) { u.UpdateEndpoints(o.Namespace, o.Name, o) },
		UpdateFunc: func(_, o *api.Endpoints) { u.UpdateEndpoints(o.Namespace, o.Name, o) },
		DeleteFunc: func(o *api.Endpoints) { u.UpdateEndpoints(o.Namespace, o.Name, nil) },
	})
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.services.Run(gctx) })
	g.Go(func() error { return s.endpoints.Run(gctx) })
	g.Go(func() error {
		if s.services.WaitForSync(gctx) && s.endpoints.WaitForSync(gctx) {
			u.MarkSynced()
		}
		return nil
	})
	return g.Wait()
}
