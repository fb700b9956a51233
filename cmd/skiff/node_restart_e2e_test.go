package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// TestNodeRestartsAndProbes: a crashing container restarts with growing
// back-off and shows CrashLoopBackOff; a liveness failure restarts a
// container; a readiness failure clears Ready without a restart; a
// memory hog ends OOMKilled; bad input ends in a clear reason.
func TestNodeRestartsAndProbes(t *testing.T) {
	n := newTestNode(t, 2)
	n.start()

	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "crash"}, Spec: api.PodSpec{
		Containers: []api.Container{container("crash", "busybox", "sh", "-c", "echo crashing; exit 3")},
	}})
	// Health files in a copy of /www, removed after a few seconds: the
	// liveness and readiness probes pass, then fail.
	flaky := func(name string, kind string) api.Container {
		c := container(name, "httpd", "sh", "-c", "cp -r /www /tmp/w; (sleep 5; rm /tmp/w/healthz) & exec httpd -f -p 8080 -h /tmp/w")
		p := &api.Probe{ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Path: "/healthz", Port: api.FromInt(8080)}}, PeriodSeconds: 1, FailureThreshold: 1}
		if kind == "liveness" {
			c.LivenessProbe = p
		} else {
			c.ReadinessProbe = p
		}
		return c
	}
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "live"}, Spec: api.PodSpec{Containers: []api.Container{flaky("web", "liveness")}}})
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "ready"}, Spec: api.PodSpec{Containers: []api.Container{flaky("web", "readiness")}}})
	hog := container("hog", "busybox", "sh", "-c", "x=a; while true; do x=$x$x; done")
	hog.Resources.Limits = api.ResourceList{api.ResourceMemory: mustQuantity(t, "16Mi")}
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "hog"}, Spec: api.PodSpec{RestartPolicy: api.RestartPolicyNever, Containers: []api.Container{hog}}})
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "noimage"}, Spec: api.PodSpec{Containers: []api.Container{container("c", "no-such-image")}}})
	missingKey := container("c", "busybox", "sleep", "3600")
	missingKey.Env = []api.EnvVar{{Name: "X", ValueFrom: &api.EnvVarSource{ConfigMapKeyRef: &api.ConfigMapKeySelector{LocalObjectReference: api.LocalObjectReference{Name: "nope"}, Key: "k"}}}}
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "nokey"}, Spec: api.PodSpec{Containers: []api.Container{missingKey}}})

	t.Run("readiness clears Ready without a restart", func(t *testing.T) {
		n.waitPod("ready", 60*time.Second, "Ready", isReady)
		p := n.waitPod("ready", 30*time.Second, "not Ready after its health file went", func(p *api.Pod) bool { return !isReady(p) })
		if cs := p.Status.ContainerStatuses[0]; cs.RestartCount != 0 || cs.State.Running == nil || p.Status.Phase != api.PodRunning {
			t.Errorf("readiness failure restarted or stopped the container: %s", statusLine(p))
		}
	})
	t.Run("liveness failure restarts", func(t *testing.T) {
		p := n.waitPod("live", 60*time.Second, "restarted by its liveness probe", func(p *api.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
		})
		if last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; last == nil {
			t.Errorf("no last state after a liveness restart: %s", statusLine(p))
		}
	})
	t.Run("crash loop backs off", func(t *testing.T) {
		p := n.waitPod("crash", 60*time.Second, "in CrashLoopBackOff after two restarts", func(p *api.Pod) bool {
			if len(p.Status.ContainerStatuses) != 1 {
				return false
			}
			cs := p.Status.ContainerStatuses[0]
			return cs.RestartCount >= 2 && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff"
		})
		cs := p.Status.ContainerStatuses[0]
		if last := cs.LastTerminationState.Terminated; last == nil || last.ExitCode != 3 || last.Reason != "Error" {
			t.Errorf("last state: %s", statusLine(p))
		}
		// After two restarts the delay has doubled at least once.
		var delay int
		if _, err := fmt.Sscanf(cs.State.Waiting.Message, "back-off %ds", &delay); err != nil || delay < 20 {
			t.Errorf("back-off message %q, want a delay of 20s or more", cs.State.Waiting.Message)
		}
		// The back-off grew: the first restart came at once, the second
		// only after 10 s.
		if out := n.logFile(p, "crash", 0); !strings.Contains(out, "crashing") {
			t.Errorf("first run's log %q", out)
		}
		first, second := n.startedAt(p, "crash", 1), n.startedAt(p, "crash", 2)
		if gap := second.Sub(first); gap < 9*time.Second {
			t.Errorf("second restart %s after the first, want the 10 s back-off", gap)
		}
	})
	t.Run("memory hog is OOMKilled", func(t *testing.T) {
		p := n.waitPod("hog", 60*time.Second, "Failed", func(p *api.Pod) bool { return p.Status.Phase == api.PodFailed })
		term := p.Status.ContainerStatuses[0].State.Terminated
		if term == nil || term.Reason != "OOMKilled" || term.ExitCode != 137 {
			t.Errorf("hog: %s", statusLine(p))
		}
	})
	t.Run("bad input ends in a clear reason", func(t *testing.T) {
		for _, c := range []struct{ pod, reason, msg string }{
			{"noimage", "ErrImageNeverPull", "no-such-image"},
			{"nokey", "CreateContainerConfigError", `configmap "nope" not found`},
		} {
			p := n.waitPod(c.pod, 30*time.Second, "waiting with "+c.reason, func(p *api.Pod) bool {
				if len(p.Status.ContainerStatuses) != 1 {
					return false
				}
				w := p.Status.ContainerStatuses[0].State.Waiting
				return w != nil && w.Reason == c.reason && strings.Contains(w.Message, c.msg)
			})
			if p.Status.Phase != api.PodPending {
				t.Errorf("%s: phase %s, want Pending", c.pod, p.Status.Phase)
			}
			n.waitEvent(c.pod, c.msg)
		}
	})
}

