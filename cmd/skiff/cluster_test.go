package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/deployment"
	"github.com/skiffhq/skiff/server/controller/job/jobtest"
)

// The tests here put the scheduler and the controllers, as `skiff server`
// runs them (controller/manager), together with hollow nodes: real agents
// on an in-memory runtime. Each test has a cluster of its own, so they run
// in parallel; the Job test's back-off (10 s, then 20 s, on the wall
// clock) is most of the file's time.
//
//	go test -run TestHollow -race ./cmd/skiff/

// clusterTimeout bounds one test; every wait inside has a shorter one.
const clusterTimeout = 90 * time.Second

// infraTaint is the taint the taint and anti-affinity tests put on a node.
var infraTaint = api.Taint{Key: "dedicated", Value: "infra", Effect: api.TaintEffectNoSchedule}

// TestHollowTopologySpreadEvensZones: nine replicas with a zone spread
// constraint (maxSkew 1) land three per zone, although zone a has two
// nodes and b and c one each.
func TestHollowTopologySpreadEvensZones(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	hc := startHollowCluster(t, ctx, 4) // zones a, b, c, a
	tmpl := hollowTemplate("spread")
	tmpl.Spec.TopologySpreadConstraints = []api.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone",
		WhenUnsatisfiable: api.DoNotSchedule, LabelSelector: &api.LabelSelector{MatchLabels: tmpl.Labels}}}
	hollowCreate(t, ctx, hc, hollowReplicaSet("spread", 9, tmpl))
	pods := hc.waitPods(t, ctx, "app=spread", "9 pods Ready", func(pods []*api.Pod) bool { return countReady(pods) == 9 })

	got := map[string]int{}
	for _, p := range pods {
		got[hc.zoneOf(p.Spec.NodeName)]++
	}
	if want := map[string]int{"a": 3, "b": 3, "c": 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("pods per zone: got %v, want %v (nodes: %s)", got, want, placement(pods))
	}
}

// TestHollowAntiAffinityLeavesExtraPending: four replicas with required
// anti-affinity on the hostname, on three schedulable nodes and a tainted
// one. Three run on three different nodes; the fourth stays Pending and
// says why per class of node, in its PodScheduled condition and in a
// FailedScheduling Event — and still does after a replica is replaced.
func TestHollowAntiAffinityLeavesExtraPending(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	hc := startHollowClusterWith(t, ctx, hollowClusterConfig{Nodes: 4, Taints: taintNode(3)})
	tainted := hc.nodes.Nodes[3].Name
	tmpl := hollowTemplate("anti")
	tmpl.Spec.Affinity = &api.Affinity{PodAntiAffinity: &api.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []api.PodAffinityTerm{{
			LabelSelector: &api.LabelSelector{MatchLabels: tmpl.Labels}, TopologyKey: "kubernetes.io/hostname"}}}}
	hollowCreate(t, ctx, hc, hollowReplicaSet("anti", 4, tmpl))

	// One class per reason, by count. As in Kubernetes, the incoming
	// pod's anti-affinity is checked before the existing pods', so the
	// reason is the pod's own rule. What the scheduler may append after
	// the sentence (what preemption found) is not judged.
	why := regexp.MustCompile(`^0/4 nodes are available: 3 node\(s\) didn't match pod anti-affinity rules, 1 node\(s\) had untolerated taint \{dedicated: infra\}\.`)
	check := func(round string) {
		t.Helper()
		pods := hc.waitPods(t, ctx, "app=anti", round+": 3 pods Ready on 3 nodes, 1 Pending saying "+why.String(), func(pods []*api.Pod) bool {
			pending := unscheduled(pods)
			return countReady(pods) == 3 && len(pending) == 1 && why.MatchString(unschedulableMessage(pending[0]))
		})
		nodes := map[string]bool{}
		for _, p := range pods {
			if p.DeletionTimestamp == nil && p.Spec.NodeName != "" {
				if nodes[p.Spec.NodeName] || p.Spec.NodeName == tainted {
					t.Errorf("%s: want one replica on each of the three untainted nodes; got %s", round, placement(pods))
				}
				nodes[p.Spec.NodeName] = true
			}
		}
		pending := unscheduled(pods)[0]
		ev := hc.waitEvent(t, ctx, pending.Name, "FailedScheduling", why)
		if ev.Type != api.EventTypeWarning {
			t.Errorf("%s: FailedScheduling Event of %s: type %q, want %q", round, pending.Name, ev.Type, api.EventTypeWarning)
		}
	}
	check("at first")

	// A replica deleted frees its node: its replacement and the pending
	// pod race for it; one wins and the other is refused again.
	pods := hc.pods(t, ctx, "app=anti")
	var victim *api.Pod
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			victim = p
			break
		}
	}
	if _, err := client.For[*api.Pod](hc.reg, "default").Delete(ctx, victim.Name, api.DeleteOptions{}); err != nil {
		t.Fatalf("delete pod %s: %v", victim.Name, err)
	}
	hc.waitPods(t, ctx, "app=anti", "pod "+victim.Name+" gone", func(pods []*api.Pod) bool {
		for _, p := range pods {
			if p.UID == victim.UID {
				return false
			}
		}
		return true
	})
	check("after replacing " + victim.Name)
}

