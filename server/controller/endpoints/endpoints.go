// Package endpoints is the endpoints controller, as Kubernetes has it:
// for each Service with a selector it keeps one Endpoints object of the
// same name listing the service's pods — the ready ones as addresses,
// those not ready or terminating as notReadyAddresses — with the ports
// they serve the service's ports on (subsets.go). The Endpoints object is
// controlled by its Service (an owner reference), so the garbage
// collector deletes it with the service. A service without a selector is
// left alone: its Endpoints are its user's.
//
// It is level-triggered: shared informers of services, pods and
// endpoints feed a work queue of service keys ("namespace/name"). A
// service is queued when it changes, when a pod it selects (before or
// after the change) changes in a way endpoints show, and when its
// Endpoints change or go; each sync computes the Endpoints from the
// caches and writes only when they differ from the stored ones, so a
// resync of an unchanged cluster writes nothing.
//
//	services ─┐
//	pods ─────┼─► queue of service keys ─► sync: compute ─► differs? ─► create/update Endpoints
//	endpoints ┘
//
// It does not program the data path (netstack/proxy reads the
// Endpoints), answer DNS, or allocate cluster IPs (the registry does).
package endpoints

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
	"github.com/skiffhq/skiff/server/controller/internal/worker"
	"github.com/skiffhq/skiff/server/controller/record"
)

// Config says where the services are and how hard to work on them.
type Config struct {
	Backend client.Backend
	// Informers is the shared informer set to read from (the server's);
	// nil makes one of the controller's own over Backend.
	Informers *client.Informers
	// Workers is how many services are synced at once (default 5, as
	// Kubernetes' --concurrent-endpoint-syncs: a sync is mostly waiting
	// for its write, and the store batches concurrent writes).
	Workers int
	// Events records Events about services (a Warning when a service's
	// selector has matched no pod for NoPodsWarningAfter); nil means a
	// recorder of the controller's own.
	Events record.Eventer
	// NoPodsWarningAfter is how long a service's selector may match no
	// pod before the service gets a Warning (default 10 s: a Service
	// applied with its Deployment has pods a moment later).
	NoPodsWarningAfter time.Duration
	Log                *slog.Logger
}

// Validate says what is wrong with the settings.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("endpoints: a backend is required")
	}
	if c.Workers < 0 {
		return errors.New("endpoints: workers may not be negative")
	}
	return nil
}

// Controller is the endpoints controller.
type Controller struct {
	cfg       Config
	log       *slog.Logger
	services  *client.Informer[*api.Service]
	pods      *client.Informer[*api.Pod]
	endpoints *client.Informer[*api.Endpoints]
	queue     *client.Queue[string]
	written   lastWrites
	events    *record.Given
	// unselected holds, by UID, the services whose selector matches no
	// pod: since when, and whether they were told so.
	unselectedMu sync.Mutex
	unselected   map[string]*unselected
}

type unselected struct {
	since time.Time
	told  bool
}

// New builds a controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Workers == 0 {
		cfg.Workers = 5
	}
	if cfg.NoPodsWarningAfter == 0 {
		cfg.NoPodsWarningAfter = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Informers == nil {
		cfg.Informers = client.NewInformers(cfg.Backend, cfg.Log)
	}
	c := &Controller{
		cfg:        cfg,
		log:        cfg.Log,
		services:   client.Shared[*api.Service](cfg.Informers, "", api.ListOptions{}),
		pods:       client.Shared[*api.Pod](cfg.Informers, "", api.ListOptions{}),
		endpoints:  client.Shared[*api.Endpoints](cfg.Informers, "", api.ListOptions{}),
		queue:      client.NewQueue[string](nil),
		events:     record.OrNew(cfg.Events, cfg.Backend, "endpoints-controller", nil, cfg.Log),
		unselected: map[string]*unselected{},
	}
	c.services.AddIndex(bySelectorLabel, selectorLabelIndex)
	c.pods.AddIndex(byPodLabel, podLabelIndex)
	c.services.AddHandler(client.HandlerFuncs[*api.Service]{
		AddFunc:    func(s *api.Service) { c.queue.Add(key(s)) },
		UpdateFunc: func(_, s *api.Service) { c.queue.Add(key(s)) },
		DeleteFunc: func(s *api.Service) {
			c.written.forget(key(s))
			c.noteSelected(s, true)
			c.events.Forget(string(s.UID))
		},
	})
	c.pods.AddHandler(client.HandlerFuncs[*api.Pod]{
		AddFunc:    c.podAdded,
		UpdateFunc: c.podUpdated,
		DeleteFunc: c.podAdded, // the same services lose it
	})
	c.endpoints.AddHandler(client.HandlerFuncs[*api.Endpoints]{
		AddFunc:    c.endpointsChanged,
		UpdateFunc: func(_, ep *api.Endpoints) { c.endpointsChanged(ep) },
		DeleteFunc: func(ep *api.Endpoints) {
			c.written.forget(key(ep))
			c.queue.Add(key(ep))
		},
	})
	return c, nil
}

