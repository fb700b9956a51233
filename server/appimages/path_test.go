package appimages

import (
	"strings"
	"testing"
)

func TestRepositoryOf(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	for _, tc := range []struct {
		path, want string
	}{
		{"/v2/", ""},
		{"/v2", ""},
		{"/", ""},
		{"", ""},
		{"/v2/apps/shop/blobs/" + d, "apps/shop"},
		{"/v2/apps/shop/manifests/latest", "apps/shop"},
		{"/v2/apps/shop/manifests/" + d, "apps/shop"},
		{"/v2/apps/shop/tags/list", "apps/shop"},
		{"/v2/shop/tags/list", "shop"},
		{"/v2/a/b/c/manifests/x", "a/b/c"},
		{"/v2/apps/my-shop_2.x/manifests/x", "apps/my-shop_2.x"},
		{"/v2/apps/blobs/manifests/x", "apps/blobs"},
		{"/v2/apps/manifests/blobs/" + d, "apps/manifests"},
		{"/v2/apps/shop/manifests/not a tag", "apps/shop"}, // the reference is the handler's to check
		{"/v2/apps/shop/blobs/uploads/", ""},
		{"/v2/apps/shop/blobs/uploads/123", ""},
		{"/v2/apps/shop/referrers/" + d, ""},
		{"/v2/apps/shop", ""},
		{"/v2/apps/shop/", ""},
		{"/v2/apps/shop/manifests/", ""},
		{"/v2/Apps/shop/manifests/x", ""},
		{"/v2//shop/manifests/x", ""},
		{"/v2/apps/../shop/manifests/x", ""},
		{"/v2/apps/shop-/manifests/x", ""},
		{"/v2/manifests/x", ""},
		{"/v2//manifests/x", ""},
		{"/v1/apps/shop/manifests/x", ""},
		{"/api/v1/apps/shop", ""},
		{"/v2/" + strings.Repeat("a", 256) + "/manifests/x", ""},
	} {
		if got := repositoryOf(tc.path); got != tc.want {
			t.Errorf("repositoryOf(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// FuzzRepository checks that no path panics the parser and that every
// repository it finds is a valid name the path starts with.
func FuzzRepositoryOf(f *testing.F) {
	for _, s := range []string{"/v2/", "/v2/apps/shop/manifests/b1", "/v2/apps/shop/blobs/sha256:00", "/v2/a/tags/list",
		"/v2/a/blobs/manifests/blobs/x", "/v2//manifests/", "/v2/manifests/blobs/", "/v2/a/b/tags/list/tags/list"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		repo := repositoryOf(path)
		if repo == "" {
			return
		}
		if err := checkName(repo); err != nil {
			t.Errorf("repositoryOf(%q) = %q, an invalid name: %v", path, repo, err)
		}
		if !strings.HasPrefix(path, "/v2/"+repo+"/") {
			t.Errorf("repositoryOf(%q) = %q, not the start of the path", path, repo)
		}
		r := splitPath(path)
		if r.kind == routeManifest || r.kind == routeBlob {
			if r.ref == "" || strings.Contains(r.ref, "/") {
				t.Errorf("splitPath(%q) = %+v: the reference is empty or has a /", path, r)
			}
		}
	})
}
