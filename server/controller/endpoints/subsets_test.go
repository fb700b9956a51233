package endpoints

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

// svcSpec is service default/web selecting app=web, with cluster IP
// 10.43.0.20 and the given ports.
func svcSpec(ports ...api.ServicePort) *api.Service {
	return &api.Service{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default", UID: "svc-uid"}, Spec: api.ServiceSpec{
		Selector: map[string]string{"app": "web"}, ClusterIP: "10.43.0.20", Ports: ports,
	}}
}

func svcPort(name string, port int32, target api.IntOrString) api.ServicePort {
	return api.ServicePort{Name: name, Port: port, Protocol: api.ProtocolTCP, TargetPort: target}
}

type podOpt func(*api.Pod)

// pod is a ready, running pod default/name labelled app=web with IP ip
// on node n1.
func pod(name, ip string, opts ...podOpt) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name, Labels: map[string]string{"app": "web"}}}
	p.Spec.NodeName = "n1"
	p.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
	p.Status.Phase = api.PodRunning
	p.Status.PodIP = ip
	p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func notReady(p *api.Pod) { p.Status.Conditions[0].Status = api.ConditionFalse }

func terminating(p *api.Pod) { now := api.Now(); p.DeletionTimestamp = &now }

func phase(ph api.PodPhase) podOpt { return func(p *api.Pod) { p.Status.Phase = ph } }

func inNamespace(ns string) podOpt { return func(p *api.Pod) { p.Namespace = ns } }

func labelled(l map[string]string) podOpt { return func(p *api.Pod) { p.Labels = l } }

func containerPort(name string, port int32, proto api.Protocol) podOpt {
	return func(p *api.Pod) {
		c := &p.Spec.Containers[0]
		c.Ports = append(c.Ports, api.ContainerPort{Name: name, ContainerPort: port, Protocol: proto})
	}
}

// render writes subsets compactly: "[ready | notready | ports]" per
// subset, addresses as pod names.
func render(ss []api.EndpointSubset) string {
	var parts []string
	names := func(as []api.EndpointAddress) string {
		var out []string
		for _, a := range as {
			out = append(out, a.TargetRef.Name)
		}
		return strings.Join(out, ",")
	}
	for _, s := range ss {
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s=%d/%s", p.Name, p.Port, p.Protocol))
		}
		parts = append(parts, fmt.Sprintf("[%s | %s | %s]", names(s.Addresses), names(s.NotReadyAddresses), strings.Join(ports, ",")))
	}
	return strings.Join(parts, " ")
}

