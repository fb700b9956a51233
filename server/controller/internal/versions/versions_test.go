package versions

import "testing"

func TestVersions(t *testing.T) {
	v := New()
	if v.Stale("ns/a", "5") {
		t.Fatal("nothing written: want not stale")
	}
	v.Wrote("ns/a", "10")
	v.Wrote("ns/a", "7") // an older write does not lower the mark
	for _, tc := range []struct {
		rv   string
		want bool
	}{{"9", true}, {"not-a-number", false}, {"10", false}, {"9", false}} {
		if got := v.Stale("ns/a", tc.rv); got != tc.want {
			t.Errorf("stale(%q) = %v, want %v", tc.rv, got, tc.want)
		}
	}
	v.Wrote("ns/b", "3")
	v.Forget("ns/b")
	if v.Stale("ns/b", "1") {
		t.Error("forgotten: want not stale")
	}
}
