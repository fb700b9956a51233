package main

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseLabelArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		set     map[string]string
		remove  []string
		wantErr string
	}{
		{args: []string{"skiff.dev/builder=true"}, set: map[string]string{"skiff.dev/builder": "true"}},
		{args: []string{"a=", "b-", "c=d"}, set: map[string]string{"a": "", "c": "d"}, remove: []string{"b"}},
		{args: []string{"c=d-"}, wantErr: "must start and end with an alphanumeric"},
		{args: []string{"nokey"}, wantErr: "KEY=VALUE"},
		{args: []string{"a=1", "a=2"}, wantErr: "named twice"},
		{args: []string{"a=1", "a-"}, wantErr: "named twice"},
		{args: []string{"bad key=1"}, wantErr: `"bad key=1"`},
		{args: []string{"k=" + strings.Repeat("v", 64)}, wantErr: "63"},
		{args: []string{"-"}, wantErr: `"-"`},
	} {
		set, remove, err := parseLabelArgs(tc.args)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: err %v, want one with %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !maps.Equal(set, tc.set) || !slices.Equal(remove, tc.remove) {
			t.Errorf("%v: set %v remove %v err %v, want %v %v", tc.args, set, remove, err, tc.set, tc.remove)
		}
	}
}
