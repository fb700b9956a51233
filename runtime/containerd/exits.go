package containerd

import (
	"bufio"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/typeurl/v2"
)

// cgroupRoot is where the cgroup file systems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// monitor records every exit and OOM kill of a skiff task as container
// labels, until ctx ends. When the event stream breaks (containerd
// restarted) it subscribes again, then lists, which re-attaches output
// and records the exits it missed. (NewRuntime lists before the first
// subscription.)
func (r *Runtime) monitor(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for relist := false; ; relist = true {
		started := time.Now()
		err := r.watchExits(ctx, relist)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		r.log.Warn("task events broke; subscribing again", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// watchExits handles exit and OOM events until the stream breaks. With
// relist it lists once subscribed, so that an exit is either in the
// stream or in the list.
func (r *Runtime) watchExits(ctx context.Context, relist bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	envs, errs := r.c.Subscribe(ctx, taskTopics("/tasks/exit", "/tasks/oom")...)
	if relist {
		if _, err := r.List(ctx); err != nil {
			r.log.Warn("relist after event stream broke", "err", err)
		}
	}
	for {
		select {
		case err := <-errs:
			return err
		case env := <-envs:
			ev, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				r.log.Warn("undecodable task event", "topic", env.Topic, "err", err)
				continue
			}
			switch e := ev.(type) {
			case *apievents.TaskExit:
				if e.ID != e.ContainerID {
					continue // an exec'd process
				}
				c, err := r.c.ContainerService().Get(ctx, e.ContainerID)
				if err != nil {
					r.log.Warn("exited container", "container", e.ContainerID, "err", err)
					continue
				}
				r.recordExit(ctx, c, e.ExitStatus, e.ExitedAt.AsTime())
			case *apievents.TaskOOM:
				if err := r.setLabels(ctx, e.ContainerID, map[string]string{labelOOMKilled: "true"}); err != nil {
					r.log.Warn("record oom kill", "container", e.ContainerID, "err", err)
				}
			}
		}
	}
}

// recordExit writes how c's task ended into its labels, OOM kill
// included (from the event or from its cgroup's counters, whichever is
// first), and returns c's labels as they are now.
func (r *Runtime) recordExit(ctx context.Context, c containers.Container, code uint32, at time.Time) map[string]string {
	if at.Unix() <= 0 { // unset, or containerd's zero timestamp
		at = time.Now()
	}
	oom := c.Labels[labelOOMKilled] == "true" || oomKills(cgroupRoot, c.Labels[labelCgroup]) > 0
	l := exitLabels(code, at, oom)
	if err := r.setLabels(ctx, c.ID, l); err != nil {
		r.log.Warn("record exit", "container", c.ID, "err", err)
	}
	merged := maps.Clone(c.Labels)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, l)
	return merged
}

// oomKills is how many processes the kernel's OOM killer killed in the
// cgroup at path: oom_kill in memory.oom_control on cgroup v1, in
// memory.events on v2. A cgroup that is gone counts none.
func oomKills(root, path string) int {
	if path == "" {
		return 0
	}
	for _, f := range []string{
		filepath.Join(root, "memory", path, "memory.oom_control"),
		filepath.Join(root, path, "memory.events"),
	} {
		if n, ok := readCounter(f, "oom_kill"); ok {
			return n
		}
	}
	return 0
}

// readCounter reads "key value" lines and returns key's value.
func readCounter(file, key string) (int, bool) {
	f, err := os.Open(file)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			return n, err == nil
		}
	}
	return 0, false
}