// Run syncs services' endpoints until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return worker.Loop{
		Queue: c.queue, Workers: c.cfg.Workers, Sync: c.sync,
		Failed: func(key string, err error) {
			c.log.Warn("sync endpoints", "service", key, "err", err)
		},
		Informers: []worker.Informer{c.services, c.pods, c.endpoints},
		Also:      []func(context.Context) error{c.events.Run},
	}.Run(ctx)
}

// ReasonNoPodsSelected is the Warning a service gets when its selector
// matches no pod: connections to it are refused until one does.
const ReasonNoPodsSelected = "NoPodsSelected"

// noteSelected records whether svc's selector matches any pod; one that
// has matched none for NoPodsWarningAfter gets a Warning, once (a sync
// is queued for then).
func (c *Controller) noteSelected(svc *api.Service, any bool) {
	uid := string(svc.UID)
	c.unselectedMu.Lock()
	u := c.unselected[uid]
	switch {
	case any:
		delete(c.unselected, uid)
	case u == nil:
		c.unselected[uid] = &unselected{since: time.Now()}
		c.queue.AddAfter(key(svc), c.cfg.NoPodsWarningAfter)
	}
	warn := !any && u != nil && !u.told && time.Since(u.since) >= c.cfg.NoPodsWarningAfter
	if warn {
		u.told = true
	}
	c.unselectedMu.Unlock()
	if warn {
		c.events.Eventf(api.ObjectReference{Kind: "Service", APIVersion: "v1", Namespace: svc.Namespace, Name: svc.Name, UID: svc.UID},
			api.EventTypeWarning, ReasonNoPodsSelected,
			"selector %s matches no pod in namespace %s: connections to the service are refused until one does",
			api.SelectorFromSet(svc.Spec.Selector), svc.Namespace)
	}
}

func key(o api.Object) string {
	m := o.GetObjectMeta()
	return m.Namespace + "/" + m.Name
}

// endpointsChanged queues the service of Endpoints someone else wrote
// (by hand, or a controller's earlier run), to put them right; the
// cache's copy of this controller's own write needs no sync.
func (c *Controller) endpointsChanged(ep *api.Endpoints) {
	if !c.written.seen(key(ep), ep) {
		c.queue.Add(key(ep))
	}
}

// podAdded queues the services that select p.
func (c *Controller) podAdded(p *api.Pod) {
	for _, s := range c.selecting(p.Namespace, p.Labels) {
		c.queue.Add(key(s))
	}
}

// podUpdated queues the services that select p before or after the
// change, when the change is one that Endpoints show.
func (c *Controller) podUpdated(old, p *api.Pod) {
	if old.ResourceVersion == p.ResourceVersion || !shown(old, p) {
		return
	}
	c.podAdded(p)
	if !maps.Equal(old.Labels, p.Labels) || old.UID != p.UID {
		c.podAdded(old)
	}
}

// shown reports whether a and b differ in anything an Endpoints object
// shows of a pod: whether and how it is selected, its address, node,
// hostname, readiness, termination and ports.
func shown(a, b *api.Pod) bool {
	return a.UID != b.UID ||
		!maps.Equal(a.Labels, b.Labels) ||
		a.Status.PodIP != b.Status.PodIP || !slices.Equal(a.Status.PodIPs, b.Status.PodIPs) ||
		a.Spec.NodeName != b.Spec.NodeName ||
		a.Spec.Hostname != b.Spec.Hostname || a.Spec.Subdomain != b.Spec.Subdomain ||
		podstate.Ready(a) != podstate.Ready(b) ||
		(a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) ||
		podstate.Finished(a) != podstate.Finished(b) ||
		!slices.EqualFunc(a.Spec.Containers, b.Spec.Containers, func(x, y api.Container) bool { return slices.Equal(x.Ports, y.Ports) })
}

// selects reports whether a service's selector picks a pod with labels.
// An empty selector is no selector: it picks nothing.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