func TestSubsets(t *testing.T) {
	http80 := svcPort("http", 80, api.FromInt(8080))
	named := svcPort("http", 80, api.FromString("web"))
	tests := []struct {
		name string
		svc  *api.Service
		pods []*api.Pod
		want string
	}{
		{name: "no pods", svc: svcSpec(http80), want: ""},
		{name: "ready pods", svc: svcSpec(http80), pods: []*api.Pod{pod("b", "10.42.0.3"), pod("a", "10.42.0.20")},
			want: "[b,a |  | http=8080/TCP]"}, // sorted by IP, not name
		{name: "not ready and terminating", svc: svcSpec(http80),
			pods: []*api.Pod{pod("a", "10.42.0.1"), pod("b", "10.42.0.2", notReady), pod("c", "10.42.0.3", terminating)},
			want: "[a | b,c | http=8080/TCP]"},
		{name: "publishNotReadyAddresses lists all as ready",
			svc:  func() *api.Service { s := svcSpec(http80); s.Spec.PublishNotReadyAddresses = true; return s }(),
			pods: []*api.Pod{pod("a", "10.42.0.1"), pod("b", "10.42.0.2", notReady), pod("c", "10.42.0.3", terminating)},
			want: "[a,b,c |  | http=8080/TCP]"},
		{name: "left out: no IP, finished, elsewhere, not selected", svc: svcSpec(http80),
			pods: []*api.Pod{
				pod("noip", ""), pod("done", "10.42.0.2", phase(api.PodSucceeded)), pod("failed", "10.42.0.3", phase(api.PodFailed)),
				pod("elsewhere", "10.42.0.4", inNamespace("shop")), pod("other", "10.42.0.5", labelled(map[string]string{"app": "db"})),
				pod("ok", "10.42.0.6", labelled(map[string]string{"app": "web", "extra": "yes"})),
			},
			want: "[ok |  | http=8080/TCP]"},
		{name: "target port defaults to the port", svc: svcSpec(svcPort("", 80, api.IntOrString{})), pods: []*api.Pod{pod("a", "10.42.0.1")},
			want: "[a |  | =80/TCP]"},
		{name: "named target port resolves per pod; unresolved pods left out", svc: svcSpec(named),
			pods: []*api.Pod{
				pod("a", "10.42.0.1", containerPort("web", 8080, api.ProtocolTCP)),
				pod("b", "10.42.0.2", containerPort("web", 9090, api.ProtocolTCP)),
				pod("c", "10.42.0.3", containerPort("admin", 8080, api.ProtocolTCP)),
				pod("d", "10.42.0.4", containerPort("web", 8080, api.ProtocolUDP)),
				pod("e", "10.42.0.5", containerPort("web", 8080, "")),
			},
			want: "[a,e |  | http=8080/TCP] [b |  | http=9090/TCP]"},
		{name: "grouped by the set of ports served", svc: svcSpec(named, svcPort("metrics", 9100, api.FromInt(9100))),
			pods: []*api.Pod{
				pod("a", "10.42.0.1", containerPort("web", 8080, api.ProtocolTCP)),
				pod("b", "10.42.0.2"),
				pod("c", "10.42.0.3", notReady, containerPort("web", 8080, api.ProtocolTCP)),
			},
			want: "[a | c | http=8080/TCP,metrics=9100/TCP] [b |  | metrics=9100/TCP]"},
		{name: "headless without ports", svc: func() *api.Service { s := svcSpec(); s.Spec.ClusterIP = api.ClusterIPNone; return s }(),
			pods: []*api.Pod{pod("a", "10.42.0.1"), pod("b", "10.42.0.2", notReady)}, want: "[a | b | ]"},
		{name: "no selector", svc: func() *api.Service { s := svcSpec(http80); s.Spec.Selector = nil; return s }(),
			pods: []*api.Pod{pod("a", "10.42.0.1")}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(subsets(tt.svc, tt.pods)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestAddress(t *testing.T) {
	p := pod("web-0", "10.42.1.5")
	p.Spec.Hostname, p.Spec.Subdomain = "web-0", "web"
	p.Status.PodIPs = []api.PodIP{{IP: "10.42.1.5"}, {IP: "fd00:42::5"}}
	got := subsets(svcSpec(svcPort("", 80, api.FromInt(80))), []*api.Pod{p})
	b, _ := json.Marshal(got)
	want := `[{"addresses":[{"ip":"10.42.1.5","hostname":"web-0","nodeName":"n1","targetRef":{"kind":"Pod","namespace":"default","name":"web-0","uid":"uid-web-0"}}],"ports":[{"port":80,"protocol":"TCP"}]}]`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}

	// Another subdomain: no hostname. An IPv6 service: the pod's IPv6
	// address.
	p.Spec.Subdomain = "other"
	s := svcSpec(svcPort("", 80, api.FromInt(80)))
	s.Spec.ClusterIP = "fd00:43::20"
	got = subsets(s, []*api.Pod{p})
	if a := got[0].Addresses[0]; a.Hostname != "" || a.IP != "fd00:42::5" {
		t.Errorf("address %+v, want IP fd00:42::5 and no hostname", a)
	}
	// A pod with no address of the service's family is left out.
	p.Status.PodIPs = nil
	if got := subsets(s, []*api.Pod{p}); got != nil {
		t.Errorf("IPv4-only pod in an IPv6 service: %s", render(got))
	}
}

func TestDesiredLabelsAndOwner(t *testing.T) {
	s := svcSpec(svcPort("", 80, api.FromInt(80)))
	s.Labels = map[string]string{"tier": "front"}
	ep := desired(s, nil)
	if len(ep.Labels) != 1 || ep.Labels["tier"] != "front" {
		t.Errorf("labels %v, want the service's", ep.Labels)
	}
	ref := ep.OwnerReferences[0]
	if ref.Kind != "Service" || ref.APIVersion != "v1" || ref.UID != "svc-uid" || ref.Controller == nil || !*ref.Controller {
		t.Errorf("owner reference %+v, want the service as controller", ref)
	}
	s.Spec.ClusterIP = api.ClusterIPNone
	if _, ok := desired(s, nil).Labels[LabelHeadless]; !ok {
		t.Errorf("headless service's endpoints lack %s", LabelHeadless)
	}
	if s.Labels[LabelHeadless] != "" || len(s.Labels) != 1 {
		t.Errorf("desired changed the service's labels: %v", s.Labels)
	}

	// Other owners' references stay; another controller's goes.
	yes := true
	cur := desired(s, nil)
	cur.OwnerReferences = []api.OwnerReference{
		{Kind: "Service", Name: "web", UID: "old-uid", Controller: &yes},
		{Kind: "ConfigMap", Name: "keep", UID: "cm-uid"},
	}
	refs := ownerRefs(cur, desired(s, nil))
	if len(refs) != 2 || refs[0].UID != "svc-uid" || refs[1].UID != "cm-uid" {
		t.Errorf("owner references %+v, want the service's then the config map's", refs)
	}
}
