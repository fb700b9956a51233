package build

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		dir  string
		want Kind
	}{
		{"go", KindGo},
		{"go-with-package-json", KindGo},
		{"python-requirements", KindPython},
		{"python-pyproject", KindPython},
		{"python-pipfile", KindPython},
		{"python-with-package-json", KindPython}, // app.py at the root
		{"node-with-requirements", KindNode},     // package.json has a start script
		{"node-requirements-no-py", KindNode},    // no .py file at the root
		{"python-no-web", KindPython},            // detected; the recipe asks for web
		{"node", KindNode},                       // public/index.html is an asset
		{"node-no-lock", KindNode},
		{"static-root", KindStatic},
		{"static-public", KindStatic},
		{"procfile", KindProcfile},
	}
	for _, tt := range tests {
		got, err := Detect(filepath.Join("testdata/detect", tt.dir))
		if err != nil || got != tt.want {
			t.Errorf("Detect(%s) = %q, %v; want %q", tt.dir, got, err, tt.want)
		}
	}
}

func TestDetectErrors(t *testing.T) {
	dirDotHTML := t.TempDir()
	if err := os.Mkdir(filepath.Join(dirDotHTML, "index.html"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir  string
		want error
		text string
	}{
		{"testdata/detect/unknown", ErrUndetected, "add a Dockerfile"},
		{"testdata/detect/procfile-no-web", ErrNoWeb, "no web process"},
		{"testdata/detect/procfile-bad", nil, "Procfile line 2: process type \"web\" is already defined on line 1"},
		{dirDotHTML, ErrUndetected, ""},
		{"testdata/detect/missing", nil, "no such file"},
		{"testdata/detect/go/go.mod", nil, "is not a directory"},
	}
	for _, tt := range tests {
		_, err := Detect(tt.dir)
		if err == nil || tt.want != nil && !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("Detect(%s): got %v, want %v containing %q", tt.dir, err, tt.want, tt.text)
		}
	}
}

// TestProcfileSymlinkOutOfTheRepository: a pushed Procfile that links to
// a file of the build machine is not read (its content would come back in
// the error, or become the image's command).
func TestProcfileSymlinkOutOfTheRepository(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("API_TOKEN=hunter2\nweb: cat /etc/shadow\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "Procfile")); err != nil {
		t.Fatal(err)
	}
	_, err := Detect(dir)
	if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "shadow") {
		t.Errorf("Detect with a Procfile linking out: %v, want an error without the file's content", err)
	}
}
