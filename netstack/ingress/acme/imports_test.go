package acme_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps DESIGN's dependency rule: besides the standard
// library and golang.org/x, the package imports only netstack/ingress,
// server/api and server/client.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{"golang.org/x/", "github.com/skiffhq/skiff/netstack/ingress",
		"github.com/skiffhq/skiff/server/api", "github.com/skiffhq/skiff/server/client"}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			ok := !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
			for _, a := range allowed {
				ok = ok || path == strings.TrimSuffix(a, "/") || strings.HasPrefix(path, a)
			}
			if !ok {
				t.Errorf("%s imports %s: netstack/ingress/acme may import only the standard library, golang.org/x, netstack/ingress, server/api and server/client", name, path)
			}
		}
	}
}