// TestHollowTaintsRepel: a NoSchedule taint keeps pods without a
// toleration off its node — even one that asks for that node by name,
// which stays Pending and says so — and a tolerating pod runs there.
func TestHollowTaintsRepel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	hc := startHollowClusterWith(t, ctx, hollowClusterConfig{Nodes: 3, Taints: taintNode(0)})
	tainted := hc.nodes.Nodes[0].Name

	hollowCreate(t, ctx, hc, hollowReplicaSet("plain", 6, hollowTemplate("plain")))
	pods := hc.waitPods(t, ctx, "app=plain", "6 pods Ready", func(pods []*api.Pod) bool { return countReady(pods) == 6 })
	for _, p := range pods {
		if p.Spec.NodeName == tainted {
			t.Errorf("pod %s without a toleration is on the tainted node %s; want none there (%s)", p.Name, tainted, placement(pods))
		}
	}

	pinned := func(name string, tolerate bool) *api.Pod {
		tmpl := hollowTemplate(name)
		tmpl.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": tainted}
		if tolerate {
			tmpl.Spec.Tolerations = []api.Toleration{{Key: infraTaint.Key, Operator: api.TolerationOpEqual, Value: infraTaint.Value, Effect: api.TaintEffectNoSchedule}}
		}
		return &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: tmpl.Labels}, Spec: tmpl.Spec}
	}
	hollowCreate(t, ctx, hc, pinned("intolerant", false))
	const why = "0/3 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: infra}."
	hc.waitPods(t, ctx, "app=intolerant", "the pod without a toleration Pending saying "+why, func(pods []*api.Pod) bool {
		return len(pods) == 1 && pods[0].Spec.NodeName == "" && strings.HasPrefix(unschedulableMessage(pods[0]), why)
	})
	hc.waitEvent(t, ctx, "intolerant", "FailedScheduling", prefix(why))

	hollowCreate(t, ctx, hc, pinned("tolerant", true))
	got := hc.waitPods(t, ctx, "app=tolerant", "the tolerating pod Ready", func(pods []*api.Pod) bool { return countReady(pods) == 1 })
	if got[0].Spec.NodeName != tainted {
		t.Errorf("tolerating pod on %q, want the tainted node %s", got[0].Spec.NodeName, tainted)
	}
	if p := hc.pods(t, ctx, "app=intolerant")[0]; p.Spec.NodeName != "" {
		t.Errorf("pod without a toleration bound to %s after the tolerating one ran; want it still Pending", p.Spec.NodeName)
	}
}

