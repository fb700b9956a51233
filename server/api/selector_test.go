package api

import (
	"errors"
	"testing"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestParseSelectorMatches(t *testing.T) {
	set := map[string]string{"app": "web", "tier": "front", "env": "prod"}
	for _, tc := range []struct {
		sel  string
		want bool
	}{
		{"", true},
		{"app=web", true}, {"app==web", true}, {"app=db", false}, {"app!=db", true}, {"app!=web", false},
		{"missing!=x", true},
		{"env in (prod,staging)", true}, {"env in (dev)", false},
		{"env notin (dev)", true}, {"env notin (prod)", false}, {"missing notin (x)", true},
		{"app", true}, {"missing", false}, {"!missing", true}, {"!app", false},
		{"app=web,tier=front", true}, {"app=web,tier=back", false},
		{"  app = web ,  env in ( prod , x ) ", true},
		{"example.com/role=a", false},
	} {
		s, err := ParseSelector(tc.sel)
		if err != nil {
			t.Errorf("%q: %v", tc.sel, err)
			continue
		}
		if got := s.Matches(set); got != tc.want {
			t.Errorf("%q.Matches = %v, want %v", tc.sel, got, tc.want)
		}
		again, err := ParseSelector(s.String())
		if err != nil || again.String() != s.String() {
			t.Errorf("%q: String %q does not parse back the same (%v)", tc.sel, s.String(), err)
		}
	}
}

func TestParseSelectorErrors(t *testing.T) {
	for _, bad := range []string{"a in (", "a in ()", "=b", "a=b,", "a notin x", "a=b c", "-a=b", "a=" + string(make([]byte, 70)), "a==b=c", "a in (x y)"} {
		if _, err := ParseSelector(bad); !errors.Is(err, errdefs.ErrBadRequest) {
			t.Errorf("%q: %v, want a bad request", bad, err)
		}
	}
}

func TestRequiresExactMatch(t *testing.T) {
	s, _ := ParseSelector("app=web,env in (prod),tier in (a,b)")
	for _, tc := range []struct {
		key, want string
		ok        bool
	}{{"app", "web", true}, {"env", "prod", true}, {"tier", "", false}, {"x", "", false}} {
		v, ok := s.RequiresExactMatch(tc.key)
		if v != tc.want || ok != tc.ok {
			t.Errorf("RequiresExactMatch(%s) = %q %v, want %q %v", tc.key, v, ok, tc.want, tc.ok)
		}
	}
}

func TestParseFieldSelector(t *testing.T) {
	s, err := ParseFieldSelector(`spec.nodeName=n1,metadata.name!=a\,b`)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Matches(map[string]string{"spec.nodeName": "n1", "metadata.name": "x"}) {
		t.Error("should match")
	}
	if s.Matches(map[string]string{"spec.nodeName": "n1", "metadata.name": "a,b"}) {
		t.Error("escaped comma not honoured")
	}
	if v, ok := s.RequiresExactMatch("spec.nodeName"); !ok || v != "n1" {
		t.Errorf("RequiresExactMatch = %q %v", v, ok)
	}
	again, err := ParseFieldSelector(s.String())
	if err != nil || again.String() != s.String() {
		t.Errorf("String %q does not parse back the same (%v)", s.String(), err)
	}
	for _, bad := range []string{"nodeName", "=x", `a=b\`, `a=b\q`, "a=b=c"} {
		if _, err := ParseFieldSelector(bad); !errors.Is(err, errdefs.ErrBadRequest) {
			t.Errorf("%q: %v, want a bad request", bad, err)
		}
	}
}

func TestLabelSelectorAsSelector(t *testing.T) {
	if s, _ := LabelSelectorAsSelector(nil); s.Matches(map[string]string{}) {
		t.Error("nil selector matched")
	}
	if s, _ := LabelSelectorAsSelector(&LabelSelector{}); !s.Matches(map[string]string{"a": "b"}) || !s.Empty() {
		t.Error("empty selector should match everything")
	}
	ls := &LabelSelector{MatchLabels: map[string]string{"app": "web"}, MatchExpressions: []LabelSelectorRequirement{
		{Key: "env", Operator: "In", Values: []string{"prod"}}, {Key: "canary", Operator: "DoesNotExist"}}}
	s, err := LabelSelectorAsSelector(ls)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Matches(map[string]string{"app": "web", "env": "prod"}) || s.Matches(map[string]string{"app": "web", "env": "prod", "canary": "1"}) {
		t.Errorf("%s matches wrongly", s)
	}
	bad := &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "a", Operator: "Near"}, {Key: "b", Operator: "In"}, {Key: "c", Operator: "Exists", Values: []string{"x"}}}}
	errs := ValidateLabelSelector(bad, "spec.selector")
	if len(errs) != 3 || errs[0].Field != "spec.selector.matchExpressions[0].operator" {
		t.Errorf("ValidateLabelSelector = %v", errs)
	}
}
