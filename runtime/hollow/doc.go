// Package hollow runs simulated nodes for tests and benchmarks of the
// control plane at 100 to 1,000 nodes on one machine. A hollow node is a
// real runtime/agent.Agent — it registers its Node, waits for a pod
// subnet, renews its lease, watches its pods, restarts crashed
// containers with back-off, runs probes, writes pod statuses and Events
// — with three things swapped: a Runtime that keeps containers as
// records in memory (no containerd, no processes, no log files), a
// Network that hands out addresses of the node's pod CIDR (no netns, no
// CNI, no nftables) and a Prober that turns every probe into an exec the
// Runtime answers.
//
// A pod's containers misbehave on demand through HOLLOW_* environment
// variables (EnvExitAfter, EnvExitCode, EnvOOM, EnvStartError,
// EnvStopDelay, EnvReadyAfter, EnvStartupAfter, EnvLivenessFailAfter,
// EnvExecExitCode); images whose reference contains "missing" cannot be
// pulled. See README.md.
//
// It owns none of the agent's logic and nothing of the server: tests
// bring the registry (in-process, or HTTPS), the controllers and the
// scheduler, and hand the Backend to Start.
package hollow
