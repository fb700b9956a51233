package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/skiffhq/skiff/server/api"
)

// containerID is the runtime name of one run of one container: the same
// for the same pod, container and attempt, so a create retried after the
// agent died half-way finds the container it already made.
func containerID(podUID, name string, attempt int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%d", podUID, name, attempt))
	return hex.EncodeToString(sum[:16])
}

// specHash identifies a container's spec: when it changes, the running
// container no longer matches the pod and is replaced.
func specHash(c *api.Container) string {
	b, _ := json.Marshal(c) // a decoded api.Container always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// paths are where one pod's files live on the node.
type paths struct{ data, state string }

func (a *Agent) podPaths(uid string) paths {
	return paths{
		data:  filepath.Join(a.cfg.DataDir, "pods", uid),
		state: filepath.Join(a.cfg.StateDir, "pods", uid),
	}
}

// etc holds the pod's hosts, hostname and resolv.conf.
func (p paths) etc() string { return filepath.Join(p.state, "etc") }

// emptyDir is an emptyDir volume on disk.
func (p paths) emptyDir(name string) string {
	return filepath.Join(p.data, "volumes", "empty-dir", name)
}

// projected is a configMap or secret volume (tmpfs: secrets never touch flash).
func (p paths) projected(name string) string { return filepath.Join(p.state, "volumes", name) }

// log is the log file of one run of a container.
func (p paths) log(container string, attempt int) string {
	return filepath.Join(p.data, "logs", container, fmt.Sprintf("%d.log", attempt))
}

// podCgroup is the cgroup parent of a pod's containers.
func (a *Agent) podCgroup(uid string) string {
	return a.cfg.CgroupRoot + "/pod" + uid
}
