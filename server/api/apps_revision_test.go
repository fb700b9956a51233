package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func testControllerRevision(t *testing.T) *ControllerRevision {
	tmpl := testTemplate(t)
	data, err := RevisionData(&tmpl)
	if err != nil {
		t.Fatal(err)
	}
	r := &ControllerRevision{ObjectMeta: ObjectMeta{Name: "db-5d4f8c", Namespace: "default",
		Labels: map[string]string{"app": "web", "controller-revision-hash": "5d4f8c"}}, Data: data, Revision: 2}
	Default(r)
	return r
}

func TestControllerRevisionTemplate(t *testing.T) {
	r := testControllerRevision(t)
	want := testTemplate(t)
	got, err := r.Template()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("Template() = %+v, want %+v", *got, want)
	}
	var shape map[string]map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &shape); err != nil || shape["spec"]["template"] == nil || len(shape) != 1 || len(shape["spec"]) != 1 {
		t.Errorf("data = %s, want {\"spec\":{\"template\":…}}", r.Data)
	}

	// Kubernetes' own data, "$patch" and all, gives its template.
	k8s := &ControllerRevision{Data: json.RawMessage(`{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"name":"db","image":"postgres:16"}]}}}}`)}
	got, err = k8s.Template()
	if err != nil || got.Labels["app"] != "db" || len(got.Spec.Containers) != 1 || got.Spec.Containers[0].Image != "postgres:16" {
		t.Errorf("Kubernetes data: template %+v, err %v", got, err)
	}
	for _, data := range []string{`{}`, `{"spec":{}}`, `[1]`, `nonsense`} {
		if got, err := (&ControllerRevision{Data: json.RawMessage(data)}).Template(); err == nil {
			t.Errorf("data %s: template %+v, want an error", data, got)
		}
	}
}

func TestDefaultControllerRevision(t *testing.T) {
	r := &ControllerRevision{Data: json.RawMessage(`{"spec":{}}`)}
	Default(r)
	if r.APIVersion != "apps/v1" || r.Kind != "ControllerRevision" || r.Revision != 0 || string(r.Data) != `{"spec":{}}` {
		t.Errorf("Default gave %+v, want only apiVersion and kind set", r)
	}
}

func TestValidateControllerRevision(t *testing.T) {
	cr := func(f func(r *ControllerRevision)) Object { r := testControllerRevision(t); f(r); return r }
	runValidationCases(t, []validationCase{
		{"valid", cr(func(r *ControllerRevision) {}), nil},
		{"revision 0", cr(func(r *ControllerRevision) { r.Revision = 0 }), nil},
		{"no data", cr(func(r *ControllerRevision) { r.Data = nil }), []string{"data"}},
		{"null data", cr(func(r *ControllerRevision) { r.Data = json.RawMessage("null") }), []string{"data"}},
		{"data not an object", cr(func(r *ControllerRevision) { r.Data = json.RawMessage(`["a"]`) }), []string{"data"}},
		{"data not JSON", cr(func(r *ControllerRevision) { r.Data = json.RawMessage(`{"a":`) }), []string{"data"}},
		{"negative revision", cr(func(r *ControllerRevision) { r.Revision = -1 }), []string{"revision"}},
		{"no namespace", cr(func(r *ControllerRevision) { r.Namespace = "" }), []string{"metadata.namespace"}},
		{"bad name", cr(func(r *ControllerRevision) { r.Name = "DB_1" }), []string{"metadata.name"}},
	})
}

func TestValidateControllerRevisionUpdate(t *testing.T) {
	created := NewTime(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC))
	for _, tt := range []struct {
		name string
		f    func(r *ControllerRevision)
		want []string
	}{
		{"no change", func(r *ControllerRevision) {}, nil},
		{"labels may change", func(r *ControllerRevision) { r.Labels["x"] = "y" }, nil},
		// As in Kubernetes: a controller returning to an old template
		// gives its revision the next number.
		{"revision may change", func(r *ControllerRevision) { r.Revision = 5 }, nil},
		{"data respaced is no change", func(r *ControllerRevision) {
			r.Data = append(json.RawMessage(" "), append(r.Data, '\n')...)
		}, nil},
		{"data changed", func(r *ControllerRevision) { r.Data = json.RawMessage(`{"spec":{"template":{}}}`) }, []string{"data"}},
		{"data removed", func(r *ControllerRevision) { r.Data = nil }, []string{"data", "data"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old := testControllerRevision(t)
			old.UID, old.CreationTimestamp = "uid-1", created
			n := Clone(old)
			tt.f(n)
			checkFieldPaths(t, ValidateUpdate(old, n), tt.want)
		})
	}
}

func TestDecodeControllerRevision(t *testing.T) {
	in := `{"apiVersion":"apps/v1","kind":"ControllerRevision","metadata":{"name":"db-7b9d","namespace":"default",
	  "ownerReferences":[{"apiVersion":"apps/v1","kind":"StatefulSet","name":"db","uid":"u1","controller":true}]},
	  "data":{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"name":"db","image":"postgres:16"}]}}}},
	  "revision":3}`
	obj, err := Decode([]byte(in))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	r, ok := obj.(*ControllerRevision)
	if !ok || r.Revision != 3 {
		t.Fatalf("decoded %#v", obj)
	}
	if errs := Validate(r); len(errs) > 0 {
		t.Errorf("validate: %v", errs)
	}
	_, err = Decode([]byte(`{"apiVersion":"apps/v1","kind":"ControllerRevision","metadata":{"name":"x"},"data":{},"revison":3}`))
	if got := fieldsOf(t, err); got["revison"] != FieldUnknown || len(got) != 1 {
		t.Errorf("unknown field: got %v, want revison", got)
	}
}
