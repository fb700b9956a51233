package dns

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/skiffhq/skiff/server/api"
)

// index is the precomputed zone: lowercased FQDN → records. Services and
// endpoints are kept by namespace/name only to rebuild one service's
// names when either changes; a query never looks at them.
//
//	services, endpoints   ns/name → the latest object (shared, read-only)
//	owned                 ns/name → the names that service put in names
//	names                 FQDN → *rrset (immutable once stored)
//	below                 FQDN → how many owned names lie under it, so that
//	                      empty non-terminals (ns.svc.zone) are NODATA,
//	                      not NXDOMAIN
type index struct {
	zone string // lowercased FQDN

	mu        sync.RWMutex
	services  map[string]*api.Service
	endpoints map[string]*api.Endpoints
	owned     map[string][]string
	names     map[string]*rrset
	below     map[string]int

	synced atomic.Bool
}

var _ Updater = (*index)(nil)

func newIndex(zone string) *index {
	return &index{
		zone:      zone,
		services:  map[string]*api.Service{},
		endpoints: map[string]*api.Endpoints{},
		owned:     map[string][]string{},
		names:     map[string]*rrset{},
		below:     map[string]int{},
	}
}

// lookup returns the records at name (a lowercased FQDN in the zone) and
// whether the name exists at all (it may exist with no records).
func (x *index) lookup(name string) (*rrset, bool) {
	x.mu.RLock()
	rs, ok := x.names[name]
	n := x.below[name]
	x.mu.RUnlock()
	return rs, ok || n > 0 || name == x.zone
}

// UpdateService implements Updater.
func (x *index) UpdateService(namespace, name string, svc *api.Service) {
	k := namespace + "/" + name
	x.mu.Lock()
	defer x.mu.Unlock()
	if svc == nil {
		delete(x.services, k)
	} else {
		x.services[k] = svc
	}
	x.rebuildLocked(k)
}

// UpdateEndpoints implements Updater.
func (x *index) UpdateEndpoints(namespace, name string, ep *api.Endpoints) {
	k := namespace + "/" + name
	x.mu.Lock()
	defer x.mu.Unlock()
	if ep == nil {
		delete(x.endpoints, k)
	} else {
		x.endpoints[k] = ep
	}
	// Only headless services answer with their endpoints.
	if svc := x.services[k]; svc != nil && svc.Spec.ClusterIP != api.ClusterIPNone {
		return
	}
	x.rebuildLocked(k)
}

// MarkSynced implements Updater.
func (x *index) MarkSynced() { x.synced.Store(true) }

// rebuildLocked replaces the names service k owns.
func (x *index) rebuildLocked(k string) {
	for _, n := range x.owned[k] {
		delete(x.names, n)
		x.ancestors(n, -1)
	}
	delete(x.owned, k)
	svc := x.services[k]
	if svc == nil {
		return
	}
	sets := serviceRecords(x.zone, svc, x.endpoints[k])
	owned := make([]string, 0, len(sets))
	for n, rs := range sets {
		if prev, ok := x.names[n]; ok && prev != nil {
			// Two services cannot own one name (names are built from
			// their unique ns/name), so this is a bug; keep the first.
			continue
		}
		x.names[n] = rs
		x.ancestors(n, 1)
		owned = append(owned, n)
	}
	x.owned[k] = owned
}

// ancestors adds d to the count of every name strictly between n and the
// zone apex.
func (x *index) ancestors(n string, d int) {
	for {
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return
		}
		n = n[i+1:]
		if len(n) <= len(x.zone) {
			return
		}
		if c := x.below[n] + d; c > 0 {
			x.below[n] = c
		} else {
			delete(x.below, n)
		}
	}
}

// size is how many names the index holds (for tests and logs).
func (x *index) size() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.names)
}
