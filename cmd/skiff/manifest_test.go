package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSplitDocuments(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     int // non-blank documents
	}{
		{"one", "kind: A\n", 1},
		{"two", "kind: A\n---\nkind: B\n", 2},
		{"leading marker", "---\nkind: A\n", 1},
		{"trailing marker", "kind: A\n---\n", 1},
		{"comment after marker", "kind: A\n--- # next\nkind: B\n", 2},
		{"only comments between", "kind: A\n---\n# nothing\n---\nkind: B\n", 2},
		{"marker inside a block scalar line is not a split", "data:\n  x: |\n    a---b\nkind: A\n", 1},
		{"crlf", "kind: A\r\n---\r\nkind: B\r\n", 2},
		{"empty", "", 0},
	} {
		n := 0
		for _, d := range splitDocuments([]byte(tc.in)) {
			if !isBlank(d) {
				n++
			}
		}
		if n != tc.want {
			t.Errorf("%s: %d documents, want %d", tc.name, n, tc.want)
		}
	}
}

func TestParseManifest(t *testing.T) {
	in := `apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
# a list
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}
- {apiVersion: v1, kind: Secret, metadata: {name: c}}
---
{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "d"}}
`
	docs, problems := parseManifest("m.yaml", []byte(in))
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	var got []string
	for _, d := range docs {
		got = append(got, d.index+":"+d.obj.GetTypeMeta().Kind+"/"+d.obj.GetObjectMeta().Name)
	}
	if want := "1:ConfigMap/a 2.1:ConfigMap/b 2.2:Secret/c 3:Namespace/d"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

func TestParseManifestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"unknown field and bad value", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: x, imagee: y}]\n  priority: high\n",
			[]string{`m.yaml: document 1 (Pod "p"): spec.containers[0].imagee: unknown field`, `m.yaml: document 1 (Pod "p"): spec.priority: invalid value "high"`}},
		{"unknown field with a missing name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\nbogus: 1\n",
			[]string{`document 1 (ConfigMap ""): bogus: unknown field`, `document 1 (ConfigMap ""): metadata.name: required`}},
		{"no kind", "metadata: {name: x}\n", []string{"m.yaml: document 1: kind: required"}},
		{"wrong apiVersion", "apiVersion: v1\nkind: Deployment\nmetadata: {name: x}\n", []string{`apiVersion: invalid value "v1": Deployment is apps/v1`}},
		{"not yaml", "kind: [\n", []string{"m.yaml: document 1: not YAML or JSON"}},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\nkind: ConfigMap\nmetadata: {name: x}\n", []string{"m.yaml: document 1"}},
		{"second document only", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: BAD}\n",
			nil}, // names are checked by validation, not decoding
	} {
		_, problems := parseManifest("m.yaml", []byte(tc.in))
		all := strings.Join(problems, "\n")
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: problems\n%s\nlack %q", tc.name, all, w)
			}
		}
		if tc.want == nil && len(problems) > 0 {
			t.Errorf("%s: unexpected problems %v", tc.name, problems)
		}
	}
}

func TestReadManifestsDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "a.json"), []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a manifest"), 0o644)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "c.yml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"), 0o644)

	names := func(recursive bool) string {
		docs, err := readManifests([]string{dir}, recursive, nil)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, d := range docs {
			n = append(n, d.obj.GetObjectMeta().Name)
		}
		return strings.Join(n, ",")
	}
	if got := names(false); got != "a,b" {
		t.Errorf("directory: %s, want a,b", got)
	}
	if got := names(true); got != "a,b,c" {
		t.Errorf("directory -R: %s, want a,b,c", got)
	}
	if _, err := readManifests([]string{filepath.Join(dir, "missing.yaml")}, false, nil); err == nil {
		t.Error("missing file: no error")
	}
	empty := t.TempDir()
	if _, err := readManifests([]string{empty}, false, nil); err == nil || !strings.Contains(err.Error(), "no .yaml") {
		t.Errorf("empty directory: %v", err)
	}
	_, err := readManifests([]string{"-"}, false, strings.NewReader("# only a comment\n"))
	if err == nil || !strings.Contains(err.Error(), "no objects") {
		t.Errorf("stdin with no objects: %v", err)
	}
	var me manifestError
	_, err = readManifests([]string{"-"}, false, strings.NewReader("kind: Nope\n"))
	if !errors.As(err, &me) {
		t.Errorf("bad document: %v, want a manifestError", err)
	}
}

func TestChangedPaths(t *testing.T) {
	live := []byte(`{"spec":{"replicas":2,"template":{"x":1}},"metadata":{"labels":{"a":"1","b":"2"}}}`)
	patch := map[string]any{
		"spec":     map[string]any{"replicas": float64(3)},
		"metadata": map[string]any{"labels": map[string]any{"b": nil, "c": "3"}},
	}
	got := strings.Join(changedPaths(patch, live), "\n")
	want := "metadata.labels.b: \"2\" → (removed)\nmetadata.labels.c: (added) \"3\"\nspec.replicas: 2 → 3"
	if got != want {
		t.Errorf("changedPaths:\n%s\nwant\n%s", got, want)
	}
}

func FuzzReadManifests(f *testing.F) {
	for _, s := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"---\n---\n",
		"apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Secret, metadata: {name: s}}]\n",
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":"x"}}`,
		"kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i, bogus: 1}]}\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		docs, problems := parseManifest("f.yaml", []byte(in))
		for _, d := range docs {
			if d.obj == nil {
				t.Fatal("document without an object")
			}
		}
		for _, p := range problems {
			if !strings.HasPrefix(p, "f.yaml: document ") {
				t.Fatalf("problem does not name the file and document: %q", p)
			}
		}
	})
}
