package build

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/recipes")

// TestRecipes renders each kind's Dockerfile (checked against a golden
// file), parses it with the one engine, and computes its cache keys over the
// testdata app, which proves every COPY source exists or is an optional
// wildcard.
func TestRecipes(t *testing.T) {
	tests := []struct {
		dir    string
		stages int
		cmd    []string
	}{
		{"go", 2, []string{"/app/bin/app"}},
		{"python-requirements", 1, []string{"/bin/sh", "-c", "flask run --host 0.0.0.0 --port $PORT"}},
		{"python-pyproject", 1, []string{"/bin/sh", "-c", "x"}},
		{"python-pipfile", 1, []string{"/bin/sh", "-c", "gunicorn app:app"}},
		{"node", 1, []string{"npm", "start"}},
		{"node-no-lock", 1, []string{"npm", "start"}},
		{"static-root", 1, []string{"/bin/sh", "-c", `exec httpd -f -v -p "$PORT" -h /www`}},
		{"static-public", 1, []string{"/bin/sh", "-c", `exec httpd -f -v -p "$PORT" -h /www`}},
		{"procfile", 1, []string{"/bin/sh", "-c", "./run.sh"}},
	}
	r := DefaultRecipes()
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			dir := filepath.Join("testdata/detect", tt.dir)
			kind, err := Detect(dir)
			if err != nil {
				t.Fatal(err)
			}
			text, err := r.Dockerfile(kind, dir)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata/recipes", tt.dir+".Dockerfile")
			if *update {
				if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if text != string(want) {
				t.Errorf("Dockerfile differs from %s:\n%s", golden, text)
			}
			p, err := r.Plan(kind, dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Stages) != tt.stages {
				t.Errorf("%d stages, want %d", len(p.Stages), tt.stages)
			}
			if !reflect.DeepEqual(p.Config.Cmd, tt.cmd) {
				t.Errorf("Cmd = %q, want %q", p.Config.Cmd, tt.cmd)
			}
			if port, ok := p.Port(); !ok || port != 8080 {
				t.Errorf("Port() = %d, %v; want 8080", port, ok)
			}
			if !reflect.DeepEqual(p.Config.Env[len(p.Config.Env)-1], "PORT=8080") {
				t.Errorf("Env = %q, want PORT=8080 last", p.Config.Env)
			}
			if _, err := p.CacheKeys(dir); err != nil {
				t.Errorf("CacheKeys: %v", err)
			}
		})
	}
}

func TestRecipeErrors(t *testing.T) {
	r := DefaultRecipes()
	if _, err := r.Plan(KindPython, "testdata/detect/python-no-web"); !errors.Is(err, ErrNoWeb) {
		t.Errorf("python without web: got %v, want ErrNoWeb", err)
	}
	if _, err := r.Plan(KindProcfile, "testdata/detect/unknown"); err == nil || !strings.Contains(err.Error(), "there is no Procfile") {
		t.Errorf("procfile kind without Procfile: got %v", err)
	}
	if _, err := r.Plan("ruby", "testdata/detect/unknown"); err == nil || !strings.Contains(err.Error(), `no recipe for app kind "ruby"`) {
		t.Errorf("unknown kind: got %v", err)
	}
	bad := r
	bad.NodeImage = ""
	if _, err := bad.Plan(KindNode, "testdata/detect/node"); err == nil || !strings.Contains(err.Error(), "nodeImage") {
		t.Errorf("empty image: got %v", err)
	}
	bad = r
	bad.Port = 0
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "port 0") {
		t.Errorf("port 0: got %v", err)
	}
}

func TestRecipeCustomImage(t *testing.T) {
	r := DefaultRecipes()
	r.StaticImage = "registry.local/busybox:1"
	r.Port = 5000
	p, err := r.Plan(KindStatic, "testdata/detect/static-root")
	if err != nil {
		t.Fatal(err)
	}
	if p.Stages[0].From != "registry.local/busybox:1" {
		t.Errorf("From = %q", p.Stages[0].From)
	}
	if port, _ := p.Port(); port != 5000 {
		t.Errorf("Port = %d, want 5000", port)
	}
}

func TestRecipeWebCommandIsQuoted(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"index.html": "x", "Procfile": "web: echo \"a\" \\\n"})
	p, err := DefaultRecipes().Plan(KindStatic, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/bin/sh", "-c", `echo "a" \`}; !reflect.DeepEqual(p.Config.Cmd, want) {
		t.Errorf("Cmd = %q, want %q", p.Config.Cmd, want)
	}
}
