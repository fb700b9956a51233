package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/skiffhq/skiff"

type goPackage struct {
	ImportPath string
	Doc        string
	Imports    []string
	Standard   bool
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []goPackage
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestDependencyDirection keeps DESIGN.md's rule: runtime/ and netstack/
// may use server/api and server/client but no other part of server/;
// server/ never imports runtime/ or netstack/; server/api imports only the
// standard library.
func TestDependencyDirection(t *testing.T) {
	under := func(path, dir string) bool {
		return path == module+"/"+dir || strings.HasPrefix(path, module+"/"+dir+"/")
	}
	for _, p := range listPackages(t) {
		for _, imp := range p.Imports {
			switch {
			case (under(p.ImportPath, "runtime") || under(p.ImportPath, "netstack")) &&
				under(imp, "server") && !under(imp, "server/api") && !under(imp, "server/client"):
				t.Errorf("%s imports %s: node-side code may use only server/api and server/client", p.ImportPath, imp)
			case under(p.ImportPath, "server") && (under(imp, "runtime") || under(imp, "netstack") || under(imp, "cmd")):
				t.Errorf("%s imports %s: server/ must not import runtime/, netstack/ or cmd/", p.ImportPath, imp)
			case under(p.ImportPath, "server/api") && !isStandard(imp) && !under(imp, "server/api"):
				t.Errorf("%s imports %s: server/api may import only the standard library", p.ImportPath, imp)
			}
		}
	}
}

func isStandard(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

// TestEveryPackageHasADocComment: a package says what it owns.
func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no // Package doc comment", p.ImportPath)
		}
	}
}
