package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

func TestScale(t *testing.T) {
	ctx, reg := newRolloutRegistry(t)
	if _, err := client.For[*api.Deployment](reg, "default").Create(ctx, rolloutTestDeployment("web", 2, "x")); err != nil {
		t.Fatal(err)
	}
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "rs"}}
	rs.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "rs"}}
	rs.Spec.Template = rolloutTestDeployment("rs", 1, "x").Spec.Template
	if _, err := client.For[*api.ReplicaSet](reg, "default").Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	targets, err := scaleTargets([]string{"deploy/web", "replicaset/rs"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, tg := range targets {
		if err := scaleOne(ctx, &out, reg, "default", tg, 5, -1); err != nil {
			t.Fatal(err)
		}
	}
	if out.String() != "deployment/web scaled\nreplicaset/rs scaled\n" {
		t.Errorf("output %q", out.String())
	}
	d, _ := client.For[*api.Deployment](reg, "default").Get(ctx, "web")
	r, _ := client.For[*api.ReplicaSet](reg, "default").Get(ctx, "rs")
	if *d.Spec.Replicas != 5 || *r.Spec.Replicas != 5 {
		t.Errorf("replicas %d and %d, want 5 and 5", *d.Spec.Replicas, *r.Spec.Replicas)
	}
	if err := scaleOne(ctx, &out, reg, "default", targets[0], 1, 3); err == nil || !strings.Contains(err.Error(), "has 5 replicas, not 3") {
		t.Errorf("--current-replicas 3 of 5: err %v", err)
	}
	if err := scaleOne(ctx, &out, reg, "default", targets[0], 0, 5); err != nil {
		t.Errorf("--current-replicas 5 of 5: err %v", err)
	}
	if d, _ = client.For[*api.Deployment](reg, "default").Get(ctx, "web"); *d.Spec.Replicas != 0 {
		t.Errorf("scaled to 0: replicas %d", *d.Spec.Replicas)
	}
	for _, args := range [][]string{{"pods/x"}, {"deployment"}, {"deployment/"}, {"deployment/a", "b"}, {"widgets/x"}} {
		if _, err := scaleTargets(args); err == nil {
			t.Errorf("scale %v: want an error", args)
		}
	}
	if ts, err := scaleTargets([]string{"deployment", "a", "b"}); err != nil || len(ts) != 2 || ts[1].name != "b" {
		t.Errorf("scale deployment a b: %v, %v", ts, err)
	}
	if ts, err := scaleTargets([]string{"statefulset/db"}); err != nil || ts[0].kind.Kind != "StatefulSet" {
		t.Errorf("scale statefulset/db: %v, %v", ts, err)
	}
}