// TestHollowRollingUpdateAndUndo: a Deployment of 4 whose pods turn
// Ready a second after they start (a readiness probe, HOLLOW_READY_AFTER)
// rolls to a new template with maxUnavailable 0 and maxSurge 25%, then
// back with `skiff rollout undo`'s code. A watch of its pods counts, at
// every change, the pods Ready and not being deleted: never fewer than 4.
func TestHollowRollingUpdateAndUndo(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	hc := startHollowCluster(t, ctx, 3)
	deps := client.For[*api.Deployment](hc.reg, "default")
	const replicas = 4
	tmpl := hollowTemplate("web", api.EnvVar{Name: "HOLLOW_READY_AFTER", Value: "1s"})
	tmpl.Spec.Containers[0].ReadinessProbe = &api.Probe{ProbeHandler: api.ProbeHandler{Exec: &api.ExecAction{Command: []string{"ready"}}}, PeriodSeconds: 1}
	zero, surge := api.FromInt(0), api.FromString("25%")
	d := &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.DeploymentSpec{
			Replicas: int32Ptr(replicas),
			Selector: &api.LabelSelector{MatchLabels: tmpl.Labels},
			Template: tmpl,
			Strategy: api.DeploymentStrategy{Type: api.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &api.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &surge}},
		},
	}
	hollowCreate(t, ctx, hc, d)
	first := hc.waitRolledOut(t, ctx, "web", replicas, "create")
	rev1 := first.Spec.Template // as stored: defaults filled in

	// rolled waits for a rollout with every pod of the wanted template,
	// watching the ready count from before the change to the end.
	rolled := func(what string, change func(), wantVersion string) *api.Deployment {
		t.Helper()
		w := watchReady(t, ctx, hc, "app=web")
		change()
		done := hc.waitRolledOut(t, ctx, "web", replicas, what)
		hc.waitPods(t, ctx, "app=web", fmt.Sprintf("%d pods, all of the %s template", replicas, what), func(pods []*api.Pod) bool {
			if len(pods) != replicas {
				return false
			}
			for _, p := range pods {
				if envOf(p, "VERSION") != wantVersion || !podReady(p) {
					return false
				}
			}
			return true
		})
		low, high, changes, err := w.stop()
		if err != nil {
			t.Fatalf("%s: pod watch: %v", what, err)
		}
		t.Logf("%s: %d pod changes watched; Ready pods not being deleted: %d to %d", what, changes, low, high)
		if low < replicas {
			t.Errorf("%s: Ready pods not being deleted fell to %d at some moment; want never below %d (maxUnavailable 0)", what, low, replicas)
		}
		if high != replicas+1 {
			t.Errorf("%s: at most %d pods were Ready at once; want %d (one surge pod, maxSurge 25%% of %d)", what, high, replicas+1, replicas)
		}
		if changes < 3*replicas {
			t.Errorf("%s: watched %d pod changes; want at least %d (a create, Ready and delete per replaced pod) — did the watch see the rollout?", what, changes, 3*replicas)
		}
		return done
	}

	rolled("update", func() {
		if err := client.RetryOnConflict(ctx, func() error {
			cur, err := deps.Get(ctx, "web")
			if err != nil {
				return err
			}
			cur.Spec.Template.Spec.Containers[0].Env = append(cur.Spec.Template.Spec.Containers[0].Env, api.EnvVar{Name: "VERSION", Value: "2"})
			_, err = deps.Update(ctx, cur)
			return err
		}); err != nil {
			t.Fatalf("update deployment web: %v", err)
		}
	}, "2")

	back := rolled("undo", func() {
		var out bytes.Buffer
		if err := rolloutUndo(ctx, &out, hc.reg, "default", "web", 0); err != nil {
			t.Fatalf("rollout undo: %v", err)
		}
		if got, want := out.String(), "deployment/web rolled back\n"; got != want {
			t.Errorf("rollout undo said %q, want %q", got, want)
		}
	}, "")
	if !reflect.DeepEqual(back.Spec.Template.Spec, rev1.Spec) || back.Spec.Template.Labels["app"] != "web" {
		t.Errorf("template after undo:\n%s\nwant revision 1's:\n%s", jsonOf(back.Spec.Template), jsonOf(rev1))
	}
	_, owned, err := deploymentHistory(ctx, hc.reg, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	var revs []string
	for _, rs := range owned {
		revs = append(revs, fmt.Sprintf("rev %d (VERSION=%q, %d replicas)", deployment.Revision(rs), rsEnv(rs, "VERSION"), deref(rs.Spec.Replicas)))
	}
	sort.Strings(revs)
	if want := []string{`rev 2 (VERSION="2", 0 replicas)`, `rev 3 (VERSION="", 4 replicas)`}; !reflect.DeepEqual(revs, want) {
		t.Errorf("replica sets after undo: %v; want %v (revision 1's set becomes revision 3)", revs, want)
	}
}

// TestHollowJobBackoffLimit: a Job whose pod always fails (exit 1,
// restartPolicy Never) with backoffLimit 2 is Failed, reason
// BackoffLimitExceeded, after exactly 3 failed pods — made 10 s and 20 s
// apart by the job controller's back-off.
func TestHollowJobBackoffLimit(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	hc := startHollowCluster(t, ctx, 2)
	tmpl := hollowTemplate("fail", api.EnvVar{Name: "HOLLOW_EXIT_CODE", Value: "1"})
	tmpl.Spec.RestartPolicy = api.RestartPolicyNever
	j := hollowCreate(t, ctx, hc, &api.Job{
		ObjectMeta: api.ObjectMeta{Name: "fail", Namespace: "default"},
		Spec:       api.JobSpec{BackoffLimit: int32Ptr(2), Template: tmpl},
	})

	jobs := client.For[*api.Job](hc.reg, "default")
	var got *api.Job
	eventually(t, ctx, 60*time.Second, "job fail with condition Failed=True", func() (bool, string, error) {
		var err error
		if got, err = jobs.Get(ctx, "fail"); err != nil {
			return false, "", err
		}
		return jobCondition(got, api.JobFailed) != nil, fmt.Sprintf("status %s", jsonOf(got.Status)), nil
	})
	c := jobCondition(got, api.JobFailed)
	if c.Reason != "BackoffLimitExceeded" {
		t.Errorf("Failed condition reason %q (%s), want BackoffLimitExceeded", c.Reason, c.Message)
	}
	if got.Status.Failed != 3 || got.Status.Active != 0 || got.Status.Succeeded != 0 {
		t.Errorf("status failed/active/succeeded %d/%d/%d, want 3/0/0", got.Status.Failed, got.Status.Active, got.Status.Succeeded)
	}
	var owned []*api.Pod
	for _, p := range hc.pods(t, ctx, "") {
		if r := api.ControllerOf(&p.ObjectMeta); r != nil && r.UID == j.UID {
			owned = append(owned, p)
		}
	}
	sort.Slice(owned, func(a, b int) bool { return owned[a].CreationTimestamp.Before(owned[b].CreationTimestamp.Time) })
	var phases []string
	for _, p := range owned {
		phases = append(phases, string(p.Status.Phase))
	}
	if want := []string{"Failed", "Failed", "Failed"}; !reflect.DeepEqual(phases, want) {
		t.Errorf("the job's pods: %v, want %v", phases, want)
	}
	for i := 1; i < len(owned); i++ {
		t.Logf("pod %d created %s after pod %d", i+1, owned[i].CreationTimestamp.Sub(owned[i-1].CreationTimestamp.Time), i)
	}
}