// startedAt is when a run of a container first wrote output: the time of
// its log file's first line.
func (n *testNode) startedAt(p *api.Pod, container string, attempt int) time.Time {
	n.t.Helper()
	line := n.logFile(p, container, attempt)
	ts, _, _ := strings.Cut(line, " ")
	tm, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		n.t.Fatalf("log line %q of %s run %d: %v", line, container, attempt, err)
	}
	return tm
}

// waitEvent waits for an Event about the pod whose message has msg.
func (n *testNode) waitEvent(pod, msg string) {
	n.t.Helper()
	n.eventually(20*time.Second, "event on "+pod+" saying "+msg, func() (bool, string) {
		list, err := n.client.List(context.Background(), "events", "default", api.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, o := range list.Items {
			e := o.(*api.Event)
			if e.InvolvedObject.Name == pod {
				if strings.Contains(e.Message, msg) {
					return true, ""
				}
				seen = append(seen, e.Reason+": "+e.Message)
			}
		}
		return false, strings.Join(seen, "; ")
	})
}

func mustQuantity(t *testing.T, s string) api.Quantity {
	q, err := api.ParseQuantity(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// taskPIDs maps container id → pid of running tasks, from containerd.
func (n *testNode) taskPIDs() map[string]string {
	n.t.Helper()
	m := n.taskPIDsQuiet()
	if m == nil {
		n.t.Fatal("ctr tasks ls failed")
	}
	return m
}

func readySince(p *api.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodReady {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

func containerIDOf(p *api.Pod, name string) string {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == name {
			return strings.TrimPrefix(cs.ContainerID, "containerd://")
		}
	}
	return ""
}

// TestNodeSurvivesRestarts: kill -9 of skiff (with its embedded agent)
// and of containerd leave running containers running, with the same
// PIDs; the status of a container that died meanwhile is right within
// 5 s of the restart. Deleting a pod runs preStop, sends SIGTERM, and
// SIGKILLs after the grace period.
func TestNodeSurvivesRestarts(t *testing.T) {
	n := newTestNode(t, 3)
	n.start()
	web := container("web", "httpd")
	web.ReadinessProbe = &api.Probe{ProbeHandler: api.ProbeHandler{TCPSocket: &api.TCPSocketAction{Port: api.FromInt(8080)}}, PeriodSeconds: 1}
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "keep"}, Spec: api.PodSpec{Containers: []api.Container{web}}})
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "victim"}, Spec: api.PodSpec{Containers: []api.Container{container("c", "busybox", "sleep", "3600")}}})
	keep := n.waitPod("keep", 60*time.Second, "Ready", isReady)
	victim := n.waitPod("victim", 60*time.Second, "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	before := n.taskPIDs()
	keepID, victimID := containerIDOf(keep, "web"), containerIDOf(victim, "c")
	if before[keepID] == "" || before[victimID] == "" {
		t.Fatalf("tasks %v lack %s or %s", before, keepID, victimID)
	}

	t.Run("kill -9 of skiff", func(t *testing.T) {
		n.srv.cmd.Process.Signal(syscall.SIGKILL)
		<-n.srv.exited
		// While skiff is down, the victim's process dies.
		pid, _ := strconv.Atoi(before[victimID])
		syscall.Kill(pid, syscall.SIGKILL)
		n.srv = n.startServer(n.srv.port())
		restarted := time.Now()
		p := n.waitPod("victim", 15*time.Second, "restarted after dying while skiff was down", func(p *api.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
		})
		if took := time.Since(restarted); took > 5*time.Second {
			t.Errorf("status right %s after the restart, want within 5 s", took.Round(time.Millisecond))
		}
		if last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; last == nil || last.ExitCode != 137 {
			t.Errorf("victim's last state: %s", statusLine(p))
		}
		after := n.taskPIDs()
		if after[keepID] != before[keepID] {
			t.Errorf("keep's container pid %s → %s: it was restarted", before[keepID], after[keepID])
		}
		// keep never left Ready: its condition did not move.
		time.Sleep(2 * time.Second)
		k := n.get("keep")
		if cs := k.Status.ContainerStatuses[0]; cs.RestartCount != 0 || !isReady(k) {
			t.Errorf("keep after skiff's restart: %s", statusLine(k))
		}
		if a, b := readySince(keep), readySince(k); !a.Equal(b) {
			t.Errorf("keep's Ready condition moved from %s to %s across skiff's restart", a, b)
		}
	})

	t.Run("kill -9 of containerd", func(t *testing.T) {
		pids := n.taskPIDs()
		b, err := os.ReadFile(filepath.Join(n.dataDir, "run", "containerd", "containerd.pid"))
		if err != nil {
			t.Fatal(err)
		}
		cpid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if err := syscall.Kill(cpid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// containerd comes back; the pods never stopped running.
		n.eventually(30*time.Second, "containerd back", func() (bool, string) {
			b, _ := os.ReadFile(filepath.Join(n.dataDir, "run", "containerd", "containerd.pid"))
			return strings.TrimSpace(string(b)) != strconv.Itoa(cpid) && len(n.taskPIDsQuiet()) > 0, string(b)
		})
		after := n.taskPIDs()
		for id, pid := range pids {
			if after[id] != pid {
				t.Errorf("container %s: pid %s → %q after containerd's restart", id, pid, after[id])
			}
		}
		time.Sleep(2 * time.Second)
		for _, name := range []string{"keep", "victim"} {
			p := n.get(name)
			if p.Status.Phase != api.PodRunning || p.UID != map[string]string{"keep": keep.UID, "victim": victim.UID}[name] {
				t.Errorf("%s after containerd's restart: %s", name, statusLine(p))
			}
		}
		if cs := n.get("keep").Status.ContainerStatuses[0]; cs.RestartCount != 0 {
			t.Errorf("keep restarted %d times", cs.RestartCount)
		}
	})

	t.Run("delete runs preStop, SIGTERM, then SIGKILL", func(t *testing.T) {
		c := container("c", "busybox", "sh", "-c", `trap 'echo got-TERM; sleep 60' TERM; echo started; while true; do sleep 1; done`)
		c.Lifecycle = &api.Lifecycle{PreStop: &api.LifecycleHandler{Exec: &api.ExecAction{Command: []string{"sh", "-c", "echo prestop-ran > /proc/1/fd/1"}}}}
		grace := int64(3)
		p := n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "term"}, Spec: api.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []api.Container{c}}})
		n.waitPod("term", 60*time.Second, "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
		n.logFile(p, "c", 0) // started
		logPath := filepath.Join(n.dataDir, "pods", p.UID, "logs", "c", "0.log")
		begin := time.Now()
		if _, err := n.pods().Delete(context.Background(), "term", api.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		var log string
		n.eventually(20*time.Second, "preStop and TERM in the log", func() (bool, string) {
			b, _ := os.ReadFile(logPath)
			log = string(b)
			return strings.Contains(log, "got-TERM"), log
		})
		if i, j := strings.Index(log, "prestop-ran"), strings.Index(log, "got-TERM"); i < 0 || i > j {
			t.Errorf("log %q: want preStop's line before TERM's", log)
		}
		n.eventually(30*time.Second, "pod term gone", func() (bool, string) {
			_, err := n.pods().Get(context.Background(), "term")
			return err != nil && strings.Contains(err.Error(), "not found"), fmt.Sprint(err)
		})
		took := time.Since(begin)
		if took < 3*time.Second || took > 20*time.Second {
			t.Errorf("deletion took %s: want the 3 s grace, then SIGKILL (the trap sleeps 60 s)", took.Round(time.Millisecond))
		}
	})
}

func (n *testNode) taskPIDsQuiet() map[string]string {
	sock := filepath.Join(n.dataDir, "run", "containerd", "containerd.sock")
	out, err := exec.Command("ctr", "--address", sock, "-n", "skiff", "tasks", "ls").CombinedOutput()
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(out), "\n")[1:] {
		if f := strings.Fields(l); len(f) >= 3 && f[2] == "RUNNING" {
			m[f[0]] = f[1]
		}
	}
	return m
}
