package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// TestWorkloadsOnTwoNodes runs the control plane's scheduler and
// controllers against real nodes: a server node and a joined agent node.
// A 3-replica Deployment spread over both comes up Ready, rolls to a new
// image, and when the agent is killed its pods are replaced on the
// other node within the configured timeouts; when the agent returns, its
// old pods are stopped, so no more than 3 replicas run.
func TestWorkloadsOnTwoNodes(t *testing.T) {
	srv, ag, token := newJoinPair(t, 15, 16)
	ag.srv = ag.startAgent(srv.srv.url, token)
	t.Cleanup(ag.cleanup)
	ag.waitNodeReady()
	ctx := context.Background()
	deps := client.For[*api.Deployment](srv.client, "default")

	three, quick := int32(3), int64(1)
	labels := map[string]string{"app": "web"}
	web := container("web", "httpd")
	web.ReadinessProbe = &api.Probe{PeriodSeconds: 1, ProbeHandler: api.ProbeHandler{
		HTTPGet: &api.HTTPGetAction{Path: "/healthz", Port: api.FromInt(8080)}}}
	d := &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: "web"},
		Spec: api.DeploymentSpec{
			Replicas: &three,
			Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec: api.PodSpec{
					TerminationGracePeriodSeconds: &quick,
					Containers:                    []api.Container{web},
					TopologySpreadConstraints: []api.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: api.ScheduleAnyway,
						LabelSelector: &api.LabelSelector{MatchLabels: labels}}},
				},
			},
		},
	}
	if _, err := deps.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	// Runs before the nodes' clean-ups: with the Deployment gone (and its
	// ReplicaSets and pods after it), nothing makes new pods while they
	// delete the rest.
	t.Cleanup(func() {
		deps.Delete(ctx, "web", api.DeleteOptions{})
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			rss, _, _, err := client.For[*api.ReplicaSet](srv.client, "default").List(ctx, api.ListOptions{})
			if err == nil && len(rss) == 0 {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("the Deployment's ReplicaSets were not collected in 30 s")
	})
	available := func(want int32, what string, extra func([]*api.Pod) (bool, string)) []*api.Pod {
		t.Helper()
		var pods []*api.Pod
		srv.eventually(90*time.Second, what, func() (bool, string) {
			got, err := deps.Get(ctx, "web")
			if err != nil {
				return false, err.Error()
			}
			pods = runningPods(t, srv, labels)
			st := got.Status
			ok := st.AvailableReplicas == want && st.UpdatedReplicas == want && st.Replicas == want && st.ObservedGeneration == got.Generation
			msg := fmt.Sprintf("status %+v; pods %s", st, podsLine(pods))
			if ok && extra != nil {
				var why string
				ok, why = extra(pods)
				msg += "; " + why
			}
			return ok, msg
		})
		return pods
	}
	pods := available(3, "3 replicas available on both nodes", func(ps []*api.Pod) (bool, string) {
		nodes := map[string]int{}
		for _, p := range ps {
			nodes[p.Spec.NodeName]++
		}
		return nodes[srv.name] > 0 && nodes[ag.name] > 0, fmt.Sprint(nodes)
	})
	t.Logf("placed: %s", podsLine(pods))

	// A new image rolls out: the busybox image running the same server
	// (the test images share one root filesystem).
	cur, err := deps.Get(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	v2 := container("web", "busybox", "httpd", "-f", "-v", "-p", "8080", "-h", "/www")
	cur.Spec.Template.Spec.Containers[0].Image, cur.Spec.Template.Spec.Containers[0].Command = v2.Image, v2.Command
	if _, err := deps.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	available(3, "rolled to the new image", func(ps []*api.Pod) (bool, string) {
		for _, p := range ps {
			if p.Spec.Containers[0].Image != v2.Image {
				return false, p.Name + " runs " + p.Spec.Containers[0].Image
			}
			if len(p.Status.ContainerStatuses) == 0 || !strings.Contains(p.Status.ContainerStatuses[0].Image, "busybox") {
				return false, p.Name + " does not report the new image yet"
			}
		}
		return len(ps) == 3, fmt.Sprintf("%d running", len(ps))
	})

	// The agent dies: its pods are replaced on the server's node.
	ag.srv.kill9()
	died := time.Now()
	pods = available(3, "3 replicas available on the server node", func(ps []*api.Pod) (bool, string) {
		on := 0
		for _, p := range ps {
			if p.Spec.NodeName == srv.name && p.DeletionTimestamp == nil && isReady(p) {
				on++
			}
		}
		return on == 3, fmt.Sprintf("%d ready on %s", on, srv.name)
	})
	t.Logf("moved in %s (not-ready 10 s + eviction 3 s given): %s", time.Since(died).Round(time.Second), podsLine(pods))

	// The agent returns: its old pods stop; 3 run in all.
	ag.srv = ag.startAgent(srv.srv.url, "")
	srv.eventually(60*time.Second, "the returned node's old pods gone", func() (bool, string) {
		all, _, _, err := srv.pods().List(ctx, api.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var on []string
		for _, p := range all {
			if p.Spec.NodeName == ag.name {
				on = append(on, p.Name)
			}
		}
		return len(on) == 0, "still on " + ag.name + ": " + strings.Join(on, ", ")
	})
	if tasks := strings.Count(ag.ctr("task", "ls"), "RUNNING"); tasks != 0 {
		t.Errorf("%d containers still run on the returned node", tasks)
	}
}

// runningPods lists the pods with the labels that are not finished.
func runningPods(t *testing.T, n *testNode, labels map[string]string) []*api.Pod {
	t.Helper()
	var sel []string
	for k, v := range labels {
		sel = append(sel, k+"="+v)
	}
	list, _, _, err := n.pods().List(context.Background(), api.ListOptions{LabelSelector: strings.Join(sel, ",")})
	if err != nil {
		t.Fatal(err)
	}
	var out []*api.Pod
	for _, p := range list {
		if !isTerminalPhase(p.Status.Phase) {
			out = append(out, p)
		}
	}
	return out
}

func podsLine(ps []*api.Pod) string {
	var parts []string
	for _, p := range ps {
		s := p.Name + "@" + p.Spec.NodeName
		if p.DeletionTimestamp != nil {
			s += "(terminating)"
		}
		if isReady(p) {
			s += "(ready)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}