// TestHollowCronJobForbid: a CronJob every minute, concurrencyPolicy
// Forbid, on a clock the test moves. Its first Job runs until the test
// ends its pod; the next schedule time meanwhile makes no Job (a
// JobAlreadyActive Event); once the first finishes, the held-back time
// runs, and after that the next schedule time makes its Job as usual. A
// watch of the Jobs sees at most one unfinished at any moment.
func TestHollowCronJobForbid(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	clock := jobtest.NewClock(time.Now())
	hc := startHollowClusterWith(t, ctx, hollowClusterConfig{Nodes: 2, CronJobClock: clock})
	jw := watchJobs(t, ctx, hc)

	tmpl := hollowTemplate("tick") // runs until killed
	tmpl.Spec.RestartPolicy = api.RestartPolicyNever
	cj := hollowCreate(t, ctx, hc, &api.CronJob{
		ObjectMeta: api.ObjectMeta{Name: "tick", Namespace: "default"},
		Spec: api.CronJobSpec{Schedule: "* * * * *", ConcurrencyPolicy: api.ForbidConcurrent,
			JobTemplate: api.JobTemplateSpec{Spec: api.JobSpec{BackoffLimit: int32Ptr(0), Template: tmpl}}},
	})
	cron, err := api.ParseCron(cj.Spec.Schedule)
	if err != nil {
		t.Fatal(err)
	}
	t1 := cron.Next(cj.CreationTimestamp.Time.In(time.Local))
	t2, t3 := cron.Next(t1), cron.Next(cron.Next(t1))
	name := func(at time.Time) string { return fmt.Sprintf("tick-%d", at.Unix()/60) }

	// jobsNow waits for the cron job's Jobs to be exactly want (names),
	// the last of them with its pod running.
	jobsNow := func(what string, want ...string) *api.Pod {
		t.Helper()
		var running *api.Pod
		eventually(t, ctx, 20*time.Second, fmt.Sprintf("%s: jobs %v, the last one's pod running", what, want), func() (bool, string, error) {
			names := jw.names()
			running = nil
			for _, p := range hc.pods(t, ctx, "") {
				if r := api.ControllerOf(&p.ObjectMeta); r != nil && r.Name == want[len(want)-1] && p.Status.Phase == api.PodRunning {
					running = p
				}
			}
			return reflect.DeepEqual(names, want) && running != nil, fmt.Sprintf("jobs %v, pod running: %v", names, running != nil), nil
		})
		return running
	}
	// finish ends a Job's pod with exit code 0 and waits for the Job to
	// be Complete.
	finish := func(p *api.Pod) {
		t.Helper()
		killed := false
		rt := hc.nodes.Node(p.Spec.NodeName).Runtime
		list, err := rt.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if c.Pod.UID == p.UID && rt.Kill(c.ID, 0) {
				killed = true
			}
		}
		if !killed {
			t.Fatalf("pod %s: no running container on %s to end", p.Name, p.Spec.NodeName)
		}
		job := api.ControllerOf(&p.ObjectMeta).Name
		eventually(t, ctx, 20*time.Second, "job "+job+" Complete", func() (bool, string, error) {
			j, err := client.For[*api.Job](hc.reg, "default").Get(ctx, job)
			if err != nil {
				return false, "", err
			}
			return jobCondition(j, api.JobComplete) != nil, fmt.Sprintf("status %s", jsonOf(j.Status)), nil
		})
	}

	clock.Set(t1.Add(time.Second))
	pod1 := jobsNow("at the first schedule time", name(t1))

	clock.Set(t2.Add(time.Second))
	hc.waitEvent(t, ctx, "tick", "JobAlreadyActive", prefix("Not starting job because prior execution is running and concurrency policy is Forbid"))
	if names := jw.names(); !reflect.DeepEqual(names, []string{name(t1)}) {
		t.Fatalf("after the second schedule time with the first Job running: jobs %v, want only %s", names, name(t1))
	}
	cur, err := client.For[*api.CronJob](hc.reg, "default").Get(ctx, "tick")
	if err != nil {
		t.Fatal(err)
	}
	if s := cur.Status; len(s.Active) != 1 || s.Active[0].Name != name(t1) || s.LastScheduleTime == nil || !s.LastScheduleTime.Equal(t1) {
		t.Errorf("cron job status while held back: %s; want active [%s], lastScheduleTime %s", jsonOf(s), name(t1), t1.UTC().Format(time.RFC3339))
	}

	finish(pod1)
	pod2 := jobsNow("after the first Job finished", name(t1), name(t2))
	finish(pod2)
	clock.Set(t3.Add(time.Second))
	jobsNow("at the third schedule time", name(t1), name(t2), name(t3))

	most, err := jw.stop()
	if err != nil {
		t.Fatalf("job watch: %v", err)
	}
	if most != 1 {
		t.Errorf("at most %d unfinished Jobs at once, want 1 (concurrencyPolicy Forbid)", most)
	}
}

