package history

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/registry"
)

// fakeOwner is an owner in namespace ns, running image, that counts the
// collisionCount it is given.
type fakeOwner struct {
	Owner
	counts []int32
}

func newOwner(ns, image string) *fakeOwner {
	o := &fakeOwner{}
	o.Owner = Owner{
		Namespace:   ns,
		Ref:         api.NewControllerRef(&api.StatefulSet{ObjectMeta: api.ObjectMeta{Name: "web", UID: "uid-web"}}, "apps/v1", "StatefulSet"),
		Annotations: map[string]string{"kubernetes.io/change-cause": "rolled " + image},
		Template:    template(image),
		SetCollisionCount: func(_ context.Context, count int32) error {
			o.counts = append(o.counts, count)
			return nil
		},
		What: "stateful set " + ns + "/web",
	}
	return o
}

// describe is "<name>:<number>:<image>", oldest first.
func describe(t *testing.T, rs []*api.ControllerRevision) string {
	t.Helper()
	var out []string
	for _, r := range rs {
		tmpl, err := r.Template()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s:%d:%s", r.Name, r.Revision, tmpl.Spec.Containers[0].Image))
	}
	return strings.Join(out, " ")
}

func newRegistry(t *testing.T) (*registry.Registry, context.Context, *client.Resource[*api.ControllerRevision]) {
	reg, _, ctx := controllertest.Registry(t, time.Minute)
	return reg, ctx, client.For[*api.ControllerRevision](reg, "default")
}

func TestCreateNew(t *testing.T) {
	reg, ctx, revs := newRegistry(t)
	o := newOwner("default", "busybox")
	got, err := Create(ctx, reg, o.Owner, "web-h1", "h1", 7)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := revs.Get(ctx, "web-h1")
	if err != nil {
		t.Fatal(err)
	}
	if stored.UID != got.UID || stored.Revision != 7 {
		t.Errorf("stored %s number %d, want the one returned, 7", stored.UID, stored.Revision)
	}
	if l := stored.Labels; len(l) != 2 || l["app"] != "web" || l[HashLabel] != "h1" {
		t.Errorf("labels %v, want app=web %s=h1", l, HashLabel)
	}
	if a := stored.Annotations["kubernetes.io/change-cause"]; a != "rolled busybox" {
		t.Errorf("change-cause %q, want the owner's", a)
	}
	if ref := api.ControllerOf(&stored.ObjectMeta); ref == nil || ref.UID != o.Ref.UID {
		t.Errorf("controller %+v, want the owner", ref)
	}
	if tmpl, err := stored.Template(); err != nil || tmpl.Spec.Containers[0].Image != "busybox" {
		t.Errorf("template %+v, %v; want busybox's", tmpl, err)
	}
	if o.Template.Labels[HashLabel] != "" || len(o.counts) != 0 {
		t.Errorf("owner's template labels %v, collision counts %v; want them untouched", o.Template.Labels, o.counts)
	}
}

