package hollow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// nodeView is the Backend a hollow node's agent talks through. It passes
// everything on, except that the agent's own Node object is translated
// on its way: the agent measures the machine it runs on (CPU count,
// /proc/meminfo, statfs of its data directory, machine-id, hostname),
// which is the same for every hollow node, so on the way to the server
// those fields become the hollow node's (Config.Capacity, its own
// address, hostname and IDs), and on the way back the agent sees again
// what it measured. The agent then finds its status unchanged and
// writes nothing while nothing changes. See README.md: the agent should
// take its capacity from a Config field instead, and then this goes.
type nodeView struct {
	client.Backend
	name   string
	fake   hostFields  // what the server is told
	taints []api.Taint // the node is created with them, as kubelet's --register-with-taints

	mu       sync.Mutex
	measured *hostFields // what the agent sent last
}

// hostFields are the parts of a node's status that describe the machine.
type hostFields struct {
	Capacity    api.ResourceList
	Allocatable api.ResourceList
	Addresses   []api.NodeAddress
	NodeInfo    api.NodeSystemInfo
}

func newNodeView(b client.Backend, name, ip string, capacity, allocatable api.ResourceList, taints []api.Taint) *nodeView {
	sum := sha256.Sum256([]byte("hollow/" + name))
	id := hex.EncodeToString(sum[:16])
	return &nodeView{Backend: b, name: name, taints: taints, fake: hostFields{
		Capacity:    capacity,
		Allocatable: allocatable,
		Addresses:   []api.NodeAddress{{Type: api.NodeInternalIP, Address: ip}, {Type: api.NodeHostName, Address: name}},
		NodeInfo:    api.NodeSystemInfo{MachineID: id, SystemUUID: id, BootID: id},
	}}
}

func (v *nodeView) own(resource, namespace, name string) bool {
	return resource == "nodes" && namespace == "" && name == v.name
}

// toServer replaces the measured fields of the agent's node with the
// hollow ones, remembering what was measured.
func (v *nodeView) toServer(obj api.Object) api.Object {
	n, ok := obj.(*api.Node)
	if !ok || len(n.Status.Capacity) == 0 {
		return obj
	}
	n = api.Clone(n)
	m := hostFields{Capacity: n.Status.Capacity, Allocatable: n.Status.Allocatable, Addresses: n.Status.Addresses, NodeInfo: n.Status.NodeInfo}
	v.mu.Lock()
	v.measured = &m
	v.mu.Unlock()
	info := n.Status.NodeInfo
	info.MachineID, info.SystemUUID, info.BootID = v.fake.NodeInfo.MachineID, v.fake.NodeInfo.SystemUUID, v.fake.NodeInfo.BootID
	info.ContainerRuntimeVersion = "hollow"
	n.Status.Capacity, n.Status.Allocatable = v.fake.Capacity, v.fake.Allocatable
	n.Status.Addresses, n.Status.NodeInfo = v.fake.Addresses, info
	return n
}

// fromServer puts back what the agent measured, when the server holds
// the hollow fields.
func (v *nodeView) fromServer(obj api.Object, err error) (api.Object, error) {
	n, ok := obj.(*api.Node)
	if err != nil || !ok {
		return obj, err
	}
	v.mu.Lock()
	m := v.measured
	v.mu.Unlock()
	if m == nil || !sameJSON(n.Status.Capacity, v.fake.Capacity) || !sameJSON(n.Status.Allocatable, v.fake.Allocatable) {
		return obj, nil
	}
	n = api.Clone(n)
	info := n.Status.NodeInfo
	info.MachineID, info.SystemUUID, info.BootID = m.NodeInfo.MachineID, m.NodeInfo.SystemUUID, m.NodeInfo.BootID
	info.ContainerRuntimeVersion = m.NodeInfo.ContainerRuntimeVersion
	n.Status.Capacity, n.Status.Allocatable = m.Capacity, m.Allocatable
	n.Status.Addresses, n.Status.NodeInfo = m.Addresses, info
	return n, nil
}

func (v *nodeView) Get(ctx context.Context, resource, namespace, name string) (api.Object, error) {
	obj, err := v.Backend.Get(ctx, resource, namespace, name)
	if !v.own(resource, namespace, name) {
		return obj, err
	}
	return v.fromServer(obj, err)
}

func (v *nodeView) Create(ctx context.Context, resource, namespace string, obj api.Object) (api.Object, error) {
	if !v.own(resource, namespace, obj.GetObjectMeta().Name) {
		return v.Backend.Create(ctx, resource, namespace, obj)
	}
	obj = v.toServer(obj)
	if n, ok := obj.(*api.Node); ok && len(v.taints) > 0 && len(n.Spec.Taints) == 0 {
		n = api.Clone(n)
		n.Spec.Taints = v.taints
		obj = n
	}
	return v.fromServer(v.Backend.Create(ctx, resource, namespace, obj))
}

func (v *nodeView) Update(ctx context.Context, resource, namespace string, obj api.Object, subresource string) (api.Object, error) {
	if !v.own(resource, namespace, obj.GetObjectMeta().Name) {
		return v.Backend.Update(ctx, resource, namespace, obj, subresource)
	}
	return v.fromServer(v.Backend.Update(ctx, resource, namespace, v.toServer(obj), subresource))
}

func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
