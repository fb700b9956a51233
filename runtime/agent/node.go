package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// Reserved for the system: pods may not count on the last of the memory.
const (
	evictionMemory = 100 << 20 // MemoryPressure below this much available
	diskPressure   = 0.10      // DiskPressure below this share free
	pidPressure    = 0.90      // PIDPressure above this share of pid_max
)

// registerRetrying registers until it works: a server that is down or
// restarting when the agent starts is waited for, with the pods left
// running meanwhile. Only a refusal (bad credentials, an invalid node)
// ends it.
func (a *Agent) registerRetrying(ctx context.Context) (*api.Node, error) {
	delay := time.Second
	for {
		node, err := a.register(ctx)
		if err == nil || ctx.Err() != nil || errdefs.IsUnauthorized(err) || errdefs.IsForbidden(err) || errdefs.IsInvalid(err) {
			return node, err
		}
		a.log.Warn("cannot register the node yet; retrying", "in", delay, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// leaseLoop renews the node's lease every quarter of its duration. The
// lease lives in the server's memory, so this costs no write there. A
// failure is logged when it starts and when it ends, not every time.
func (a *Agent) leaseLoop(ctx context.Context) error {
	if a.cfg.Lease == nil {
		return nil
	}
	t := time.NewTicker(a.cfg.LeaseDuration / 4)
	defer t.Stop()
	failing := false
	for {
		err := a.cfg.Lease.RenewLease(ctx, a.cfg.NodeName, a.cfg.LeaseDuration)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			a.log.Warn("renew node lease", "err", err)
			failing = true
		case err == nil && failing:
			a.log.Info("node lease renewed again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// register creates or updates this node's object and waits for the
// server to give it a pod subnet.
func (a *Agent) register(ctx context.Context) (*api.Node, error) {
	nodes := client.For[*api.Node](a.cfg.Client, "")
	want := a.nodeStatus(ctx, nil)
	labels := map[string]string{
		"kubernetes.io/hostname": a.cfg.NodeName,
		"kubernetes.io/os":       runtime.GOOS,
		"kubernetes.io/arch":     runtime.GOARCH,
	}
	for k, v := range a.cfg.Labels {
		labels[k] = v
	}
	var node *api.Node
	err := client.RetryOnConflict(ctx, func() error {
		n, err := nodes.Get(ctx, a.cfg.NodeName)
		if errdefs.IsNotFound(err) {
			n, err = nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: a.cfg.NodeName, Labels: labels, Annotations: maps.Clone(a.cfg.Annotations)}})
		}
		if err != nil {
			return err
		}
		changed := setAll(&n.Labels, labels)
		if setAll(&n.Annotations, a.cfg.Annotations) {
			changed = true
		}
		if changed {
			if n, err = nodes.Update(ctx, n); err != nil {
				return err
			}
		}
		node = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("agent: register node %s: %w", a.cfg.NodeName, err)
	}
	if err := a.writeNodeStatus(ctx, node, want); err != nil {
		return nil, err
	}
	// The server assigns the pod subnet; wait for it.
	for node.Spec.PodCIDR == "" {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if node, err = nodes.Get(ctx, a.cfg.NodeName); err != nil {
			return nil, fmt.Errorf("agent: wait for pod subnet: %w", err)
		}
	}
	return node, nil
}

// setAll puts every key of want into *m, saying whether that changed it.
func setAll(m *map[string]string, want map[string]string) bool {
	changed := false
	for k, v := range want {
		if (*m)[k] != v {
			if *m == nil {
				*m = map[string]string{}
			}
			(*m)[k], changed = v, true
		}
	}
	return changed
}

// writeNodeStatus writes st unless the node already says the same.
func (a *Agent) writeNodeStatus(ctx context.Context, node *api.Node, st api.NodeStatus) error {
	if sameJSON(node.Status, st) {
		return nil
	}
	nodes := client.For[*api.Node](a.cfg.Client, "")
	// First against the node just read; on a conflict, a fresh copy.
	n := api.Clone(node)
	return client.RetryOnConflict(ctx, func() error {
		if n == nil {
			fresh, err := nodes.Get(ctx, node.Name)
			if err != nil {
				return err
			}
			if sameJSON(fresh.Status, st) {
				return nil
			}
			n = fresh
		}
		n.Status = st
		_, err := nodes.UpdateStatus(ctx, n)
		n = nil
		return err
	})
}

// nodeStatusLoop re-reads the node's conditions every 10 s and writes
// them only when one flips: there is no heartbeat on disk. It also keeps
// the pod network's host rules in place.
func (a *Agent) nodeStatusLoop(ctx context.Context) error {
	nodes := client.For[*api.Node](a.cfg.Client, "")
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := nodes.Get(ctx, a.cfg.NodeName)
		if err != nil {
			a.log.Warn("read node", "err", err)
			continue
		}
		// Puts back the pod network's host side (the masquerade rule)
		// if someone removed it; writes nothing when it is in place.
		if n.Spec.PodCIDR != "" {
			if err := a.cfg.Network.SetPodCIDR(n.Spec.PodCIDR); err != nil {
				a.log.Warn("pod network", "err", err)
			}
		}
		if err := a.writeNodeStatus(ctx, n, a.nodeStatus(ctx, &n.Status)); err != nil && ctx.Err() == nil {
			a.log.Warn("write node status", "err", err)
		}
	}
}

// nodeStatus measures the node. Transition times stay as they were
// unless a condition flips.
func (a *Agent) nodeStatus(ctx context.Context, old *api.NodeStatus) api.NodeStatus {
	mem := meminfo()
	cpu := api.NewQuantity(int64(runtime.NumCPU()))
	capacity := api.ResourceList{
		api.ResourceCPU:    cpu,
		api.ResourceMemory: api.NewBinaryQuantity(mem["MemTotal"]),
		api.ResourcePods:   api.NewQuantity(int64(a.cfg.MaxPods)),
	}
	allocatable := api.ResourceList{
		api.ResourceCPU:    cpu,
		api.ResourceMemory: api.NewBinaryQuantity(max(mem["MemTotal"]-evictionMemory, 0)),
		api.ResourcePods:   api.NewQuantity(int64(a.cfg.MaxPods)),
	}
	diskFree := 1.0
	var fs syscall.Statfs_t
	if err := syscall.Statfs(a.cfg.DataDir, &fs); err == nil {
		total := int64(fs.Blocks) * int64(fs.Bsize)
		capacity[api.ResourceEphemeralStorage] = api.NewBinaryQuantity(total)
		allocatable[api.ResourceEphemeralStorage] = api.NewBinaryQuantity(total * 9 / 10)
		if fs.Blocks > 0 {
			diskFree = float64(fs.Bavail) / float64(fs.Blocks)
		}
	}
	now := api.NewTime(a.now())
	var oldConds []api.NodeCondition
	if old != nil {
		oldConds = old.Conditions
	}
	cond := func(t api.NodeConditionType, isTrue bool, reason, msg string) api.NodeCondition {
		s := api.ConditionFalse
		if isTrue {
			s = api.ConditionTrue
		}
		c := api.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: now, LastHeartbeatTime: now}
		for _, o := range oldConds {
			if o.Type == t && o.Status == s {
				c.LastTransitionTime, c.LastHeartbeatTime = o.LastTransitionTime, o.LastHeartbeatTime
			}
		}
		return c
	}
	pressure := func(t api.NodeConditionType, bad bool, okReason, badReason string) api.NodeCondition {
		if bad {
			return cond(t, true, badReason, "")
		}
		return cond(t, false, okReason, "")
	}
	pidsUsed, pidMax := pidUsage()
	runtimeVersion := "containerd"
	st := api.NodeStatus{
		Capacity:    capacity,
		Allocatable: allocatable,
		Conditions: []api.NodeCondition{
			cond(api.NodeReady, true, "AgentReady", "skiff agent is ready"),
			pressure(api.NodeMemoryPressure, mem["MemAvailable"] < evictionMemory, "AgentHasSufficientMemory", "AgentHasInsufficientMemory"),
			pressure(api.NodeDiskPressure, diskFree < diskPressure, "AgentHasNoDiskPressure", "AgentHasDiskPressure"),
			pressure(api.NodePIDPressure, pidMax > 0 && float64(pidsUsed) > pidPressure*float64(pidMax), "AgentHasSufficientPID", "AgentHasInsufficientPID"),
		},
		NodeInfo: api.NodeSystemInfo{
			MachineID:               readTrim("/etc/machine-id"),
			BootID:                  readTrim("/proc/sys/kernel/random/boot_id"),
			KernelVersion:           readTrim("/proc/sys/kernel/osrelease"),
			OSImage:                 osImage(),
			ContainerRuntimeVersion: runtimeVersion,
			KubeletVersion:          a.cfg.Version,
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
		},
	}
	host, _ := os.Hostname()
	st.Addresses = []api.NodeAddress{{Type: api.NodeHostName, Address: host}}
	if a.cfg.NodeIP != "" {
		st.Addresses = append([]api.NodeAddress{{Type: api.NodeInternalIP, Address: a.cfg.NodeIP}}, st.Addresses...)
	}
	st.Images = a.nodeImages(ctx, old)
	st.DaemonEndpoints.AgentEndpoint.Port = int32(a.cfg.Port)
	return st
}

// maxNodeImages is how many images a node lists (the largest), as
// kubelet's default: enough for the scheduler's image locality.
const maxNodeImages = 50

// nodeImages lists the node's images for the scheduler, largest first,
// one entry per digest with all its names; on a runtime error the last
// list stands.
func (a *Agent) nodeImages(ctx context.Context, old *api.NodeStatus) []api.ContainerImage {
	imgs, err := a.cfg.Runtime.ListImages(ctx)
	if err != nil {
		if old != nil {
			return old.Images
		}
		return nil
	}
	byID := map[string]*api.ContainerImage{}
	var out []*api.ContainerImage
	for _, img := range imgs {
		id := img.ID
		if id == "" {
			id = img.Ref
		}
		ci := byID[id]
		if ci == nil {
			ci = &api.ContainerImage{SizeBytes: img.Size}
			byID[id] = ci
			out = append(out, ci)
		}
		ci.Names = append(ci.Names, img.Ref)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].SizeBytes != out[j].SizeBytes {
			return out[i].SizeBytes > out[j].SizeBytes
		}
		return out[i].Names[0] < out[j].Names[0]
	})
	res := make([]api.ContainerImage, 0, min(len(out), maxNodeImages))
	for _, ci := range out[:min(len(out), maxNodeImages)] {
		sort.Strings(ci.Names)
		res = append(res, *ci)
	}
	if len(res) == 0 {
		return nil
	}
	return res
}

// sameJSON compares two values as the API stores them.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// meminfo reads /proc/meminfo in bytes.
func meminfo() map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 2 && f[2] == "kB" {
			v *= 1024
		}
		out[strings.TrimSuffix(f[0], ":")] = v
	}
	return out
}

func pidUsage() (used, maxPids int64) {
	maxPids, _ = strconv.ParseInt(readTrim("/proc/sys/kernel/pid_max"), 10, 64)
	if f := strings.Fields(readTrim("/proc/loadavg")); len(f) >= 4 {
		if _, total, ok := strings.Cut(f[3], "/"); ok {
			used, _ = strconv.ParseInt(total, 10, 64)
		}
	}
	return used, maxPids
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func osImage() string {
	b, _ := os.ReadFile("/etc/os-release")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}
