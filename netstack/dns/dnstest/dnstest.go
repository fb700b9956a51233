// Package dnstest holds hand-written fakes for testing netstack/dns and
// its users: Source, a service/endpoints source driven by hand, and
// Upstream, a resolver on loopback to forward to. It owns nothing else.
package dnstest

import (
	"context"
	"sync"

	"github.com/skiffhq/skiff/netstack/dns"
	"github.com/skiffhq/skiff/server/api"
)

// Source is a dns.Source whose objects a test sets. Changes made before
// Run are delivered when it starts, then it marks the server synced;
// changes made while it runs are delivered at once, in order.
type Source struct {
	mu        sync.Mutex
	u         dns.Updater
	services  map[[2]string]*api.Service
	endpoints map[[2]string]*api.Endpoints
	// Unsynced keeps Run from marking the server synced (to test the
	// answers before the first list).
	Unsynced bool
}

var _ dns.Source = (*Source)(nil)

// NewSource returns an empty Source.
func NewSource() *Source {
	return &Source{services: map[[2]string]*api.Service{}, endpoints: map[[2]string]*api.Endpoints{}}
}

// Run implements dns.Source.
func (s *Source) Run(ctx context.Context, u dns.Updater) error {
	s.mu.Lock()
	s.u = u
	for k, o := range s.services {
		u.UpdateService(k[0], k[1], o)
	}
	for k, o := range s.endpoints {
		u.UpdateEndpoints(k[0], k[1], o)
	}
	if !s.Unsynced {
		u.MarkSynced()
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	s.u = nil
	s.mu.Unlock()
	return nil
}

// MarkSynced marks the running server synced.
func (s *Source) MarkSynced() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Unsynced = false
	if s.u != nil {
		s.u.MarkSynced()
	}
}

// SetService adds or replaces a service.
func (s *Source) SetService(o *api.Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services[[2]string{o.Namespace, o.Name}] = o
	if s.u != nil {
		s.u.UpdateService(o.Namespace, o.Name, o)
	}
}

// SetEndpoints adds or replaces an endpoints object.
func (s *Source) SetEndpoints(o *api.Endpoints) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoints[[2]string{o.Namespace, o.Name}] = o
	if s.u != nil {
		s.u.UpdateEndpoints(o.Namespace, o.Name, o)
	}
}

// DeleteService removes a service.
func (s *Source) DeleteService(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.services, [2]string{namespace, name})
	if s.u != nil {
		s.u.UpdateService(namespace, name, nil)
	}
}

// DeleteEndpoints removes an endpoints object.
func (s *Source) DeleteEndpoints(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.endpoints, [2]string{namespace, name})
	if s.u != nil {
		s.u.UpdateEndpoints(namespace, name, nil)
	}
}
