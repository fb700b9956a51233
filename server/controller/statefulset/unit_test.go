package statefulset

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
)

var t0 = controllertest.T0

// unitSet is a set of n at the template's current revision.
func unitSet(n int32, policy api.PodManagementPolicyType) *api.StatefulSet {
	s := newSet("web", n)
	s.UID = "set-uid"
	s.Namespace = "default"
	s.Spec.PodManagementPolicy = policy
	s.Spec.UpdateStrategy = api.StatefulSetUpdateStrategy{Type: api.RollingUpdateStatefulSetStrategyType}
	return s
}

// state is how a test pod is: r ready since t0, p pending, t terminating
// (and ready), f failed.
func pods(s *api.StatefulSet, rev string, states string) []*api.Pod {
	var out []*api.Pod
	for i, st := range states {
		if st == '-' {
			continue
		}
		p := newPod(s, i, rev)
		p.UID = fmt.Sprintf("uid-%d", i)
		p.Spec.NodeName = "n1"
		switch st {
		case 'r', 't':
			p.Status.Phase = api.PodRunning
			p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: api.NewTime(t0)}}
			if st == 't' {
				p.DeletionTimestamp = ptr(api.NewTime(t0))
			}
		case 'f':
			p.Status.Phase = api.PodFailed
		}
		out = append(out, p)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func describe(d decision) string {
	del := []string{}
	for _, p := range d.delete {
		del = append(del, p.Name)
	}
	return fmt.Sprintf("create %v delete %v", d.create, del)
}