// hollowTemplate is a pod template labelled app=<app>, one container
// asking for a little CPU and memory, with env.
// TestHollowPreemptionEvictsLowestFirst: two nodes full of pods of
// priorities low and mid; a pod of class high that fits nowhere evicts
// exactly one pod, a low one, and takes its place; the mid pods are
// never touched. A pod of class high with preemptionPolicy Never
// evicts nothing and waits.
func TestHollowPreemptionEvictsLowestFirst(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	hc := startHollowCluster(t, ctx, 2) // 4 cpu each
	never := api.PreemptNever
	for _, pc := range []*api.PriorityClass{
		{ObjectMeta: api.ObjectMeta{Name: "low"}, Value: 100},
		{ObjectMeta: api.ObjectMeta{Name: "mid"}, Value: 200},
		{ObjectMeta: api.ObjectMeta{Name: "high"}, Value: 1000},
		{ObjectMeta: api.ObjectMeta{Name: "high-polite"}, Value: 1000, PreemptionPolicy: &never},
	} {
		if _, err := client.For[*api.PriorityClass](hc.reg, "").Create(ctx, pc); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(name, class string) *api.Pod {
		tmpl := hollowTemplate(class)
		tmpl.Spec.Containers[0].Resources.Requests[api.ResourceCPU] = api.NewMilliQuantity(1000)
		tmpl.Spec.PriorityClassName = class
		grace := int64(1)
		tmpl.Spec.TerminationGracePeriodSeconds = &grace
		return &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: tmpl.Labels}, Spec: tmpl.Spec}
	}
	for i := range 4 {
		hollowCreate(t, ctx, hc, pod(fmt.Sprintf("low-%d", i), "low"))
		hollowCreate(t, ctx, hc, pod(fmt.Sprintf("mid-%d", i), "mid"))
	}
	all := "app in (low,mid,high,high-polite)"
	hc.waitPods(t, ctx, all, "8 pods Ready, the nodes full", func(pods []*api.Pod) bool { return countReady(pods) == 8 })
	if p := hc.pods(t, ctx, "app=low")[0]; p.Spec.Priority == nil || *p.Spec.Priority != 100 {
		t.Fatalf("a low pod's spec.priority = %v, want 100 from its class", p.Spec.Priority)
	}

	// Never: waits, evicts nothing.
	hollowCreate(t, ctx, hc, pod("polite", "high-polite"))
	hc.waitEvent(t, ctx, "polite", "FailedScheduling", prefix("0/2 nodes are available: 2 Insufficient cpu"))

	hollowCreate(t, ctx, hc, pod("urgent", "high"))
	pods := hc.waitPods(t, ctx, all, "urgent Ready in a low pod's place, 3 low and 4 mid pods left", func(pods []*api.Pod) bool {
		var low, mid int
		urgent := false
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue
			}
			switch {
			case p.Name == "urgent":
				urgent = podReady(p)
			case p.Labels["app"] == "low":
				low++
			case p.Labels["app"] == "mid":
				mid++
			}
		}
		return urgent && low == 3 && mid == 4
	})
	for _, p := range pods {
		if p.Name == "polite" && p.Spec.NodeName != "" {
			t.Errorf("the pod with preemptionPolicy Never was bound to %s; nothing should have been evicted for it", p.Spec.NodeName)
		}
	}
	var victim string
	for i := range 4 {
		name := fmt.Sprintf("low-%d", i)
		if _, err := client.For[*api.Pod](hc.reg, "default").Get(ctx, name); err != nil {
			victim = name
		}
	}
	if victim == "" {
		t.Fatalf("no low pod is gone; pods: %s", placement(pods))
	}
	hc.waitEvent(t, ctx, victim, "Preempted", prefix("Preempted by default/urgent on node "))
	// The polite pod still waits: no room, and it may not make any.
	time.Sleep(500 * time.Millisecond)
	for _, p := range hc.pods(t, ctx, all) {
		if p.Name == "polite" && p.Spec.NodeName != "" {
			t.Errorf("polite bound to %s", p.Spec.NodeName)
		}
		if p.Labels["app"] == "mid" && p.DeletionTimestamp != nil {
			t.Errorf("mid pod %s is being deleted", p.Name)
		}
	}
}

