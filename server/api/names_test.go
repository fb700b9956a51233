package api

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, tc := range []struct {
		name string
		fn   func(string) []string
		good []string
		bad  []string
	}{
		{"label", IsDNS1123Label, []string{"a", "web-1", "0a"}, []string{"", "A", "a_b", "-a", "a-", "a.b", long}},
		{"subdomain", IsDNS1123Subdomain, []string{"a", "a.b-c.d", "example.com"}, []string{"", "A.b", "a..b", ".a", strings.Repeat("a.", 127) + "a"}},
		{"qualified", IsQualifiedName, []string{"app", "App_1.x", "example.com/role", "a/b"}, []string{"", "/a", "a/", "a/b/c", "Example.com/x", "-a", long}},
		{"label value", IsValidLabelValue, []string{"", "v1", "a.b_c-d"}, []string{"-a", "a b", long}},
		{"c identifier", IsCIdentifier, []string{"A", "_a1", "MY_VAR"}, []string{"", "1a", "a-b", "a.b"}},
	} {
		for _, g := range tc.good {
			if errs := tc.fn(g); len(errs) > 0 {
				t.Errorf("%s %q: %v, want ok", tc.name, g, errs)
			}
		}
		for _, b := range tc.bad {
			if errs := tc.fn(b); len(errs) == 0 {
				t.Errorf("%s %q accepted", tc.name, b)
			}
		}
	}
	errs := ValidateLabels(map[string]string{"ok": "v", "bad key": "v", "k": "bad value"}, "metadata.labels")
	if len(errs) != 2 || errs[0].Field != "metadata.labels[bad key]" || errs[1].Field != "metadata.labels[k]" {
		t.Errorf("ValidateLabels = %v", errs)
	}
	big := map[string]string{"a": strings.Repeat("x", 300<<10)}
	if errs := ValidateAnnotations(big, "metadata.annotations"); len(errs) != 1 || errs[0].Type != FieldTooLong {
		t.Errorf("ValidateAnnotations of 300 KiB = %v", errs)
	}
}
