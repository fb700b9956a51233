package cni

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ip"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// undoTimeout bounds the DEL that undoes a failed ADD.
const undoTimeout = 30 * time.Second

// netnsPath is where the namespace of pod uid is pinned.
func (m *Manager) netnsPath(uid string) string { return filepath.Join(m.cfg.NetNSDir, uid) }

// cacheList is enough of a conflist for libcni to find a pod's cache
// entry; it works before SetPodCIDR, e.g. right after a restart.
func cacheList() *libcni.NetworkConfigList {
	return &libcni.NetworkConfigList{Name: NetworkName, CNIVersion: CNIVersion}
}

// runtimeConf is the CNI runtime config of pod uid.
func runtimeConf(uid, netnsPath string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: uid, NetNS: netnsPath, IfName: IfName}
}

// Setup creates and pins the pod's namespace at NetNSDir/<uid>, brings lo
// up and runs CNI ADD for eth0 with the pod's port mappings. It is
// idempotent: when the namespace is pinned and eth0 carries the cached
// address, it returns that sandbox without running any plugin, also after a
// restart. A half-made sandbox (pinned, no address) is DELeted and ADDed
// again in the same namespace. A failed ADD undoes what it made (DEL, and
// unpin if Setup pinned) and returns the error, which names the plugin.
func (m *Manager) Setup(ctx context.Context, pod PodNetwork) (Sandbox, error) {
	if err := validateUID(pod.UID); err != nil {
		return Sandbox{}, err
	}
	ports, err := pod.portMappings()
	if err != nil {
		return Sandbox{}, err
	}
	list := m.confList()
	if list == nil {
		return Sandbox{}, fmt.Errorf("setup pod %s (uid %s): no pod cidr yet, call SetPodCIDR first: %w", pod.key(), pod.UID, errdefs.ErrUnavailable)
	}
	unlock := m.locks.lock(pod.UID)
	defer unlock()

	path := m.netnsPath(pod.UID)
	state, err := pinState(path)
	if err != nil {
		return Sandbox{}, fmt.Errorf("setup pod %s: %w", pod.key(), err)
	}
	log := m.log.With("pod", pod.key(), "uid", pod.UID)

	created := false
	switch state {
	case nsPinned:
		sb, ok, err := m.existing(pod.UID, path)
		if err != nil {
			return Sandbox{}, fmt.Errorf("setup pod %s: %w", pod.key(), err)
		}
		if ok {
			return sb, nil
		}
		// Pinned but not networked: a crash between pin and ADD, or an
		// address lost. DEL what may be left, then ADD again.
		log.Info("re-adding half-made pod network", "netns", path)
		if err := m.del(ctx, pod.UID, path); err != nil {
			return Sandbox{}, fmt.Errorf("setup pod %s: clear half-made network: %w", pod.key(), err)
		}
	case nsUnpinned:
		// A mount point without a namespace: a crash inside pinNetNS.
		if err := unpinNetNS(path); err != nil {
			return Sandbox{}, fmt.Errorf("setup pod %s: %w", pod.key(), err)
		}
		fallthrough
	case nsMissing:
		if err := pinNetNS(path); err != nil {
			return Sandbox{}, fmt.Errorf("setup pod %s: %w", pod.key(), err)
		}
		created = true
	}

	sb, err := m.add(ctx, list, pod, path, ports)
	if err != nil {
		// Undo even when ctx is what ended the ADD.
		undoCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
		defer cancel()
		if derr := m.del(undoCtx, pod.UID, path); derr != nil {
			log.Error("undo failed pod network", "err", derr)
		}
		if created {
			if uerr := unpinNetNS(path); uerr != nil {
				log.Error("undo failed pod network", "err", uerr)
			}
		}
		return Sandbox{}, fmt.Errorf("setup pod %s (uid %s): %w", pod.key(), pod.UID, err)
	}
	log.Debug("pod network up", "ip", sb.IP.String(), "netns", path)
	return sb, nil
}

// add brings lo up and runs ADD in the pinned namespace at path.
func (m *Manager) add(ctx context.Context, list *libcni.NetworkConfigList, pod PodNetwork, path string, ports []map[string]any) (Sandbox, error) {
	if err := setLoopbackUp(path); err != nil {
		return Sandbox{}, err
	}
	rt := runtimeConf(pod.UID, path)
	if len(ports) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": ports}
	}
	res, err := m.cni.AddNetworkList(ctx, list, rt)
	if err != nil {
		return Sandbox{}, err
	}
	return sandboxFromResult(pod.UID, path, res)
}

// existing returns the sandbox of a pinned namespace when eth0 carries the
// address libcni cached for it.
func (m *Manager) existing(uid, path string) (Sandbox, bool, error) {
	sb, ok, err := m.cached(uid, path)
	if err != nil || !ok {
		return Sandbox{}, false, err
	}
	a, ok, err := readPodAddr(path, IfName)
	if err != nil || !ok || !a.ip.Equal(sb.IP) {
		return Sandbox{}, false, err
	}
	return sb, true, nil
}

// cached returns the sandbox from libcni's cached result of uid.
func (m *Manager) cached(uid, path string) (Sandbox, bool, error) {
	res, err := m.cni.GetNetworkListCachedResult(cacheList(), runtimeConf(uid, path))
	if err != nil {
		return Sandbox{}, false, fmt.Errorf("pod uid %s: read cached cni result: %w", uid, err)
	}
	if res == nil {
		return Sandbox{}, false, nil
	}
	sb, err := sandboxFromResult(uid, path, res)
	if err != nil {
		return Sandbox{}, false, err
	}
	return sb, true, nil
}

