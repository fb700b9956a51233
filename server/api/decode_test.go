package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func fieldsOf(t *testing.T, err error) map[string]FieldErrorType {
	t.Helper()
	var fes FieldErrors
	if !errors.As(err, &fes) {
		t.Fatalf("error %v is not FieldErrors", err)
	}
	out := map[string]FieldErrorType{}
	for _, fe := range fes {
		out[fe.Field] = fe.Type
	}
	return out
}

func TestDecodeUnknownFieldsEverywhere(t *testing.T) {
	in := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labelz":{}},
	  "spec":{"replica":3,"selector":{"matchLabels":{"app":"web"}},
	    "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[
	      {"name":"a","image":"x"},
	      {"name":"b","image":"y","imagePullPolcy":"Always","ports":[{"containerPort":80,"hostPortt":1}],
	       "resources":{"limits":{"cpu":"1"},"limitz":{}}}]}}}}`
	obj, err := Decode([]byte(in))
	got := fieldsOf(t, err)
	for _, want := range []string{
		"metadata.labelz", "spec.replica",
		"spec.template.spec.containers[1].imagePullPolcy",
		"spec.template.spec.containers[1].ports[0].hostPortt",
		"spec.template.spec.containers[1].resources.limitz",
	} {
		if got[want] != FieldUnknown {
			t.Errorf("unknown field %s not reported (got %v)", want, got)
		}
	}
	if len(got) != 5 {
		t.Errorf("reported %d fields, want 5: %v", len(got), got)
	}
	d, ok := obj.(*Deployment)
	if !ok || d.Name != "web" || len(d.Spec.Template.Spec.Containers) != 2 {
		t.Errorf("with only unknown fields the object should still be filled: %#v", obj)
	}
	if !errdefs.IsInvalid(err) {
		t.Errorf("class: %v, want invalid", err)
	}
}

func TestDecodeTypeErrors(t *testing.T) {
	in := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"a":1}},
	  "spec":{"replicas":"three","paused":"yes","minReadySeconds":1.5,"revisionHistoryLimit":99999999999,
	    "selector":{"matchLabels":["x"]},"template":{"spec":{"containers":{"name":"a"}}}}}`
	obj, err := Decode([]byte(in))
	if obj != nil {
		t.Error("an object with type errors was returned")
	}
	got := fieldsOf(t, err)
	for _, want := range []string{"metadata.labels[a]", "spec.replicas", "spec.paused", "spec.minReadySeconds",
		"spec.revisionHistoryLimit", "spec.selector.matchLabels", "spec.template.spec.containers"} {
		if got[want] != FieldInvalid {
			t.Errorf("type error at %s not reported (got %v)", want, got)
		}
	}
	if !strings.Contains(err.Error(), `spec.replicas: invalid value "three": must be an integer`) {
		t.Errorf("message: %v", err)
	}
}

func TestDecodeKindAndVersion(t *testing.T) {
	for _, tc := range []struct{ in, field string }{
		{`{"apiVersion":"v1","metadata":{"name":"x"}}`, "kind"},
		{`{"apiVersion":"v1","kind":"Gizmo"}`, "kind"},
		{`{"apiVersion":"v1","kind":"Deployment"}`, "apiVersion"},
		{`{"kind":"Pod"}`, "apiVersion"},
	} {
		_, err := Decode([]byte(tc.in))
		if _, ok := fieldsOf(t, err)[tc.field]; !ok {
			t.Errorf("%s: %v, want a problem with %s", tc.in, err, tc.field)
		}
	}
	if _, err := Decode([]byte(`{"apiVersion":"v1","kind":"Deployment"}`)); !strings.Contains(err.Error(), "Deployment is apps/v1") {
		t.Errorf("wrong apiVersion message: %v", err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200)
	for _, tc := range []struct{ name, in, want string }{
		{"truncated", "{\n\"kind\": \"Pod\",\n\"metadata\": {", "line 3"},
		{"garbage", "{kind: Pod}", "malformed JSON"},
		{"trailing data", `{"kind":"Pod","apiVersion":"v1"} {}`, "after the object"},
		{"not an object", `[1,2]`, "JSON object"},
		{"deep", deep, "nested deeper"},
		{"duplicate key", `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","name":"b"}}`, "metadata.name: duplicate"},
		{"empty", ``, "malformed JSON"},
	} {
		_, err := Decode([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to mention %q", tc.name, err, tc.want)
			continue
		}
		if !errors.Is(err, errdefs.ErrBadRequest) {
			t.Errorf("%s: class of %v, want bad request", tc.name, err)
		}
	}
}

func TestDecodeRealManifests(t *testing.T) {
	for _, in := range []string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","labels":{"app":"x"}},
		  "spec":{"containers":[{"name":"c","image":"busybox","command":["sh","-c","sleep 1"],
		   "resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"memory":"128Mi"}},
		   "livenessProbe":{"httpGet":{"path":"/","port":"http"},"periodSeconds":5}}]}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"selector":{"app":"x"},"ports":[{"name":"http","port":80,"targetPort":8080}]}}`,
		`{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"c"},"spec":{"schedule":"*/5 * * * *","timeZone":"Europe/Berlin",
		  "jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure","containers":[{"name":"c","image":"busybox"}]}}}}}}`,
		`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"k":"aGVsbG8="},"stringData":{"x":"y"}}`,
	} {
		obj, err := Decode([]byte(in))
		if err != nil {
			t.Errorf("%.60s…: %v", in, err)
			continue
		}
		if obj.GetTypeMeta().Kind == "" {
			t.Errorf("decoded %T without its kind", obj)
		}
	}
	if _, err := Decode([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"k":"not base64!"}}`)); err == nil {
		t.Error("secret data that is not base64 accepted")
	}
}

func TestDecodeIntoSetsTypeMeta(t *testing.T) {
	cm := &ConfigMap{}
	if err := DecodeInto([]byte(`{"metadata":{"name":"c"},"data":{"a":"b"}}`), cm); err != nil {
		t.Fatal(err)
	}
	if cm.Kind != "ConfigMap" || cm.APIVersion != "v1" || cm.Data["a"] != "b" {
		t.Errorf("DecodeInto gave %+v", cm)
	}
}
