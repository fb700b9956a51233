package statefulset

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/garbagecollector"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
)

// TestClaimsOutliveTheSet: deleting a set deletes its pods (the garbage
// collector) and leaves its claims.
func TestClaimsOutliveTheSet(t *testing.T) {
	e := newEnv(t, "n1")
	e.startNodes(true, "n1")
	gc, err := garbagecollector.New(garbagecollector.Config{Backend: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Start(t, e.ctx, gc.Run)
	if _, err := e.sets.Create(e.ctx, claimSet(t, "db", 2)); err != nil {
		t.Fatal(err)
	}
	e.eventually("2 ready", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "db")
		return s.Status.ReadyReplicas == 2, fmt.Sprintf("%+v", s.Status)
	})
	set, err := e.sets.Get(e.ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for _, name := range []string{"data-db-0", "data-db-1"} {
		before[name] = e.checkClaim(set, name).UID
	}
	if _, err := e.sets.Delete(e.ctx, "db", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.wantPods("")
	time.Sleep(100 * time.Millisecond) // the collector has looked at everything by now
	for name, uid := range before {
		c, err := e.claims.Get(e.ctx, name)
		if err != nil {
			t.Fatalf("claim %s after the set was deleted: %v", name, err)
		}
		if c.UID != uid || c.DeletionTimestamp != nil {
			t.Errorf("claim %s: uid %s (was %s), deletion %v; want it left as it was", name, c.UID, uid, c.DeletionTimestamp)
		}
	}
}

// TestClaimBeingDeletedHoldsThePod: while a replica's claim is being
// deleted the pod is not created, and an Event says why; once the claim
// is gone it is made afresh, then the pod.
func TestClaimBeingDeletedHoldsThePod(t *testing.T) {
	e := newEnv(t, "n1")
	e.startNodes(true, "n1")
	s := claimSet(t, "db", 1)
	old, err := e.claims.Create(e.ctx, &api.PersistentVolumeClaim{ObjectMeta: api.ObjectMeta{Name: "data-db-0"}, Spec: s.Spec.VolumeClaimTemplates[0].Spec})
	if err != nil {
		t.Fatal(err)
	}
	// No pvc-protection controller runs: its finalizer holds the claim.
	if _, err := e.claims.Delete(e.ctx, "data-db-0", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sets.Create(e.ctx, s); err != nil {
		t.Fatal(err)
	}
	e.eventually("an Event saying why", func() (bool, string) {
		got := e.events()
		return strings.Contains(got, "FailedCreate: create Pod db-0 in StatefulSet db failed error: claim data-db-0 is being deleted"), got
	})
	e.never("db-0 created on a claim being deleted", 200*time.Millisecond, func() (bool, string) {
		s := e.podSet()
		return s != "", s
	})
	err = client.RetryOnConflict(e.ctx, func() error {
		c, err := e.claims.Get(e.ctx, "data-db-0")
		if err != nil {
			return err
		}
		c.Finalizers = slices.DeleteFunc(c.Finalizers, func(f string) bool { return f == api.FinalizerPVCProtection })
		_, err = e.claims.Update(e.ctx, c)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.wantPods("db-0")
	set, err := e.sets.Get(e.ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	if c := e.checkClaim(set, "data-db-0"); c.UID == old.UID || c.DeletionTimestamp != nil {
		t.Errorf("claim data-db-0 uid %s deletion %v; want a new one", c.UID, c.DeletionTimestamp)
	}
}

// TestPendingPodGetsItsClaimBack: a claim deleted under a pod that is
// still Pending is made again, so that the pod can be scheduled.
func TestPendingPodGetsItsClaimBack(t *testing.T) {
	e := newEnv(t)
	// No nodes: the pod stays Pending.
	if _, err := e.sets.Create(e.ctx, claimSet(t, "db", 1)); err != nil {
		t.Fatal(err)
	}
	e.wantPods("db-0")
	old, err := e.claims.Get(e.ctx, "data-db-0")
	if err != nil {
		t.Fatal(err)
	}
	old.Finalizers = nil // no pvc-protection: let it go at once
	if _, err := e.claims.Update(e.ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := e.claims.Delete(e.ctx, "data-db-0", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("data-db-0 made again", func() (bool, string) {
		c, err := e.claims.Get(e.ctx, "data-db-0")
		if err != nil {
			return false, err.Error()
		}
		return c.UID != old.UID, "uid " + c.UID
	})
}

// failingClaims is a backend on which claims cannot be created.
type failingClaims struct{ client.Backend }

func (f failingClaims) Create(ctx context.Context, resource, ns string, obj api.Object) (api.Object, error) {
	if resource == "persistentvolumeclaims" {
		return nil, fmt.Errorf("disk full: %w", errdefs.ErrUnavailable)
	}
	return f.Backend.Create(ctx, resource, ns, obj)
}

// TestClaimCreateFails: a claim that cannot be made is an Event, in
// Kubernetes' words, and no pod is created without it.
func TestClaimCreateFails(t *testing.T) {
	e := newEnv(t, "n1")
	e.stop()
	e.startControllerOn(failingClaims{e.reg})
	e.startNodes(true, "n1")
	if _, err := e.sets.Create(e.ctx, claimSet(t, "db", 1)); err != nil {
		t.Fatal(err)
	}
	e.eventually("FailedCreate", func() (bool, string) {
		got := e.events()
		return strings.Contains(got, "FailedCreate: create Claim data-db-0 for Pod db-0 in StatefulSet db failed error: disk full"), got
	})
	e.never("db-0 created without its claim", 200*time.Millisecond, func() (bool, string) {
		s := e.podSet()
		return s != "", s
	})
}

// TestLegacyClaimRecords: a set made by an older skiff has a ConfigMap
// record per claim (its node) instead of a claim. Its claims are made
// naming the record's node — for a running replica too, which would
// otherwise lack its claim — and the records go; a config map of a
// claim's name that is not a record is left alone.
func TestLegacyClaimRecords(t *testing.T) {
	e := newEnv(t, "n1", "n2")
	e.startNodes(true, "n1", "n2")
	s := claimSet(t, "db", 2)
	cms := client.For[*api.ConfigMap](e.reg, "default")
	for _, cm := range []*api.ConfigMap{
		{ObjectMeta: api.ObjectMeta{Name: "data-db-0", Labels: map[string]string{legacyClaimLabel: "db"},
			Annotations: map[string]string{api.AnnotationSelectedNode: "n2"}}},
		{ObjectMeta: api.ObjectMeta{Name: "data-db-1", Labels: map[string]string{"app": "mine"}}},
	} {
		if _, err := cms.Create(e.ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.sets.Create(e.ctx, s); err != nil {
		t.Fatal(err)
	}
	e.eventually("both claims made", func() (bool, string) {
		l, _, _, _ := e.claims.List(e.ctx, api.ListOptions{})
		return len(l) == 2, fmt.Sprintf("%d claims", len(l))
	})
	c0, err := e.claims.Get(e.ctx, "data-db-0")
	if err != nil {
		t.Fatal(err)
	}
	if got := c0.Annotations[api.AnnotationSelectedNode]; got != "n2" {
		t.Errorf("claim data-db-0 names node %q, want n2 from the old record", got)
	}
	e.eventually("the record gone, the other config map kept", func() (bool, string) {
		_, err0 := cms.Get(e.ctx, "data-db-0")
		_, err1 := cms.Get(e.ctx, "data-db-1")
		return errdefs.IsNotFound(err0) && err1 == nil, fmt.Sprintf("record: %v; other: %v", err0, err1)
	})
}

// A running replica of an older skiff lacks its claim: only a record
// makes the controller create one for it.
func TestRunningReplicaGetsClaimOnlyFromARecord(t *testing.T) {
	reg, _, ctx := controllertest.Registry(t, 30*time.Second)
	c, err := New(Config{Backend: reg})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Start(t, ctx, c.claims.Run)
	if !c.claims.WaitForSync(ctx) {
		t.Fatal("no sync")
	}
	s := claimSet(t, "db", 1)
	s.Namespace = "default"
	if c.runsOnLegacyClaims(ctx, s, 0) {
		t.Error("a running replica without a record would get a new claim")
	}
	if _, err := client.For[*api.ConfigMap](reg, "default").Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{
		Name: "data-db-0", Labels: map[string]string{legacyClaimLabel: "db"}, Annotations: map[string]string{api.AnnotationSelectedNode: "n1"}}}); err != nil {
		t.Fatal(err)
	}
	if !c.runsOnLegacyClaims(ctx, s, 0) {
		t.Error("a running replica with an old record gets no claim")
	}
}
