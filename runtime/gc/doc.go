// Package gc is the node's garbage collector, modelled on the kubelet's
// container and image garbage collection. It removes what the node agent
// leaves behind and no longer needs: exited containers beyond a limit,
// log files of runs that are gone, and unused images when the disk that
// holds them fills up.
//
// It owns the policy below and nothing else. It does not decide what
// runs (runtime/agent does, and already removes all but the last
// keepRuns runs of a container as it restarts them), how containers or
// images are stored (a container runtime does), or how pod directories
// other than their logs/ are cleaned (the agent's teardown and orphan
// clean-up do).
//
// One pass (Collect), every Interval (Run), in this order, so that what a
// step frees is seen by the next:
//
//	runtime.List ──▶ containers ──▶ logs ──▶ images
//	                  │              │         │
//	                  │              │         └ disk of ImageFS above High%?
//	                  │              │           unused images, LRU first,
//	                  │              │           until below Low%
//	                  │              └ <LogDir>/<uid>/logs/<name>/<attempt>.log[.N]
//	                  │                of runs no container is left for
//	                  └ exited containers beyond MaxPerPodContainer per
//	                    (pod, name), and all exited ones of unknown pods
//
// Containers. Only exited containers are ever removed; running, created
// and unknown ones are left alone. Exited containers are grouped by pod
// and container name, newest attempt first; of a pod the agent knows
// (Config.KnownPod) the newest MaxPerPodContainer (default 2) stay, of a
// pod it does not know none do. A container goes only once it has been
// exited for MinAge (default 1 min), so the agent's own restart decision
// is never raced.
//
// Logs. The agent writes each run's output to
// <LogDir>/<pod-uid>/logs/<container>/<attempt>.log, rotated to
// <attempt>.log.1, .2, … (runtime/logs). A file of a run that no
// container in the runtime is left for is removed once its modification
// time is MinAge old. For a pod with no containers that the agent does
// not know, everything under its logs/ directory that is MinAge old goes,
// and then the directories that are left empty, logs/ included. Nothing
// outside <LogDir>/*/logs is touched, symbolic links are never followed,
// and a pod the agent knows (one being started, say) keeps the log files
// of its live runs.
//
// Images. When the file system holding ImageFS (the containerd root) is
// more than HighThresholdPercent (default 85) used, images that no
// container (running or exited, of any pod) refers to by reference or by
// digest are removed, the one unused for longest first, until usage is
// below LowThresholdPercent (default 80). An image is a digest with all
// its references: all go together, and if Config.Keep keeps any of them
// (or the digest) none does. An image is removable only once it has been
// unused for ImageMinAge (default 2 min), which covers the time between a
// pull and the container made from it. When it was last used is known
// only from this process's passes: after a restart every image counts as
// unused from the first pass on. The bytes an image frees are estimated
// from its size as the runtime reports it and the disk is measured again
// after every removal; the pass stops when either says usage is below
// LowThresholdPercent. An image that shares layers with one that stays
// frees less than its size, so a pass may stop early; the next one
// measures again and goes on.
//
// A pass that leaves the disk above LowThresholdPercent with no image
// left that could go returns an error saying why (in use, kept); while
// the only candidates are too recently used it logs that and waits.
//
// A pass that finds nothing to collect writes and removes nothing. Errors
// are returned (Collect) or logged (Run); a failed removal does not stop
// the others, and a failure to list containers stops the pass, since
// nothing can be known to be unused then.
package gc
