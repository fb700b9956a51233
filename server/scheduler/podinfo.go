package scheduler

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/skiffhq/skiff/server/api"
)

// Resource is an amount of every resource the scheduler counts: CPU in
// millicores, memory and ephemeral storage in bytes, and any other
// (extended) resource by name.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// Scalar holds the other resources; nil when there are none.
	Scalar map[string]int64
}

// resourceFrom sums a resource list into r.
func (r *Resource) add(l api.ResourceList) {
	for name, q := range l {
		switch name {
		case api.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case api.ResourceMemory:
			r.Memory += q.Value()
		case api.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case api.ResourcePods:
			// Pods are counted, not requested.
		default:
			if r.Scalar == nil {
				r.Scalar = map[string]int64{}
			}
			r.Scalar[name] += q.Value()
		}
	}
}

// setMax raises each resource of r to at least o's.
func (r *Resource) setMax(o Resource) {
	r.MilliCPU = max(r.MilliCPU, o.MilliCPU)
	r.Memory = max(r.Memory, o.Memory)
	r.EphemeralStorage = max(r.EphemeralStorage, o.EphemeralStorage)
	for name, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[string]int64{}
		}
		r.Scalar[name] = max(r.Scalar[name], v)
	}
}

// plus adds o to r (sign +1) or takes it away (sign -1).
func (r *Resource) plus(o Resource, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	for name, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[string]int64{}
		}
		r.Scalar[name] += sign * v
	}
}

func (r Resource) clone() Resource {
	if r.Scalar != nil {
		s := make(map[string]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			s[k] = v
		}
		r.Scalar = s
	}
	return r
}

// isZero reports whether r requests nothing.
func (r Resource) isZero() bool {
	if r.MilliCPU != 0 || r.Memory != 0 || r.EphemeralStorage != 0 {
		return false
	}
	for _, v := range r.Scalar {
		if v != 0 {
			return false
		}
	}
	return true
}

// The requests counted for scoring a container that asks for none, as in
// Kubernetes: otherwise best-effort pods would all pile onto one node.
const (
	defaultMilliCPURequest = 100               // 0.1 core
	defaultMemoryRequest   = 200 * 1024 * 1024 // 200 MiB
)

// podRequests returns what a pod reserves on a node: per resource, the
// larger of its containers' sum and its largest init container (init
// containers run one at a time, before the others). nonZero is the same
// with the scoring defaults for unset CPU and memory.
func podRequests(spec *api.PodSpec) (req, nonZero Resource) {
	for i := range spec.Containers {
		req.add(spec.Containers[i].Resources.Requests)
		nonZero.plus(nonZeroOf(spec.Containers[i].Resources.Requests), 1)
	}
	for i := range spec.InitContainers {
		var r Resource
		r.add(spec.InitContainers[i].Resources.Requests)
		req.setMax(r)
		nonZero.setMax(nonZeroOf(spec.InitContainers[i].Resources.Requests))
	}
	return req, nonZero
}

func nonZeroOf(l api.ResourceList) Resource {
	r := Resource{MilliCPU: defaultMilliCPURequest, Memory: defaultMemoryRequest}
	if q, ok := l[api.ResourceCPU]; ok {
		r.MilliCPU = q.MilliValue()
	}
	if q, ok := l[api.ResourceMemory]; ok {
		r.Memory = q.Value()
	}
	return r
}

// hostPort is one port a pod takes on its node.
type hostPort struct {
	ip       string // "0.0.0.0" for all addresses
	protocol api.Protocol
	port     int32
}

// podHostPorts lists the host ports a pod takes: those it asks for, and
// with hostNetwork every container port (Kubernetes defaults hostPort to
// containerPort there; skiff's defaults do not, so it is done here).
func podHostPorts(spec *api.PodSpec) []hostPort {
	var out []hostPort
	for i := range spec.Containers {
		for _, p := range spec.Containers[i].Ports {
			if p.HostPort <= 0 && spec.HostNetwork {
				p.HostPort = p.ContainerPort
			}
			if p.HostPort <= 0 {
				continue
			}
			hp := hostPort{ip: p.HostIP, protocol: p.Protocol, port: p.HostPort}
			if hp.ip == "" {
				hp.ip = "0.0.0.0"
			}
			if hp.protocol == "" {
				hp.protocol = api.ProtocolTCP
			}
			out = append(out, hp)
		}
	}
	return out
}

// affinityTerm is a parsed PodAffinityTerm: which pods it selects and the
// node label that makes a domain.
type affinityTerm struct {
	selector    api.Selector
	namespaces  map[string]bool // listed, or the pod's own
	nsSelector  api.Selector    // nil: only namespaces
	topologyKey string
	weight      int64 // preferred terms only
	// exact is the labelKey of the one namespace and label=value the term
	// selects, when it is that simple; "" otherwise.
	exact string
}

// matches reports whether the term selects pod p; nsLabels gives the
// labels of a namespace for a namespace selector.
func (t *affinityTerm) matches(p *api.Pod, nsLabels func(string) map[string]string) bool {
	if !t.namespaces[p.Namespace] {
		if t.nsSelector == nil || nsLabels == nil || !t.nsSelector.Matches(nsLabels(p.Namespace)) {
			return false
		}
	}
	return t.selector.Matches(p.Labels)
}