// TestCreateNameTaken: a revision of the name already there is used if
// it is the owner's, adopted if an orphan of the same template, else a
// collision that raises the collisionCount.
func TestCreateNameTaken(t *testing.T) {
	two := int32(2)
	tests := []struct {
		name      string
		have      func(*api.ControllerRevision) // the revision there, of busybox
		image     string                        // the owner's
		collision *int32                        // the owner's count
		wantErr   error
		wantCount []int32
		wantRev   int64 // of the revision after
		wantOwned bool
	}{
		{"ours", func(r *api.ControllerRevision) { r.OwnerReferences = []api.OwnerReference{newOwner("", "").Ref} }, "busybox", nil, nil, nil, 1, true},
		{"orphan of our template", func(r *api.ControllerRevision) {}, "busybox", nil, nil, nil, 5, true},
		{"orphan of another template", func(r *api.ControllerRevision) {}, "nginx", nil, ErrCollision, []int32{1}, 1, false},
		{"ours of another template", func(r *api.ControllerRevision) { r.OwnerReferences = []api.OwnerReference{newOwner("", "").Ref} }, "nginx", &two, ErrCollision, []int32{3}, 1, true},
		{"another's", func(r *api.ControllerRevision) {
			ref := newOwner("", "").Ref
			ref.UID = "uid-other"
			r.OwnerReferences = []api.OwnerReference{ref}
		}, "busybox", nil, ErrCollision, []int32{1}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, ctx, revs := newRegistry(t)
			have := rev(t, "web-h1", 1, "busybox")
			tt.have(have)
			if _, err := revs.Create(ctx, have); err != nil {
				t.Fatal(err)
			}
			o := newOwner("default", tt.image)
			o.CollisionCount = tt.collision
			got, err := Create(ctx, reg, o.Owner, "web-h1", "h1", 5)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Create error %v, want %v", err, tt.wantErr)
			}
			if err == nil && got.Name != "web-h1" {
				t.Errorf("Create = %s, want web-h1", got.Name)
			}
			if fmt.Sprint(o.counts) != fmt.Sprint(tt.wantCount) {
				t.Errorf("collision counts written %v, want %v", o.counts, tt.wantCount)
			}
			after, err := revs.Get(ctx, "web-h1")
			if err != nil {
				t.Fatal(err)
			}
			ref := api.ControllerOf(&after.ObjectMeta)
			if owned := ref != nil && ref.UID == o.Ref.UID; after.Revision != tt.wantRev || owned != tt.wantOwned {
				t.Errorf("after: number %d owned %v, want %d %v", after.Revision, owned, tt.wantRev, tt.wantOwned)
			}
		})
	}
}

func TestCreateNamespaceClosing(t *testing.T) {
	reg, ctx, _ := newRegistry(t)
	nss := client.For[*api.Namespace](reg, "")
	if _, err := nss.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "doomed"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := nss.Delete(ctx, "doomed", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(ctx, reg, newOwner("doomed", "busybox").Owner, "web-h1", "h1", 1); !errors.Is(err, ErrNamespaceClosing) {
		t.Errorf("Create in a namespace being deleted: %v, want %v", err, ErrNamespaceClosing)
	}
}

// TestRecord: a new template is a new revision; the same template again
// is the same revision; going back to an old template renumbers its
// revision, the newest.
func TestRecord(t *testing.T) {
	reg, ctx, revs := newRegistry(t)
	steps := []struct {
		image, hash string
		want        string // all after, oldest first
		wantCur     string
	}{
		{"busybox", "h1", "web-h1:1:busybox", "web-h1"},
		{"busybox", "h1", "web-h1:1:busybox", "web-h1"},
		{"nginx", "h2", "web-h1:1:busybox web-h2:2:nginx", "web-h2"},
		{"busybox", "h1", "web-h2:2:nginx web-h1:3:busybox", "web-h1"},
		{"redis", "h3", "web-h2:2:nginx web-h1:3:busybox web-h3:4:redis", "web-h3"},
	}
	for i, st := range steps {
		// all as the cache would hold it, in no particular order.
		all, _, _, err := revs.List(ctx, api.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for l, r := 0, len(all)-1; l < r; l, r = l+1, r-1 {
			all[l], all[r] = all[r], all[l]
		}
		cur, all, err := Record(ctx, reg, newOwner("default", st.image).Owner, all, "web-"+st.hash, st.hash)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := describe(t, all); got != st.want || cur.Name != st.wantCur {
			t.Errorf("step %d (%s): %s, all %s; want %s, %s", i, st.image, cur.Name, got, st.wantCur, st.want)
		}
		stored, _, _, err := revs.List(ctx, api.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		Sort(stored)
		if got := describe(t, stored); got != st.want {
			t.Errorf("step %d (%s): stored %s, want %s", i, st.image, got, st.want)
		}
	}
}