// TestHollowStatefulSetClaimsFollowReplicas: a StatefulSet's replicas
// each get a claim (data-db-i) whose volume lives on the node the
// replica first ran on; a replica deleted comes back on that node; the
// claims outlive the set; a claim deleted once no pod uses it takes its
// directory with it.
func TestHollowStatefulSetClaimsFollowReplicas(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	hc := startHollowClusterWith(t, ctx, hollowClusterConfig{Nodes: 3, ClaimGCPeriod: 200 * time.Millisecond})
	tmpl := hollowTemplate("db")
	tmpl.Spec.Containers[0].VolumeMounts = []api.VolumeMount{{Name: "data", MountPath: "/var/lib/db"}}
	replicas := int32(3)
	hollowCreate(t, ctx, hc, &api.StatefulSet{
		ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: api.StatefulSetSpec{
			Replicas: &replicas, Selector: &api.LabelSelector{MatchLabels: tmpl.Labels}, Template: tmpl,
			VolumeClaimTemplates: []api.PersistentVolumeClaim{{ObjectMeta: api.ObjectMeta{Name: "data"},
				Spec: api.PersistentVolumeClaimSpec{AccessModes: []api.PersistentVolumeAccessMode{api.ReadWriteOnce},
					Resources: api.VolumeResourceRequirements{Requests: api.ResourceList{api.ResourceStorage: api.NewBinaryQuantity(1 << 30)}}}}},
		},
	})
	pods := hc.waitPods(t, ctx, "app=db", "db-0..2 Ready", func(pods []*api.Pod) bool { return countReady(pods) == 3 })
	claims := client.For[*api.PersistentVolumeClaim](hc.reg, "default")
	nodeOf := map[string]string{}
	for _, p := range pods {
		c, err := claims.Get(ctx, "data-"+p.Name)
		if err != nil {
			t.Fatalf("claim of %s: %v", p.Name, err)
		}
		if c.Annotations[api.AnnotationSelectedNode] != p.Spec.NodeName || c.Status.Phase != api.ClaimBound {
			t.Errorf("claim %s: node %q, phase %q; want %s (where %s runs), Bound", c.Name, c.Annotations[api.AnnotationSelectedNode], c.Status.Phase, p.Spec.NodeName, p.Name)
		}
		if len(c.OwnerReferences) != 0 {
			t.Errorf("claim %s is owned (%v): claims outlive their set", c.Name, c.OwnerReferences)
		}
		nodeOf[p.Name] = p.Spec.NodeName
	}

	// db-1 is deleted: it comes back, on its claim's node.
	zero := int64(0)
	old := podNamed(pods, "db-1")
	if _, err := client.For[*api.Pod](hc.reg, "default").Delete(ctx, "db-1", api.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	pods = hc.waitPods(t, ctx, "app=db", "db-1 back and Ready", func(pods []*api.Pod) bool {
		p := podNamed(pods, "db-1")
		return p != nil && p.UID != old.UID && podReady(p)
	})
	if got := podNamed(pods, "db-1").Spec.NodeName; got != nodeOf["db-1"] {
		t.Errorf("db-1 came back on %s; its claim's volume is on %s", got, nodeOf["db-1"])
	}

	// The set goes, its pods with it; the claims stay.
	if _, err := client.For[*api.StatefulSet](hc.reg, "default").Delete(ctx, "db", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	hc.waitPods(t, ctx, "app=db", "no db pods", func(pods []*api.Pod) bool { return len(pods) == 0 })
	list, _, _, err := claims.List(ctx, api.ListOptions{})
	if err != nil || len(list) != 3 {
		t.Fatalf("claims after the set was deleted: %d (%v), want all 3 kept", len(list), err)
	}

	// A claim deleted goes at once (no pod uses it), and its node
	// deletes its directory.
	c0, _ := claims.Get(ctx, "data-db-0")
	var dir string
	for _, n := range hc.nodes.Nodes {
		if n.Name == nodeOf["db-0"] {
			dir = filepath.Join(n.DataDir(), "volumes", "default", "data-db-0_"+c0.UID)
		}
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("db-0's volume on %s: %v", nodeOf["db-0"], err)
	}
	if _, err := claims.Delete(ctx, "data-db-0", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, 30*time.Second, "claim data-db-0 gone and its directory deleted", func() (bool, string, error) {
		_, err := claims.Get(ctx, "data-db-0")
		_, serr := os.Stat(dir)
		return errdefs.IsNotFound(err) && os.IsNotExist(serr), fmt.Sprintf("claim get: %v; dir: %v", err, serr), nil
	})
}

// podNamed finds the pod called name.
func podNamed(pods []*api.Pod, name string) *api.Pod {
	for _, p := range pods {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func hollowTemplate(app string, env ...api.EnvVar) api.PodTemplateSpec {
	return api.PodTemplateSpec{
		ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: app + ":1", Env: env,
			Resources: api.ResourceRequirements{Requests: api.ResourceList{
				api.ResourceCPU: api.NewMilliQuantity(10), api.ResourceMemory: api.NewBinaryQuantity(16 << 20)}}}}},
	}
}

func hollowReplicaSet(name string, replicas int32, tmpl api.PodTemplateSpec) *api.ReplicaSet {
	return &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       api.ReplicaSetSpec{Replicas: &replicas, Selector: &api.LabelSelector{MatchLabels: tmpl.Labels}, Template: tmpl},
	}
}

// taintNode taints node i alone with infraTaint.
func taintNode(i int) func(int) []api.Taint {
	return func(n int) []api.Taint {
		if n == i {
			return []api.Taint{infraTaint}
		}
		return nil
	}
}

func int32Ptr(v int32) *int32 { return &v }

// hollowCreate stores obj in the default namespace and returns what was
// stored.
func hollowCreate[T api.Object](t *testing.T, ctx context.Context, hc *hollowCluster, obj T) T {
	t.Helper()
	got, err := client.For[T](hc.reg, "default").Create(ctx, obj)
	if err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetObjectMeta().Name, err)
	}
	return got
}

