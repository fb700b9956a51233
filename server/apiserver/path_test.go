package apiserver

import (
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		path                    string
		resource, ns, name, sub string
	}{
		{"namespaces", "namespaces", "", "", ""},
		{"namespaces/shop", "namespaces", "", "shop", ""},
		{"namespaces/shop/status", "namespaces", "", "shop", "status"},
		{"namespaces/shop/pods", "pods", "shop", "", ""},
		{"namespaces/shop/pods/web", "pods", "shop", "web", ""},
		{"namespaces/shop/pods/web/status", "pods", "shop", "web", "status"},
		{"pods", "pods", "", "", ""},
		{"nodes/pi-1", "nodes", "", "pi-1", ""},
		{"nodes/pi-1/status", "nodes", "", "pi-1", "status"},
		{"namespaces/shop/deployments/", "deployments", "shop", "", ""},
	} {
		got, err := parsePath(tc.path)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if got.kind.Resource != tc.resource || got.namespace != tc.ns || got.name != tc.name || got.subresource != tc.sub {
			t.Errorf("%s: got %s ns=%q name=%q sub=%q; want %s ns=%q name=%q sub=%q", tc.path,
				got.kind.Resource, got.namespace, got.name, got.subresource, tc.resource, tc.ns, tc.name, tc.sub)
		}
	}
	for _, bad := range []string{
		"", "widgets", "Pods", "po", "namespaces/shop/nodes", "pods/web", "namespaces/shop/pods/web/scale",
		"namespaces/shop/configmaps/c/status", "namespaces//pods", "namespaces/shop/pods/a/b/c", "nodes/a/b/c",
	} {
		if _, err := parsePath(bad); !errdefs.IsNotFound(err) {
			t.Errorf("%q: err %v, want not found", bad, err)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"namespaces/a/pods/b/status", "pods", "nodes/x", "namespaces//", "a/b/c/d/e/f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := parsePath(p)
		if err != nil {
			if !errdefs.IsNotFound(err) {
				t.Fatalf("%q: error of the wrong class: %v", p, err)
			}
			return
		}
		if got.kind.Resource == "" || strings.Contains(got.name, "/") || strings.Contains(got.namespace, "/") {
			t.Fatalf("%q parsed to %+v", p, got)
		}
		if got.subresource != "" && got.subresource != "status" {
			t.Fatalf("%q: subresource %q", p, got.subresource)
		}
	})
}
