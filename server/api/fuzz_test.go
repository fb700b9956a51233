package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":"x","bogus":1}}`,
		`{"apiVersion":"v1","kind":"Secret","data":{"k":"!!"}}`,
		`{"apiVersion":"v1","kind":"Service","spec":{"ports":[{"port":80,"targetPort":"http"}]}}`,
		`{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"resources":{"limits":{"cpu":"1.5e3m"}}}]}}`,
		`{"kind":"Node","apiVersion":"v1","metadata":{"creationTimestamp":"2026-01-01T00:00:00Z"}}`,
		`[`, `{"a":{"a":{"a":{}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, err := Decode(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(obj)
		if err != nil {
			t.Fatalf("decoded %T does not marshal: %v", obj, err)
		}
		if _, err := Decode(out); err != nil {
			t.Fatalf("re-decoding %s: %v", out, err)
		}
	})
}

func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"a=b", "a in (x,y),!c", "x notin (1), y", "k==v,k!=w", "a in (", "example.com/x=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSelector(in)
		if err != nil {
			return
		}
		again, err := ParseSelector(s.String())
		if err != nil {
			t.Fatalf("%q → %q does not parse: %v", in, s.String(), err)
		}
		if again.String() != s.String() {
			t.Fatalf("%q → %q → %q", in, s.String(), again.String())
		}
	})
}

func FuzzParseFieldSelector(f *testing.F) {
	for _, s := range []string{"spec.nodeName=n", `a=b\,c,d!=e`, "a==b", `x=\\`, "=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseFieldSelector(in)
		if err != nil {
			return
		}
		again, err := ParseFieldSelector(s.String())
		if err != nil {
			t.Fatalf("%q → %q does not parse: %v", in, s.String(), err)
		}
		if again.String() != s.String() {
			t.Fatalf("%q → %q → %q", in, s.String(), again.String())
		}
	})
}

func FuzzMergePatch(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":{"c":2}}`), []byte(`{"a":2,"b":{"d":3}}`))
	f.Add([]byte(`{}`), []byte(`{"x":[1,{"y":null}]}`))
	f.Add([]byte(`{"a":{"b":1}}`), []byte(`{"a":"s"}`))
	f.Fuzz(func(t *testing.T, orig, mod []byte) {
		var o, m map[string]any
		if json.Unmarshal(orig, &o) != nil || json.Unmarshal(mod, &m) != nil || o == nil || m == nil {
			return
		}
		p, err := CreateMergePatch(orig, mod)
		if err != nil {
			t.Fatalf("CreateMergePatch: %v", err)
		}
		got, err := MergePatch(orig, p)
		if err != nil {
			t.Fatalf("MergePatch: %v", err)
		}
		var g any
		json.Unmarshal(got, &g)
		if want := dropNulls(any(m)); !reflect.DeepEqual(g, want) {
			t.Fatalf("patch %s of %s gave %s, want %s", p, orig, got, mod)
		}
	})
}
