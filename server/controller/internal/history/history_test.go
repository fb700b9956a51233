package history

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

// template is a pod template of one container running image.
func template(image string) *api.PodTemplateSpec {
	return &api.PodTemplateSpec{
		ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: image}}},
	}
}

// rev is a revision named name, numbered n, holding image's template.
func rev(t *testing.T, name string, n int64, image string) *api.ControllerRevision {
	t.Helper()
	data, err := api.RevisionData(template(image))
	if err != nil {
		t.Fatal(err)
	}
	return &api.ControllerRevision{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Data: data, Revision: n}
}

// templateJSON is what Find and SameTemplate compare with.
func templateJSON(t *testing.T, image string) []byte {
	t.Helper()
	b, err := json.Marshal(template(image))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func names(rs []*api.ControllerRevision) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return strings.Join(out, " ")
}

func TestSort(t *testing.T) {
	tests := []struct {
		name string
		in   []*api.ControllerRevision
		want string
	}{
		{"empty", nil, ""},
		{"by number", []*api.ControllerRevision{rev(t, "c", 3, "a"), rev(t, "a", 1, "a"), rev(t, "b", 2, "a")}, "a b c"},
		{"number before name", []*api.ControllerRevision{rev(t, "a", 2, "a"), rev(t, "z", 1, "a")}, "z a"},
		{"same number by name", []*api.ControllerRevision{rev(t, "b", 1, "a"), rev(t, "a", 1, "a"), rev(t, "c", 0, "a")}, "c a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			Sort(tt.in)
			if got := names(tt.in); got != tt.want {
				t.Errorf("Sort = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSameTemplate(t *testing.T) {
	patched := rev(t, "p", 1, "busybox")
	patched.Data = json.RawMessage(`{"spec":{"template":` + string(templateJSON(t, "busybox")) + `,"$patch":"replace"}}`)
	tests := []struct {
		name string
		r    *api.ControllerRevision
		want bool
	}{
		{"same", rev(t, "a", 1, "busybox"), true},
		{"other image", rev(t, "a", 1, "nginx"), false},
		{"with $patch", patched, true},
		{"no template", &api.ControllerRevision{Data: json.RawMessage(`{"spec":{}}`)}, false},
		{"not JSON", &api.ControllerRevision{Data: json.RawMessage(`nope`)}, false},
	}
	want := templateJSON(t, "busybox")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SameTemplate(tt.r, want); got != tt.want {
				t.Errorf("SameTemplate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFind(t *testing.T) {
	tests := []struct {
		name  string
		all   []*api.ControllerRevision
		find  string // the revision's name
		image string
		want  int
	}{
		{"empty", nil, "web-1", "busybox", -1},
		{"none holds it", []*api.ControllerRevision{rev(t, "web-1", 1, "a"), rev(t, "web-2", 2, "b")}, "web-3", "busybox", -1},
		{"newest", []*api.ControllerRevision{rev(t, "web-1", 1, "a"), rev(t, "web-2", 2, "busybox")}, "web-2", "busybox", 1},
		{"an old one", []*api.ControllerRevision{rev(t, "web-1", 1, "busybox"), rev(t, "web-2", 2, "b")}, "web-1", "busybox", 0},
		// The newest is taken first only under the name looked for;
		// else the oldest holding the template.
		{"newest by name first", []*api.ControllerRevision{rev(t, "web-x", 1, "busybox"), rev(t, "web-1", 2, "busybox")}, "web-1", "busybox", 1},
		{"oldest under another name", []*api.ControllerRevision{rev(t, "web-x", 1, "busybox"), rev(t, "web-y", 2, "busybox")}, "web-1", "busybox", 0},
		{"name alone is not enough", []*api.ControllerRevision{rev(t, "web-1", 1, "a")}, "web-1", "busybox", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Find(tt.all, tt.find, templateJSON(t, tt.image)); got != tt.want {
				t.Errorf("Find = %d, want %d", got, tt.want)
			}
		})
	}
}
