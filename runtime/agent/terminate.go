package agent

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// terminatePod stops a pod that is being deleted (or is gone from the
// API) and, once nothing of it runs, removes every trace of it from the
// node and lets the API forget it. Stopping runs in its own goroutine,
// since a grace period can be long; the pod is queued again when it is
// done.
func (a *Agent) terminatePod(ctx context.Context, uid string, pod *api.Pod) error {
	var running []container.Status
	for _, s := range a.cache.runs(uid) {
		if s.State == container.StateRunning {
			running = append(running, s)
		}
	}
	if len(running) > 0 {
		a.mu.Lock()
		busy := a.terminating[uid]
		a.terminating[uid] = true
		a.mu.Unlock()
		if !busy {
			go func() {
				a.killPod(ctx, uid, pod, running)
				a.mu.Lock()
				delete(a.terminating, uid)
				a.mu.Unlock()
				a.queue.Add(uid)
			}()
		}
		return nil
	}
	a.cfg.Prober.RemovePod(uid)
	for _, s := range a.cache.runs(uid) {
		if err := a.cfg.Runtime.Remove(ctx, s.ID); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s: %w", s.ID, err)
		}
		a.cache.remove(uid, s.ID)
	}
	if err := a.cfg.Network.Teardown(ctx, uid); err != nil {
		return err
	}
	if err := removeCgroup(a.podCgroup(uid)); err != nil {
		return err
	}
	if err := a.removePodDirs(uid); err != nil {
		return err
	}
	if pod != nil {
		zero := int64(0)
		_, err := a.cfg.Client.Delete(ctx, "pods", pod.Namespace, pod.Name, api.DeleteOptions{
			GracePeriodSeconds: &zero, Preconditions: &api.Preconditions{UID: &pod.UID}})
		if err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
			return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		a.log.Info("pod deleted", "pod", pod.Namespace+"/"+pod.Name, "uid", uid)
	}
	a.forgetPod(uid)
	return nil
}

// killPod stops the running containers of a pod, all at once, each with
// its preStop hook, within the pod's grace period.
func (a *Agent) killPod(ctx context.Context, uid string, pod *api.Pod, running []container.Status) {
	grace := time.Duration(0) // a pod gone from the API (forced): no grace
	if pod != nil {
		grace = graceOf(pod, pod.DeletionGracePeriodSeconds)
	}
	var wg sync.WaitGroup
	for _, s := range running {
		var spec *api.Container
		if pod != nil {
			spec = findContainer(pod, s.Name, s.Init)
		}
		wg.Go(func() {
			if pod != nil && spec != nil {
				a.events.normal(pod, "Killing", "Stopping container "+s.Name)
			}
			if _, err := a.stopContainer(ctx, pod, spec, s, grace); err != nil && ctx.Err() == nil {
				a.log.Warn("stop container", "pod", uid, "container", s.Name, "err", err)
			}
		})
	}
	wg.Wait()
}

func findContainer(pod *api.Pod, name string, init bool) *api.Container {
	list := pod.Spec.Containers
	if init {
		list = pod.Spec.InitContainers
	}
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

// stopContainer runs the container's preStop hook (bounded by the
// grace period), then stops it with what is left of the grace, and
// returns its status afterwards.
func (a *Agent) stopContainer(ctx context.Context, pod *api.Pod, c *api.Container, s container.Status, grace time.Duration) (container.Status, error) {
	start := a.now()
	if c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
		hctx, cancel := context.WithTimeout(ctx, grace)
		if err := a.runHook(hctx, pod, c, s.ID, c.Lifecycle.PreStop); err != nil {
			a.events.warn(pod, "FailedPreStopHook", fmt.Sprintf("PreStop hook of container %s failed: %v", c.Name, err))
		}
		cancel()
	}
	left := max(grace-a.now().Sub(start), 0)
	// A grace of zero still sends SIGTERM first; give it a moment.
	if left == 0 {
		left = 100 * time.Millisecond
	}
	if err := a.cfg.Runtime.Stop(ctx, s.ID, left); err != nil && !errdefs.IsNotFound(err) {
		return s, err
	}
	fresh, err := a.inspect(ctx, s)
	if errdefs.IsNotFound(err) {
		return container.Status{ID: s.ID, Pod: s.Pod, Name: s.Name, Attempt: s.Attempt, State: container.StateExited}, nil
	}
	return fresh, err
}

// runHook runs a lifecycle handler against a container.
func (a *Agent) runHook(ctx context.Context, pod *api.Pod, c *api.Container, id string, h *api.LifecycleHandler) error {
	switch {
	case h.Exec != nil:
		out := &limitedBuffer{max: 4096}
		code, err := a.cfg.Runtime.Exec(ctx, id, container.ExecSpec{Command: h.Exec.Command, Stdout: out, Stderr: out})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d: %s", h.Exec.Command, code, out.String())
		}
	case h.HTTPGet != nil:
		return a.hookHTTP(ctx, pod, c, h.HTTPGet)
	case h.TCPSocket != nil:
		host := h.TCPSocket.Host
		if host == "" {
			host = a.podIP(pod)
		}
		port, err := resolvePort(c, h.TCPSocket.Port)
		if err != nil {
			return err
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		conn.Close()
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
	}
	return nil
}

func (a *Agent) hookHTTP(ctx context.Context, pod *api.Pod, c *api.Container, g *api.HTTPGetAction) error {
	host := g.Host
	if host == "" {
		host = a.podIP(pod)
	}
	port, err := resolvePort(c, g.Port)
	if err != nil {
		return err
	}
	scheme := "http"
	if g.Scheme == api.URISchemeHTTPS {
		scheme = "https"
	}
	path := g.Path
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path), nil)
	if err != nil {
		return err
	}
	for _, h := range g.HTTPHeaders {
		req.Header.Set(h.Name, h.Value)
	}
	resp, err := a.hooks.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s answered %s", req.URL, resp.Status)
	}
	return nil
}

func (a *Agent) podIP(pod *api.Pod) string {
	if pod == nil {
		return ""
	}
	if sb, ok := a.cfg.Network.Get(pod.UID); ok && sb.IP != nil {
		return sb.IP.String()
	}
	if pod.Spec.HostNetwork {
		return a.cfg.NodeIP
	}
	return pod.Status.PodIP
}

// resolvePort reads a port number or a container port's name.
func resolvePort(c *api.Container, p api.IntOrString) (int, error) {
	if p.Type == api.IntType {
		return int(p.IntVal), nil
	}
	if c != nil {
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort), nil
			}
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("container has no port named %q", p.StrVal)
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// removeCgroup removes a pod's cgroup directories (on cgroup v1 one per
// hierarchy, on v2 one), deepest first. Directories that still hold
// processes stay; a missing one is fine.
func removeCgroup(rel string) error {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	var firstErr error
	for _, root := range roots {
		dir := filepath.Join(root, rel)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		var dirs []string
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !os.IsNotExist(err) && firstErr == nil {
				firstErr = fmt.Errorf("remove cgroup %s: %w", dirs[i], err)
			}
		}
	}
	return firstErr
}