// pods lists the pods of the default namespace that selector selects.
func (hc *hollowCluster) pods(t *testing.T, ctx context.Context, selector string) []*api.Pod {
	t.Helper()
	pods, _, _, err := client.For[*api.Pod](hc.reg, "default").List(ctx, api.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list pods %q: %v", selector, err)
	}
	return pods
}

// waitPods waits until the pods selector selects satisfy ok, and returns
// them; on timeout it fails saying want and where the pods were.
func (hc *hollowCluster) waitPods(t *testing.T, ctx context.Context, selector, want string, ok func([]*api.Pod) bool) []*api.Pod {
	t.Helper()
	var pods []*api.Pod
	eventually(t, ctx, 30*time.Second, want, func() (bool, string, error) {
		pods = hc.pods(t, ctx, selector)
		return ok(pods), placement(pods), nil
	})
	return pods
}

// waitEvent waits for an Event about the object name with reason whose
// message msg matches.
func (hc *hollowCluster) waitEvent(t *testing.T, ctx context.Context, name, reason string, msg *regexp.Regexp) *api.Event {
	t.Helper()
	var found *api.Event
	eventually(t, ctx, 30*time.Second, fmt.Sprintf("a %s Event about %s saying %s", reason, name, msg), func() (bool, string, error) {
		evs, _, _, err := client.For[*api.Event](hc.reg, "default").List(ctx, api.ListOptions{FieldSelector: "involvedObject.name=" + name})
		if err != nil {
			return false, "", err
		}
		var seen []string
		for _, e := range evs {
			if e.Reason == reason && msg.MatchString(e.Message) {
				found = e
				return true, "", nil
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return false, fmt.Sprintf("events %q", seen), nil
	})
	return found
}

// prefix matches what starts with s.
func prefix(s string) *regexp.Regexp { return regexp.MustCompile("^" + regexp.QuoteMeta(s)) }

// waitRolledOut waits until the Deployment's status says its latest
// generation is rolled out: replicas updated, all available, no others.
func (hc *hollowCluster) waitRolledOut(t *testing.T, ctx context.Context, name string, replicas int32, what string) *api.Deployment {
	t.Helper()
	var d *api.Deployment
	eventually(t, ctx, 30*time.Second, fmt.Sprintf("%s: deployment %s rolled out (%d updated, available, total)", what, name, replicas), func() (bool, string, error) {
		var err error
		if d, err = client.For[*api.Deployment](hc.reg, "default").Get(ctx, name); err != nil {
			return false, "", err
		}
		s := d.Status
		return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == replicas && s.AvailableReplicas == replicas && s.Replicas == replicas,
			fmt.Sprintf("generation %d, status %s", d.Generation, jsonOf(s)), nil
	})
	return d
}

// zoneOf is the zone of a node of the cluster.
func (hc *hollowCluster) zoneOf(node string) string {
	if n := hc.nodes.Node(node); n != nil {
		return hollowZones[n.Index%len(hollowZones)]
	}
	return "?"
}

// eventually calls check until it says done, failing the test if timeout
// passes first (or check errs) with want and what check last saw.
func eventually(t *testing.T, ctx context.Context, timeout time.Duration, want string, check func() (done bool, seen string, err error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, seen, err := check()
		switch {
		case err != nil:
			t.Fatalf("waiting for %s: %v", want, err)
		case done:
			return
		case time.Now().After(deadline) || ctx.Err() != nil:
			t.Fatalf("want %s; after %s saw %s", want, timeout, seen)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// podReady: the pod runs, is Ready and is not being deleted.
func podReady(p *api.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != api.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

func countReady(pods []*api.Pod) int {
	n := 0
	for _, p := range pods {
		if podReady(p) {
			n++
		}
	}
	return n
}

// unscheduled are the pods not bound to a node and not being deleted.
func unscheduled(pods []*api.Pod) []*api.Pod {
	var out []*api.Pod
	for _, p := range pods {
		if p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// unschedulableMessage is the message of a pod's PodScheduled=False
// condition of reason Unschedulable, "" without one.
func unschedulableMessage(p *api.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodScheduled && c.Status == api.ConditionFalse && c.Reason == "Unschedulable" {
			return c.Message
		}
	}
	return ""
}

// placement says where each pod is and how it is, for failure messages.
func placement(pods []*api.Pod) string {
	var out []string
	for _, p := range pods {
		s := fmt.Sprintf("%s on %q %s ready=%v", p.Name, p.Spec.NodeName, p.Status.Phase, podReady(p))
		if m := unschedulableMessage(p); m != "" {
			s += " (" + m + ")"
		}
		if p.DeletionTimestamp != nil {
			s += " deleting"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return fmt.Sprintf("%d pods [%s]", len(pods), strings.Join(out, "; "))
}

func envOf(p *api.Pod, name string) string {
	for _, e := range p.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func rsEnv(rs *api.ReplicaSet, name string) string {
	return envOf(&api.Pod{Spec: rs.Spec.Template.Spec}, name)
}

func jobCondition(j *api.Job, typ api.JobConditionType) *api.JobCondition {
	for i, c := range j.Status.Conditions {
		if c.Type == typ && c.Status == api.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// readyWatch follows the pods a selector selects, from a list through a
// watch, and keeps the lowest and highest number of them Ready (and not
// being deleted) at any revision: each event is one change in the store,
// in order, so the count after it is the count at that moment.
type readyWatch struct {
	mu        sync.Mutex
	ready     map[string]bool
	low, high int
	changes   int
	err       error
	cancel    context.CancelFunc
	done      chan struct{}
}

func watchReady(t *testing.T, ctx context.Context, hc *hollowCluster, selector string) *readyWatch {
	t.Helper()
	res := client.For[*api.Pod](hc.reg, "default")
	pods, rv, _, err := res.List(ctx, api.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list pods %q: %v", selector, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	w, err := res.Watch(ctx, api.ListOptions{LabelSelector: selector, ResourceVersion: rv})
	if err != nil {
		cancel()
		t.Fatalf("watch pods %q: %v", selector, err)
	}
	rw := &readyWatch{ready: map[string]bool{}, cancel: cancel, done: make(chan struct{})}
	for _, p := range pods {
		rw.ready[p.Name] = podReady(p)
	}
	rw.low, rw.high = rw.count(), rw.count()
	go func() {
		defer close(rw.done)
		defer w.Stop()
		for e := range w.ResultChan() {
			rw.mu.Lock()
			switch p, ok := e.Object.(*api.Pod); {
			case e.Type == api.Error:
				rw.err = fmt.Errorf("watch ended: %v", e.Err)
			case !ok:
				rw.err = fmt.Errorf("watch sent %T", e.Object)
			case e.Type == api.Deleted:
				delete(rw.ready, p.Name)
			default:
				rw.ready[p.Name] = podReady(p)
			}
			rw.changes++
			n := rw.count()
			rw.low, rw.high = min(rw.low, n), max(rw.high, n)
			rw.mu.Unlock()
		}
		if ctx.Err() == nil {
			rw.mu.Lock()
			if rw.err == nil {
				rw.err = fmt.Errorf("watch ended early")
			}
			rw.mu.Unlock()
		}
	}()
	return rw
}

func (rw *readyWatch) count() int {
	n := 0
	for _, r := range rw.ready {
		if r {
			n++
		}
	}
	return n
}

// stop ends the watch and returns what it saw.
func (rw *readyWatch) stop() (low, high, changes int, err error) {
	rw.cancel()
	<-rw.done
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.low, rw.high, rw.changes, rw.err
}

// jobWatch follows the Jobs of the default namespace: their names in
// order of creation, and the most of them unfinished at any revision.
type jobWatch struct {
	mu       sync.Mutex
	order    []string
	finished map[string]bool
	most     int
	err      error
	cancel   context.CancelFunc
	done     chan struct{}
}

func watchJobs(t *testing.T, ctx context.Context, hc *hollowCluster) *jobWatch {
	t.Helper()
	res := client.For[*api.Job](hc.reg, "default")
	jobs, rv, _, err := res.List(ctx, api.ListOptions{})
	if err != nil || len(jobs) != 0 {
		t.Fatalf("list jobs: %d, %v; want none yet", len(jobs), err)
	}
	ctx, cancel := context.WithCancel(ctx)
	w, err := res.Watch(ctx, api.ListOptions{ResourceVersion: rv})
	if err != nil {
		cancel()
		t.Fatalf("watch jobs: %v", err)
	}
	jw := &jobWatch{finished: map[string]bool{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(jw.done)
		defer w.Stop()
		for e := range w.ResultChan() {
			jw.mu.Lock()
			switch j, ok := e.Object.(*api.Job); {
			case e.Type == api.Error:
				jw.err = fmt.Errorf("watch ended: %v", e.Err)
			case !ok:
				jw.err = fmt.Errorf("watch sent %T", e.Object)
			case e.Type == api.Deleted:
				jw.finished[j.Name] = true
			default:
				if _, seen := jw.finished[j.Name]; !seen {
					jw.order = append(jw.order, j.Name)
				}
				jw.finished[j.Name] = jobCondition(j, api.JobComplete) != nil || jobCondition(j, api.JobFailed) != nil
			}
			n := 0
			for _, f := range jw.finished {
				if !f {
					n++
				}
			}
			jw.most = max(jw.most, n)
			jw.mu.Unlock()
		}
		if ctx.Err() == nil {
			jw.mu.Lock()
			if jw.err == nil {
				jw.err = fmt.Errorf("watch ended early")
			}
			jw.mu.Unlock()
		}
	}()
	return jw
}

// names are the Jobs seen so far, in order of creation.
func (jw *jobWatch) names() []string {
	jw.mu.Lock()
	defer jw.mu.Unlock()
	return append([]string(nil), jw.order...)
}

// stop ends the watch and returns the most Jobs unfinished at once.
func (jw *jobWatch) stop() (int, error) {
	jw.cancel()
	<-jw.done
	jw.mu.Lock()
	defer jw.mu.Unlock()
	return jw.most, jw.err
}
