package ingress

// acquire picks a backend of rt other than skip and counts a request
// against it: the one with the fewest requests in flight, starting the
// search at the route's next round-robin position so that equals take
// turns. It returns "" when rt has no backend but skip.
func (r *Router) acquire(rt *route, skip string) string {
	bs := rt.Backends
	n := len(bs)
	if n == 0 {
		return ""
	}
	start := int((rt.next.Add(1) - 1) % uint32(n))
	r.mu.Lock()
	defer r.mu.Unlock()
	best, bestN := "", 0
	for i := range n {
		addr := bs[(start+i)%n].Addr
		if addr == skip {
			continue
		}
		c := r.inflight[addr]
		if best == "" || c < bestN {
			best, bestN = addr, c
			if c == 0 {
				break
			}
		}
	}
	if best != "" {
		r.inflight[best]++
	}
	return best
}

// release ends a request counted against addr. The last request to a
// backend no table routes to any more lets go of its pool.
func (r *Router) release(addr string) {
	if addr == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.inflight[addr]; c > 1 {
		r.inflight[addr] = c - 1
	} else {
		delete(r.inflight, addr)
		if !r.table.Load().backends[addr] {
			r.retireLocked(addr)
		}
	}
}