func parseAffinityTerm(pod *api.Pod, t *api.PodAffinityTerm, weight int32) (affinityTerm, error) {
	sel, err := api.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		return affinityTerm{}, fmt.Errorf("labelSelector: %w", err)
	}
	out := affinityTerm{selector: sel, topologyKey: t.TopologyKey, weight: int64(weight), namespaces: map[string]bool{}}
	for _, ns := range t.Namespaces {
		out.namespaces[ns] = true
	}
	if t.NamespaceSelector != nil {
		ns, err := api.LabelSelectorAsSelector(t.NamespaceSelector)
		if err != nil {
			return affinityTerm{}, fmt.Errorf("namespaceSelector: %w", err)
		}
		out.nsSelector = ns
	} else if len(t.Namespaces) == 0 {
		out.namespaces[pod.Namespace] = true
	}
	if kv, ok := exactLabel(sel); ok && out.nsSelector == nil && len(out.namespaces) == 1 {
		for ns := range out.namespaces {
			out.exact = labelKey(ns, kv)
		}
	}
	return out, nil
}

// PodInfo is a pod with what the plugins need computed once: its
// requests, host ports and parsed affinity terms. It is shared and
// read-only, like the pod it holds.
type PodInfo struct {
	Pod *api.Pod
	// Key is namespace/name.
	Key string
	// Request is what the pod reserves; NonZero the same with the
	// scoring defaults for unset CPU and memory.
	Request, NonZero Resource
	Ports            []hostPort
	// Claims are the keys (namespace/name) of the PersistentVolumeClaims
	// the pod's volumes name; nil when there are none.
	Claims []string

	RequiredAffinity, RequiredAntiAffinity   []affinityTerm
	PreferredAffinity, PreferredAntiAffinity []affinityTerm
	// ParseErr is set when an affinity selector does not parse; the pod
	// cannot be scheduled until it is fixed.
	ParseErr error
}

// NewPodInfo computes a PodInfo.
func NewPodInfo(p *api.Pod) *PodInfo {
	pi := &PodInfo{Pod: p, Key: p.Namespace + "/" + p.Name}
	pi.Request, pi.NonZero = podRequests(&p.Spec)
	pi.Ports = podHostPorts(&p.Spec)
	pi.Claims = podClaims(p)
	a := p.Spec.Affinity
	if a == nil {
		return pi
	}
	var errs []string
	parse := func(dst *[]affinityTerm, t *api.PodAffinityTerm, w int32, what string) {
		pt, err := parseAffinityTerm(p, t, w)
		if err != nil {
			errs = append(errs, what+": "+err.Error())
			return
		}
		*dst = append(*dst, pt)
	}
	if pa := a.PodAffinity; pa != nil {
		for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
			parse(&pi.RequiredAffinity, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i], 0, "podAffinity")
		}
		for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
			parse(&pi.PreferredAffinity, &w.PodAffinityTerm, w.Weight, "podAffinity")
		}
	}
	if pa := a.PodAntiAffinity; pa != nil {
		for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
			parse(&pi.RequiredAntiAffinity, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i], 0, "podAntiAffinity")
		}
		for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
			parse(&pi.PreferredAntiAffinity, &w.PodAffinityTerm, w.Weight, "podAntiAffinity")
		}
	}
	if len(errs) > 0 {
		pi.ParseErr = fmt.Errorf("pod %s: %s", pi.Key, strings.Join(errs, "; "))
	}
	return pi
}

// podClaims lists the keys of the claims a pod's volumes name, once each.
func podClaims(p *api.Pod) []string {
	var out []string
	for i := range p.Spec.Volumes {
		c := p.Spec.Volumes[i].PersistentVolumeClaim
		if c == nil {
			continue
		}
		key := p.Namespace + "/" + c.ClaimName
		if !slices.Contains(out, key) {
			out = append(out, key)
		}
	}
	return out
}

// preferredIndexable reports whether every preferred term is exact.
func (pi *PodInfo) preferredIndexable() bool {
	for i := range pi.PreferredAffinity {
		if pi.PreferredAffinity[i].exact == "" {
			return false
		}
	}
	for i := range pi.PreferredAntiAffinity {
		if pi.PreferredAntiAffinity[i].exact == "" {
			return false
		}
	}
	return true
}

// hasAffinity reports whether the pod has any pod (anti-)affinity term.
func (pi *PodInfo) hasAffinity() bool {
	return len(pi.RequiredAffinity)+len(pi.RequiredAntiAffinity)+len(pi.PreferredAffinity)+len(pi.PreferredAntiAffinity) > 0
}

// priority is the pod's scheduling priority (0 when unset).
func priority(p *api.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

// normalizeImage spells an image reference the way nodes report theirs:
// a registry, a path, and a tag (":latest" when none) unless pinned by a
// digest. "nginx" is "docker.io/library/nginx:latest".
func normalizeImage(ref string) string {
	name, digest, hasDigest := strings.Cut(ref, "@")
	domain, rest := "docker.io", name
	if i := strings.IndexByte(name, '/'); i >= 0 {
		first := name[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" {
			domain, rest = first, name[i+1:]
		}
	}
	if domain == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	if hasDigest {
		return domain + "/" + rest + "@" + digest
	}
	if j := strings.LastIndexByte(rest, ':'); j < 0 || strings.Contains(rest[j:], "/") {
		rest += ":latest"
	}
	return domain + "/" + rest
}

// sortedReasons renders a reason → count histogram, most common first.
func sortedReasons(counts map[string]int) []string {
	type rc struct {
		r string
		n int
	}
	list := make([]rc, 0, len(counts))
	for r, n := range counts {
		list = append(list, rc{r, n})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].n != list[j].n {
			return list[i].n > list[j].n
		}
		return list[i].r < list[j].r
	})
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = fmt.Sprintf("%d %s", x.n, x.r)
	}
	return out
}
