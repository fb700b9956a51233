package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// BenchmarkJoinedAgent measures `skiff agent` on its own (joined to a
// server on another node): its RSS with 0 and 50 pods and its CPU while
// they idle; and the price of the server's proxy: `skiff exec POD -- true`
// against the floor `ctr task exec` on the node, and `skiff logs` of a
// 4 MB log against reading the log file.
func BenchmarkJoinedAgent(b *testing.B) {
	srv, ag, token := newJoinPair(b, 10, 11)
	ag.srv = ag.startAgent(srv.srv.url, token)
	b.Cleanup(ag.cleanup)
	ag.waitNodeReady()
	pid := ag.srv.cmd.Process.Pid
	time.Sleep(2 * time.Second)
	rss0, anon0 := rssKB(b, pid), anonKB(pid)

	ag.startPods(b, "idle", 50)
	time.Sleep(3 * time.Second)
	rss50, anon50 := rssKB(b, pid), anonKB(pid)
	cpu := cpuShare(pid, 20*time.Second)

	// A pod with a 4 MB log and a running task to exec in.
	ag.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "big"}, Spec: api.PodSpec{NodeName: ag.name, Containers: []api.Container{
		container("c", "busybox", "sh", "-c", "seq 1 560000; exec sleep 3600")}}})
	p := ag.waitPod("big", 60*time.Second, "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	path := filepath.Join(ag.dataDir, "pods", p.UID, "logs", "c", "0.log")
	ag.eventually(30*time.Second, "the whole log written", func() (bool, string) {
		fi, err := os.Stat(path)
		return err == nil && fi.Size() > 4<<20, fmt.Sprint(err)
	})
	env := []string{"SKIFF_CONFIG=" + srv.srv.config}
	taskID := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://")
	sock := filepath.Join(ag.dataDir, "run", "containerd", "containerd.sock")

	const runs = 20
	var viaSkiff, floor []float64
	for i := range runs {
		start := time.Now()
		if r := runSkiff(b, env, "", "exec", "big", "--", "true"); r.code != 0 {
			b.Fatalf("skiff exec: %d %s", r.code, r.err)
		}
		viaSkiff = append(viaSkiff, ms(time.Since(start)))
		start = time.Now()
		out, err := exec.Command("ctr", "--address", sock, "-n", "skiff", "task", "exec", "--exec-id", fmt.Sprintf("bench%d", i), taskID, "true").CombinedOutput()
		if err != nil {
			b.Fatalf("ctr task exec: %v %s", err, out)
		}
		floor = append(floor, ms(time.Since(start)))
	}
	var logsSkiff, logsFloor []float64
	size := int64(0)
	for range 5 {
		start := time.Now()
		r := runSkiff(b, env, "", "logs", "big")
		logsSkiff = append(logsSkiff, ms(time.Since(start)))
		size = int64(len(r.out))
		start = time.Now()
		if _, err := os.ReadFile(path); err != nil {
			b.Fatal(err)
		}
		logsFloor = append(logsFloor, ms(time.Since(start)))
	}
	med := func(v []float64) float64 { s := slices.Clone(v); slices.Sort(s); return s[len(s)/2] }
	fmt.Printf("skiff agent alone RSS: %d kB with 0 pods, %d kB with 50 running (private: %d kB, %d kB); CPU with 50 idle pods: %.2f%% of one core\n",
		rss0, rss50, anon0, anon50, cpu*100)
	fmt.Printf("exec through the server: p50 %.1f ms  floor ctr task exec p50 %.1f ms  ratio %.2f\n", med(viaSkiff), med(floor), med(viaSkiff)/med(floor))
	fmt.Printf("logs of %.1f MB through the server: p50 %.1f ms (%.0f MB/s)  floor read of the file: %.1f ms\n",
		float64(size)/1e6, med(logsSkiff), float64(size)/1e6/(med(logsSkiff)/1000), med(logsFloor))
	b.ReportMetric(float64(rss0), "agent-rss0-kB")
	b.ReportMetric(float64(rss50), "agent-rss50-kB")
	b.ReportMetric(float64(anon50), "agent-anon50-kB")
	b.ReportMetric(med(viaSkiff), "exec-p50-ms")
	b.ReportMetric(med(floor), "exec-floor-p50-ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
