// Package probe runs the startup, liveness and readiness probes of a
// node's running containers, the way kubelet's prober does: one worker
// goroutine per (pod, container, probe kind) probes on the probe's period,
// counts consecutive results against its thresholds, and keeps the
// current result in a cache the node agent reads (Manager.Result) and is
// told about when it changes (Manager.Updates).
//
// It owns the probers (httpGet, tcpSocket, exec), their timeouts and the
// result state machine. It does not decide what a result means for the
// pod: restarting a container whose liveness probe failed, killing one
// whose startup probe failed and marking a pod ready are runtime/agent's
// work; the agent also tells the manager which containers run (Sync).
// Exec probes run through an Execer, which the container runtime is.
package probe
