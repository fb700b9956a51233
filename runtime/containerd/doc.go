// Package containerd is skiff's side of containerd. It owns two things:
//
//   - the containerd child skiff runs and watches (Supervisor: own
//     config, root, state and socket, as k3s does), or the socket it is
//     given (Connect);
//   - Runtime, container.Runtime on containerd's client: containers,
//     tasks and images, all in the containerd namespace "skiff".
//
// It does not decide what should run on the node; runtime/agent does.
//
// How a container's pieces sit:
//
//	containerd container <id>  labels: pod, name, attempt, spec hash, log path,
//	  │                                image digest, cgroup, and on exit:
//	  │                                started/finished, exit code, OOM
//	  ├─ snapshot <id>          (overlayfs, from the unpacked image)
//	  └─ task <id> ── shim ── runc ── process, cgroup <CgroupParent>/<id>
//	       stdio: FIFODir/<id>/stdout, stderr ──▶ Runtime's copier ──▶ logs.Writer (LogPath)
//
// The task stays after its process exits, until Remove, so that its end
// can be read; the end is also written into the labels, which outlive a
// shim lost in a reboot. Runtime keeps nothing containerd does not: a new
// Runtime (skiff restarted) lists the containers and re-attaches to the
// FIFOs of the running ones, without signalling them; output written
// meanwhile waits in the FIFOs, which the shim holds open.
package containerd