func TestPlanScaling(t *testing.T) {
	ordered, parallel := api.OrderedReadyPodManagement, api.ParallelPodManagement
	tests := []struct {
		name   string
		n      int32
		policy api.PodManagementPolicyType
		pods   string // per ordinal: r ready, p pending, t terminating, f failed, - none
		want   string
	}{
		{"first replica", 3, ordered, "", "create [0] delete []"},
		{"wait for web-0 to be ready", 3, ordered, "p", "create [] delete []"},
		{"web-1 once web-0 is ready", 3, ordered, "r", "create [1] delete []"},
		{"web-1 terminating: no new web-1, no web-2", 3, ordered, "rt", "create [] delete []"},
		{"web-1 gone: it comes back first", 3, ordered, "r-r", "create [1] delete []"},
		{"failed pod replaced", 3, ordered, "rf", "create [] delete [web-1]"},
		{"parallel creates all", 3, parallel, "", "create [0 1 2] delete []"},
		{"parallel does not wait", 3, parallel, "p-t", "create [1] delete []"},
		{"scale down: highest first", 1, ordered, "rrr", "create [] delete [web-2]"},
		{"scale down: wait for it", 1, ordered, "rrt", "create [] delete []"},
		{"scale down: not while a replica is down", 2, ordered, "prr", "create [] delete []"},
		{"parallel scale down: all", 1, parallel, "rrr", "create [] delete [web-2 web-1]"},
		{"all well", 3, ordered, "rrr", "create [] delete []"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := unitSet(tt.n, tt.policy)
			d := plan(s, pods(s, revision(s), tt.pods), t0.Add(time.Minute))
			if got := describe(d); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPlanRollingUpdate(t *testing.T) {
	s := unitSet(3, api.OrderedReadyPodManagement)
	s.Status.CurrentRevision = "web-old"
	newRev := revision(s)
	mixed := func(revs ...string) []*api.Pod {
		var out []*api.Pod
		for i, r := range revs {
			out = append(out, pods(s, r, "rrr")[i])
		}
		return out
	}
	tests := []struct {
		name      string
		partition int32
		onDelete  bool
		pods      []*api.Pod
		want      string
	}{
		{"highest first", 0, false, mixed("web-old", "web-old", "web-old"), "create [] delete [web-2]"},
		{"then the next", 0, false, mixed("web-old", "web-old", newRev), "create [] delete [web-1]"},
		{"then the last", 0, false, mixed("web-old", newRev, newRev), "create [] delete [web-0]"},
		{"partition keeps web-0", 1, false, mixed("web-old", newRev, newRev), "create [] delete []"},
		{"partition 2", 2, false, mixed("web-old", "web-old", "web-old"), "create [] delete [web-2]"},
		{"OnDelete", 0, true, mixed("web-old", "web-old", "web-old"), "create [] delete []"},
	}
	two := api.FromInt(2)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := api.Clone(s)
			s.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateStatefulSetStrategy{Partition: &tt.partition}
			if tt.onDelete {
				s.Spec.UpdateStrategy = api.StatefulSetUpdateStrategy{Type: api.OnDeleteStatefulSetStrategyType}
			}
			if got := describe(plan(s, tt.pods, t0.Add(time.Minute))); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	// maxUnavailable 2: two at a time, the highest first.
	s2 := api.Clone(s)
	s2.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateStatefulSetStrategy{MaxUnavailable: &two}
	if got := describe(plan(s2, mixed("web-old", "web-old", "web-old"), t0.Add(time.Minute))); got != "create [] delete [web-2 web-1]" {
		t.Errorf("maxUnavailable 2: got %s", got)
	}
	// An old pod that is down at the bottom does not stall the rollout.
	ps0 := mixed("web-old", "web-old", "web-old")
	ps0[0].Status.Conditions = nil
	sp := api.Clone(s)
	sp.Spec.PodManagementPolicy = api.ParallelPodManagement
	if got := describe(plan(sp, ps0, t0.Add(time.Minute))); got != "create [] delete [web-2]" {
		t.Errorf("web-0 down, parallel: got %s, want web-2 replaced first", got)
	}
	// An updated pod not yet ready holds the rollout.
	ps := mixed("web-old", "web-old", newRev)
	ps[2].Status.Conditions = nil
	if got := describe(plan(s, ps, t0.Add(time.Minute))); got != "create [] delete []" {
		t.Errorf("updated web-2 not ready: got %s, want nothing", got)
	}
}

func TestPlanMinReadySeconds(t *testing.T) {
	clk := controllertest.NewClock()
	s := unitSet(2, api.OrderedReadyPodManagement)
	s.Spec.MinReadySeconds = 10
	ps := pods(s, revision(s), "r")
	clk.Advance(5 * time.Second)
	d := plan(s, ps, clk.Now())
	if got := describe(d); got != "create [] delete []" || !d.notYetAvailable || d.status.AvailableReplicas != 0 {
		t.Errorf("after 5s: %s, status %+v; want to wait", got, d.status)
	}
	clk.Advance(5 * time.Second)
	d = plan(s, ps, clk.Now())
	if got := describe(d); got != "create [1] delete []" || d.status.AvailableReplicas != 1 {
		t.Errorf("after 10s: %s, status %+v; want web-1", got, d.status)
	}
}

func TestStatusRevisions(t *testing.T) {
	s := unitSet(2, api.OrderedReadyPodManagement)
	rev := revision(s)
	// First sync: current is the update revision.
	st := plan(s, nil, t0).status
	if st.CurrentRevision != rev || st.UpdateRevision != rev || st.ObservedGeneration != s.Generation {
		t.Errorf("fresh set: %+v", st)
	}
	s.Status.CurrentRevision = "web-old"
	half := append(pods(s, "web-old", "r"), pods(s, rev, "-r")...)
	st = plan(s, half, t0).status
	if st.CurrentRevision != "web-old" || st.CurrentReplicas != 1 || st.UpdatedReplicas != 1 || st.Replicas != 2 || st.ReadyReplicas != 2 {
		t.Errorf("half way: %+v", st)
	}
	st = plan(s, pods(s, rev, "rr"), t0).status
	if st.CurrentRevision != rev || st.CurrentReplicas != 2 || st.UpdatedReplicas != 2 {
		t.Errorf("done: %+v, want current = update", st)
	}
}

func TestOrdinalOf(t *testing.T) {
	s := unitSet(1, "")
	for name, want := range map[string]int{"web-0": 0, "web-12": 12, "web-": -1, "web-01": -1, "web-x": -1, "web-1-2": -1, "webby-1": -1, "web--1": -1} {
		if got := ordinalOf(s, &api.Pod{ObjectMeta: api.ObjectMeta{Name: name}}); got != want {
			t.Errorf("ordinalOf(%s) = %d, want %d", name, got, want)
		}
	}
}

// TestNewPodVolumes: one claim volume per template, replacing a
// template volume of its name; the template's affinity as it is (the
// node follows from the claims, through the scheduler).
func TestNewPodVolumes(t *testing.T) {
	s := unitSet(3, "")
	s.Spec.VolumeClaimTemplates = []api.PersistentVolumeClaim{{ObjectMeta: api.ObjectMeta{Name: "data"}}, {ObjectMeta: api.ObjectMeta{Name: "logs"}}}
	s.Spec.Template.Spec.Volumes = []api.Volume{
		{Name: "data", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}}, // replaced
		{Name: "cfg", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}},
	}
	aff := &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
		NodeSelectorTerms: []api.NodeSelectorTerm{{MatchExpressions: []api.NodeSelectorRequirement{{Key: "disk", Operator: api.NodeSelectorOpExists}}}}}}}
	s.Spec.Template.Spec.Affinity = aff
	p := newPod(s, 2, "web-r")
	if p.Name != "web-2" || p.Spec.Hostname != "web-2" || p.Spec.Subdomain != "web" || p.Labels[PodNameLabel] != "web-2" || p.Labels[PodIndexLabel] != "2" {
		t.Errorf("identity: name %s hostname %s subdomain %s labels %v", p.Name, p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
	}
	got := map[string]string{}
	for _, v := range p.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			got[v.Name] = v.PersistentVolumeClaim.ClaimName
		default:
			got[v.Name] = "other"
		}
	}
	if fmt.Sprint(got) != "map[cfg:other data:data-web-2 logs:logs-web-2]" {
		t.Errorf("volumes = %v", got)
	}
	if p.Spec.Affinity != aff || p.Spec.NodeName != "" || p.Annotations[api.AnnotationSelectedNode] != "" {
		t.Errorf("affinity %+v node %q annotations %v; want the template's, unbound, unannotated", p.Spec.Affinity, p.Spec.NodeName, p.Annotations)
	}
	if len(s.Spec.Template.Spec.Volumes) != 2 || s.Spec.Template.Spec.Volumes[0].EmptyDir == nil {
		t.Error("the template was changed")
	}
}

