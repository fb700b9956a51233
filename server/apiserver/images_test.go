package apiserver

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

// TestAppImagesForNodes: a node pulls an app's image only while a pod
// bound to it runs one of the app's images; a person who may not get the
// app hears what they would of an app that does not exist. (The
// containerd behind /v2/ is absent in these tests: a pull let through is
// answered 503.)
func TestAppImagesForNodes(t *testing.T) {
	s := startAccountsServer(t, nil)
	ctx := context.Background()
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, a := range []struct{ ns, name string }{{"team-b", "ship"}, {"team-b", "shipyard"}} {
		if _, err := s.reg.Create(ctx, "apps", a.ns, &api.App{ObjectMeta: api.ObjectMeta{Name: a.name, Namespace: a.ns}}); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(ns, name, node, image string) {
		t.Helper()
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns},
			Spec: api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "web", Image: image}}}}
		if _, err := s.reg.Create(ctx, "pods", ns, p); err != nil {
			t.Fatal(err)
		}
	}
	pod("team-b", "ship-web", "n1", api.AppImageRepository+"/ship@"+digest)
	// An image of another app of the same namespace whose name starts
	// the same, on n2. (No pod outside ship's namespace may run ship's
	// image: the registry refuses it.)
	pod("team-b", "yard-web", "n2", api.AppImageRepository+"/shipyard@"+digest)

	manifest := "/v2/apps/ship/manifests/" + digest
	for _, tc := range []struct {
		node string
		path string
		code int
	}{
		{"n1", manifest, http.StatusServiceUnavailable},                        // its pod runs ship: let through
		{"n1", "/v2/apps/ship/blobs/" + digest, http.StatusServiceUnavailable}, // blobs too
		{"n2", manifest, http.StatusForbidden},                                 // shipyard is not ship
		{"n3", manifest, http.StatusForbidden},                                 // a pod in another namespace than the app's
		{"n1", "/v2/apps/shipyard/manifests/" + digest, http.StatusForbidden},
		{"n1", "/v2/apps/nosuch/manifests/" + digest, http.StatusNotFound},
		{"n1", "/v2/", http.StatusOK},
	} {
		if a := s.nodeAsk(t, tc.node, http.MethodGet, tc.path, ""); a.code != tc.code {
			t.Errorf("node %s GET %s: %d %s, want %d", tc.node, tc.path, a.code, a.body, tc.code)
		}
	}

	// People: one who may not get the app cannot tell it from none.
	outsider := s.addUser(t, "otto", api.RoleDeveloper, "team-a")
	refused := s.as(t, outsider, http.MethodGet, manifest, "")
	missing := s.as(t, outsider, http.MethodGet, "/v2/apps/nosuch/manifests/"+digest, "")
	if refused.code != http.StatusNotFound || missing.code != http.StatusNotFound {
		t.Errorf("outsider: %d %s for ship, %d %s for none; want 404 both", refused.code, refused.body, missing.code, missing.body)
	}
	if strings.Contains(string(refused.body), "team-b") {
		t.Errorf("the refusal names the app's namespace: %s", refused.body)
	}
	if a := s.as(t, s.addUser(t, "val", api.RoleViewer), http.MethodGet, manifest, ""); a.code != http.StatusServiceUnavailable {
		t.Errorf("a viewer: %d %s, want it let through (503 here)", a.code, a.body)
	}
}
