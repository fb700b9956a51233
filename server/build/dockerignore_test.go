package build

import (
	"strings"
	"testing"
)

func TestIgnore(t *testing.T) {
	tests := []struct {
		patterns string
		path     string
		want     bool
	}{
		{"*.md", "README.md", true},
		{"*.md", "docs/README.md", false}, // * stays in one element
		{"**/*.md", "docs/README.md", true},
		{"**/*.md", "README.md", true},
		{"docs", "docs/a/b.txt", true}, // parent directory matches
		{"/docs", "docs/a", true},
		{"docs/**", "docs/a/b", true},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/x/c", false},
		{"?.txt", "a.txt", true},
		{"?.txt", "ab.txt", false},
		{"[ab].txt", "b.txt", true},
		{"[!ab].txt", "c.txt", false}, // Go regexp: [!ab] is a class of !, a, b
		{"*.log\n!keep.log", "keep.log", false},
		{"*.log\n!keep.log", "drop.log", true},
		{"logs\n!logs/keep", "logs/keep", false},
		{"logs\n!logs/keep", "logs/other", true},
		{"!a\n*", "a", true}, // the last match wins
		{"# comment\n\n  *.tmp  ", "x.tmp", true},
		{"#*.tmp", "x.tmp", false},
		{"./build/../out", "out/x", true},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{"a.b", "axb", false},
		{"node_modules", "node_modules", true},
	}
	for _, tt := range tests {
		ig, err := ParseIgnore(strings.NewReader(tt.patterns))
		if err != nil {
			t.Fatalf("%q: %v", tt.patterns, err)
		}
		if got := ig.Excluded(tt.path); got != tt.want {
			t.Errorf("patterns %q, path %q: Excluded = %v, want %v", tt.patterns, tt.path, got, tt.want)
		}
	}
	if _, err := ParseIgnore(strings.NewReader("a\n!\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("lone !: got %v, want a line 2 error", err)
	}
}

func FuzzIgnore(f *testing.F) {
	f.Add("*.md\n!keep.md\n**/tmp\n", "a/keep.md")
	f.Add(`a\*[b-c]?`, "a*bx")
	f.Fuzz(func(t *testing.T, patterns, p string) {
		ig, err := ParseIgnore(strings.NewReader(patterns))
		if err != nil {
			return
		}
		ig.Excluded(p)
	})
}