func TestNewClaim(t *testing.T) {
	s := unitSet(3, "")
	size, err := api.ParseQuantity("2Gi")
	if err != nil {
		t.Fatal(err)
	}
	class := api.StorageClassLocal
	tmpl := api.PersistentVolumeClaim{
		ObjectMeta: api.ObjectMeta{Name: "data", Labels: map[string]string{"app": "mine", "tier": "db"}, Annotations: map[string]string{"note": "x"}},
		Spec: api.PersistentVolumeClaimSpec{
			AccessModes:      []api.PersistentVolumeAccessMode{api.ReadWriteOncePod},
			Resources:        api.VolumeResourceRequirements{Requests: api.ResourceList{api.ResourceStorage: size}},
			StorageClassName: &class,
		},
		Status: api.PersistentVolumeClaimStatus{Phase: api.ClaimBound},
	}
	s.Spec.VolumeClaimTemplates = []api.PersistentVolumeClaim{tmpl}
	c := newClaim(s, &s.Spec.VolumeClaimTemplates[0], 1)
	if c.Name != "data-web-1" || c.Namespace != "default" || len(c.OwnerReferences) != 0 {
		t.Errorf("claim %s/%s owners %v; want default/data-web-1, no owner", c.Namespace, c.Name, c.OwnerReferences)
	}
	if got := fmt.Sprint(c.Labels); got != "map[app:web tier:db]" {
		t.Errorf("labels = %s, want the selector's app over the template's", got)
	}
	if c.Annotations["note"] != "x" || !reflect.DeepEqual(c.Spec, tmpl.Spec) || c.Status.Phase != "" {
		t.Errorf("annotations %v spec %+v status %+v; want the template's metadata and spec, no status", c.Annotations, c.Spec, c.Status)
	}
	c.Labels["x"] = "y"
	c.Spec.AccessModes[0] = api.ReadWriteOnce
	if len(s.Spec.VolumeClaimTemplates[0].Labels) != 2 || s.Spec.VolumeClaimTemplates[0].Spec.AccessModes[0] != api.ReadWriteOncePod {
		t.Error("the template was changed through the claim")
	}
	s.Spec.VolumeClaimTemplates[0].Labels = nil
	if got := fmt.Sprint(newClaim(s, &s.Spec.VolumeClaimTemplates[0], 0).Labels); got != "map[app:web]" {
		t.Errorf("no template labels: labels = %s, want the selector's", got)
	}
}

func TestClaimOrdinal(t *testing.T) {
	s := unitSet(1, "")
	s.Spec.VolumeClaimTemplates = []api.PersistentVolumeClaim{{ObjectMeta: api.ObjectMeta{Name: "data"}}, {ObjectMeta: api.ObjectMeta{Name: "data-web"}}}
	for name, want := range map[string]int{"data-web-0": 0, "data-web-12": 12, "data-web-web-3": 3, "data-web-01": -1, "data-webby-1": -1, "logs-web-1": -1, "data-web-": -1, "web-1": -1} {
		if got := claimOrdinal(s, name); got != want {
			t.Errorf("claimOrdinal(%s) = %d, want %d", name, got, want)
		}
	}
}

func TestTemplateFor(t *testing.T) {
	s := unitSet(3, "")
	old := s.Spec.Template
	old.Spec.Containers = []api.Container{{Name: "c", Image: "old"}}
	two := int32(2)
	s.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateStatefulSetStrategy{Partition: &two}
	s.Status.CurrentRevision = "web-old"
	update := &api.ControllerRevision{ObjectMeta: api.ObjectMeta{Name: revision(s)}}
	rolling := &revisions{current: &api.ControllerRevision{ObjectMeta: api.ObjectMeta{Name: "web-old"}}, currentTemplate: &old, update: update}
	done := &revisions{current: update, currentTemplate: &s.Spec.Template, update: update}
	onDelete := *s
	onDelete.Spec.UpdateStrategy = api.StatefulSetUpdateStrategy{Type: api.OnDeleteStatefulSetStrategyType}
	for _, tt := range []struct {
		name      string
		set       *api.StatefulSet
		ordinal   int
		h         *revisions
		want      string
		wantImage string
	}{
		{"below the partition", s, 1, rolling, "web-old", "old"},
		{"at the partition", s, 2, rolling, revision(s), "busybox"},
		{"no rollout under way", s, 1, done, revision(s), "busybox"},
		{"OnDelete", &onDelete, 0, rolling, revision(s), "busybox"},
	} {
		tmpl, got := templateFor(tt.set, tt.ordinal, tt.h)
		if got != tt.want || tmpl.Spec.Containers[0].Image != tt.wantImage {
			t.Errorf("%s: revision %s image %s, want %s %s", tt.name, got, tmpl.Spec.Containers[0].Image, tt.want, tt.wantImage)
		}
	}
}
