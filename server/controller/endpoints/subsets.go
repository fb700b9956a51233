package endpoints

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
)

// This file computes a service's Endpoints from its pods, as Kubernetes'
// endpoints controller does; it reads only its arguments.

// LabelHeadless is the label an Endpoints object of a headless service
// carries, as in Kubernetes.
const LabelHeadless = "service.kubernetes.io/headless"

// member is one pod's place in a service's Endpoints.
type member struct {
	addr  api.EndpointAddress
	ready bool
	ports []api.EndpointPort
}

// subsets returns the subsets of svc's Endpoints over pods (any pods;
// those not the service's are skipped): one address per pod that is in
// svc's namespace, selected by it, has an address of the service's IP
// family and has not finished. A pod that is ready and not terminating is
// in addresses, any other in notReadyAddresses (with
// publishNotReadyAddresses, all are in addresses). Each service port is
// resolved per pod — a named targetPort to the pod's container port of
// that name and protocol — and a pod where it does not resolve is left
// out of that port; pods are grouped into one subset per set of ports
// they serve. A headless service without ports gets one subset of
// addresses and no ports. The result is sorted, so that equal inputs
// give equal output.
func subsets(svc *api.Service, pods []*api.Pod) []api.EndpointSubset {
	var members []member
	for _, p := range pods {
		if p.Namespace != svc.Namespace || !selects(svc.Spec.Selector, p.Labels) || podstate.Finished(p) {
			continue
		}
		ip := podIP(svc, p)
		if ip == "" {
			continue
		}
		m := member{addr: address(svc, p, ip), ready: svc.Spec.PublishNotReadyAddresses || (podstate.Ready(p) && p.DeletionTimestamp == nil)}
		for _, sp := range svc.Spec.Ports {
			if port, ok := findPort(p, sp); ok {
				m.ports = append(m.ports, api.EndpointPort{Name: sp.Name, Port: port, Protocol: protocol(sp.Protocol), AppProtocol: sp.AppProtocol})
			}
		}
		if len(m.ports) == 0 && (len(svc.Spec.Ports) > 0 || svc.Spec.ClusterIP != api.ClusterIPNone) {
			continue // it serves none of the service's ports
		}
		members = append(members, m)
	}
	return repack(members)
}

// repack groups members by the set of ports they serve, one subset per
// set, sorted.
func repack(members []member) []api.EndpointSubset {
	bySet := map[string]*api.EndpointSubset{}
	var keys []string
	for _, m := range members {
		slices.SortFunc(m.ports, comparePorts)
		k := portsKey(m.ports)
		ss, ok := bySet[k]
		if !ok {
			ss = &api.EndpointSubset{Ports: m.ports}
			bySet[k] = ss
			keys = append(keys, k)
		}
		if m.ready {
			ss.Addresses = append(ss.Addresses, m.addr)
		} else {
			ss.NotReadyAddresses = append(ss.NotReadyAddresses, m.addr)
		}
	}
	slices.Sort(keys)
	out := make([]api.EndpointSubset, 0, len(keys))
	for _, k := range keys {
		ss := bySet[k]
		slices.SortFunc(ss.Addresses, compareAddresses)
		slices.SortFunc(ss.NotReadyAddresses, compareAddresses)
		out = append(out, *ss)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func portsKey(ports []api.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		app := ""
		if p.AppProtocol != nil {
			app = *p.AppProtocol
		}
		fmt.Fprintf(&b, "%s/%05d/%s/%s,", p.Name, p.Port, p.Protocol, app)
	}
	return b.String()
}

func comparePorts(a, b api.EndpointPort) int {
	return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Protocol, b.Protocol))
}

func compareAddresses(a, b api.EndpointAddress) int {
	ai, aerr := netip.ParseAddr(a.IP)
	bi, berr := netip.ParseAddr(b.IP)
	if aerr == nil && berr == nil {
		if c := ai.Compare(bi); c != 0 {
			return c
		}
	}
	return cmp.Or(cmp.Compare(a.IP, b.IP), cmp.Compare(refName(a), refName(b)))
}

func refName(a api.EndpointAddress) string {
	if a.TargetRef == nil {
		return ""
	}
	return a.TargetRef.Name
}

// address is pod p's address in svc's Endpoints: its IP, node and
// reference, and its hostname when it names svc as its subdomain (so DNS
// gives it a name of its own under the service, as Kubernetes does).
func address(svc *api.Service, p *api.Pod, ip string) api.EndpointAddress {
	a := api.EndpointAddress{IP: ip, TargetRef: &api.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}}
	if p.Spec.NodeName != "" {
		node := p.Spec.NodeName
		a.NodeName = &node
	}
	if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name {
		a.Hostname = p.Spec.Hostname
	}
	return a
}

// podIP returns p's address of the IP family of svc's cluster IP (any
// family for a headless service), or "".
func podIP(svc *api.Service, p *api.Pod) string {
	want, err := netip.ParseAddr(svc.Spec.ClusterIP)
	ips := []string{p.Status.PodIP}
	for _, ip := range p.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	for _, ip := range ips {
		a, perr := netip.ParseAddr(ip)
		if perr != nil {
			continue
		}
		if err != nil || a.Is4() == want.Is4() {
			return a.String()
		}
	}
	return ""
}

// findPort resolves service port sp on pod p: a number is itself (the
// pod need not declare it), a name is the container port of that name
// and protocol, as Kubernetes' FindPort.
func findPort(p *api.Pod, sp api.ServicePort) (int32, bool) {
	tp := sp.TargetPort
	if tp.Type == api.IntType {
		if tp.IntVal == 0 {
			return sp.Port, true
		}
		return tp.IntVal, true
	}
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == tp.StrVal && protocol(cp.Protocol) == protocol(sp.Protocol) {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

func protocol(p api.Protocol) api.Protocol {
	if p == "" {
		return api.ProtocolTCP
	}
	return p
}
