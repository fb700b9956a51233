// Package agent is skiff's node agent: the kubelet-like loop that makes
// the pods bound to one node real on it and reports what it sees. It owns
// the node's registration and status, each pod's directories, volumes,
// /etc files, network sandbox and containers, restarts with back-off,
// probes' consequences, graceful termination and pod status. It does not
// choose nodes for pods (the scheduler does), run containers itself
// (a container.Runtime does) or wire networks itself (a Network does).
//
// The sync loop is level-triggered: every trigger (a pod changed in the
// API, a container event, a probe result, a back-off timer, the periodic
// relist) only queues the pod's key; a worker then reads the desired pod
// from the informer and the actual containers from the runtime, and
// makes one step toward the desired state. See README.md for the picture.
package agent