// sandboxFromResult picks the address of eth0 out of a CNI result.
func sandboxFromResult(uid, path string, res types.Result) (Sandbox, error) {
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return Sandbox{}, fmt.Errorf("pod uid %s: convert cni result: %w", uid, err)
	}
	for _, ipc := range r.IPs {
		if ipc.Interface != nil {
			i := *ipc.Interface
			if i < 0 || i >= len(r.Interfaces) || r.Interfaces[i].Sandbox == "" {
				continue // not an interface inside the pod
			}
		}
		ip := ipc.Address.IP
		return Sandbox{
			UID:       uid,
			NetNSPath: path,
			IP:        ip,
			Gateway:   ipc.Gateway,
			CIDR:      &net.IPNet{IP: ip.Mask(ipc.Address.Mask), Mask: ipc.Address.Mask},
		}, nil
	}
	return Sandbox{}, fmt.Errorf("pod uid %s: cni result has no address for %s", uid, IfName)
}

// Get returns the sandbox of a pod set up earlier, also by an earlier
// process: from libcni's cached result, or, when that is gone, from the
// address on eth0 inside the pinned namespace. It is false when the pod has
// no pinned, networked namespace.
func (m *Manager) Get(uid string) (Sandbox, bool) {
	if validateUID(uid) != nil {
		return Sandbox{}, false
	}
	unlock := m.locks.lock(uid)
	defer unlock()
	path := m.netnsPath(uid)
	if st, err := pinState(path); err != nil || st != nsPinned {
		return Sandbox{}, false
	}
	if sb, ok, err := m.cached(uid, path); err == nil && ok {
		return sb, true
	} else if err != nil {
		m.log.Warn("read cached pod network, reading the netns instead", "uid", uid, "err", err)
	}
	a, ok, err := readPodAddr(path, IfName)
	if err != nil {
		m.log.Warn("read pod network", "uid", uid, "err", err)
		return Sandbox{}, false
	}
	if !ok {
		return Sandbox{}, false
	}
	return Sandbox{UID: uid, NetNSPath: path, IP: a.ip, Gateway: a.gateway, CIDR: a.net}, true
}

// Teardown runs CNI DEL for the pod with the conflist and port mappings
// cached at ADD (so portmap removes its rules and host-local frees the
// address even if the pod cidr changed since), then unpins and removes the
// namespace. It is idempotent: a missing namespace or cache entry is fine.
// When DEL fails the namespace stays pinned so that a retry can finish.
func (m *Manager) Teardown(ctx context.Context, uid string) error {
	if err := validateUID(uid); err != nil {
		return err
	}
	unlock := m.locks.lock(uid)
	defer unlock()
	return m.teardown(ctx, uid)
}

// teardown is Teardown with the uid locked.
func (m *Manager) teardown(ctx context.Context, uid string) error {
	path := m.netnsPath(uid)
	if err := m.del(ctx, uid, path); err != nil {
		return fmt.Errorf("teardown pod uid %s: %w", uid, err)
	}
	if err := unpinNetNS(path); err != nil {
		return fmt.Errorf("teardown pod uid %s: %w", uid, err)
	}
	return nil
}

// del runs CNI DEL for uid. It prefers the conflist and runtime config
// cached at ADD, falls back to the current conflist, and with neither only
// frees host-local addresses of uid. The namespace path is passed only when
// a namespace is mounted there; plugins treat an empty one as gone.
func (m *Manager) del(ctx context.Context, uid, path string) error {
	nsPath := ""
	if st, err := pinState(path); err != nil {
		return err
	} else if st == nsPinned {
		nsPath = path
	}
	rt := runtimeConf(uid, nsPath)
	list := m.confList()
	conf, cachedRT, err := m.cni.GetNetworkListCachedConfig(cacheList(), rt)
	if err != nil {
		m.log.Warn("read cached cni config, using the current one", "uid", uid, "err", err)
	}
	if conf != nil {
		l, err := libcni.NetworkConfFromBytes(conf)
		if err != nil {
			m.log.Warn("parse cached cni config, using the current one", "uid", uid, "err", err)
		} else {
			list, rt = l, cachedRT
			rt.NetNS = nsPath
		}
	}
	if list == nil {
		// Neither a cache entry nor a pod cidr: nothing was ADDed by this
		// configuration that DEL could find. Free stray addresses.
		_, err := m.releaseAddrs(func(id string) bool { return id != uid })
		return err
	}
	// A pod set up with a conflist of before the nftables masquerade has
	// a masquerade chain of its own, made by the bridge plugin (v1.1.1),
	// which finds the addresses whose chains it removes inside the netns;
	// without one they would stay. Remember them from the cached result
	// before DEL drops it.
	var lostAddrs []*net.IPNet
	if nsPath == "" && bridgeMasquerades(list) {
		if sb, ok, err := m.cached(uid, ""); err == nil && ok {
			lostAddrs = []*net.IPNet{{IP: sb.IP, Mask: sb.CIDR.Mask}}
		}
	}
	if err := m.cni.DelNetworkList(ctx, list, rt); err != nil {
		return err
	}
	if len(lostAddrs) > 0 {
		if err := ip.TeardownIPMasqForNetworks(lostAddrs, list.Name, IfName, uid); err != nil {
			m.log.Warn("remove masquerade rules of a pod without netns", "uid", uid, "err", err)
		}
	}
	return nil
}
