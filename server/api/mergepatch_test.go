package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// The examples of RFC 7386, appendix A.
func TestMergePatchRFC7386(t *testing.T) {
	for _, tc := range [][3]string{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	} {
		got, err := MergePatch([]byte(tc[0]), []byte(tc[1]))
		if err != nil || !jsonEqual(t, got, []byte(tc[2])) {
			t.Errorf("MergePatch(%s, %s) = %s, %v; want %s", tc[0], tc[1], got, err, tc[2])
		}
	}
	if _, err := MergePatch([]byte(`{`), []byte(`{}`)); err == nil {
		t.Error("malformed document accepted")
	}
}

func TestCreateMergePatchRoundTrip(t *testing.T) {
	for _, tc := range [][2]string{
		{`{"a":1,"b":{"c":2,"d":3}}`, `{"a":1,"b":{"c":5},"e":[1]}`},
		{`{"a":{"b":1}}`, `{"a":"x"}`},
		{`{}`, `{"a":{"b":{"c":null}}}`},
	} {
		p, err := CreateMergePatch([]byte(tc[0]), []byte(tc[1]))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := MergePatch([]byte(tc[0]), p)
		var want any
		json.Unmarshal([]byte(tc[1]), &want)
		want = dropNulls(want)
		var g any
		json.Unmarshal(got, &g)
		if !reflect.DeepEqual(g, want) {
			t.Errorf("%s → %s via %s gave %s", tc[0], tc[1], p, got)
		}
	}
}

// dropNulls removes null members: a merge patch cannot set a member to null.
func dropNulls(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for k, x := range m {
		if x != nil {
			out[k] = dropNulls(x)
		}
	}
	return out
}

func TestThreeWayMergePatch(t *testing.T) {
	last := `{"metadata":{"labels":{"a":"1","gone":"x"}},"spec":{"replicas":2,"image":"v1"}}`
	modified := `{"metadata":{"labels":{"a":"1"}},"spec":{"replicas":3,"image":"v1"}}`
	current := `{"metadata":{"labels":{"a":"1","gone":"x","server":"set"},"uid":"u"},"spec":{"replicas":2,"image":"v1","defaulted":true},"status":{"ok":true}}`
	p, err := CreateThreeWayMergePatch([]byte(last), []byte(modified), []byte(current))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"metadata":{"labels":{"gone":null}},"spec":{"replicas":3}}`
	if !jsonEqual(t, p, []byte(want)) {
		t.Errorf("three-way patch %s, want %s", p, want)
	}
	p, _ = CreateThreeWayMergePatch(nil, []byte(`{"a":1}`), []byte(`{"a":1,"b":2}`))
	if !jsonEqual(t, p, []byte(`{}`)) {
		t.Errorf("first apply of an unchanged object: %s, want {}", p)
	}
}
