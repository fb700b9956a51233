package apiserver

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/containerd/v2/core/remotes/docker"

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

// TestAppImagesBasicChallenge: a registry client (containerd's resolver,
// as docker, crane and skopeo do) is challenged for credentials at /v2/
// and then sends an API token as the Basic password.
func TestAppImagesBasicChallenge(t *testing.T) {
	s := startAccountsServer(t, nil)
	ctx := context.Background()
	if _, err := s.reg.Create(ctx, "apps", "default", &api.App{ObjectMeta: api.ObjectMeta{Name: "ship", Namespace: "default"}}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v2/", "/v2/apps/ship/tags/list"} {
		req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || got != `Basic realm="skiff"` {
			t.Errorf("GET %s without credentials: %d, WWW-Authenticate %q; want 401 with a Basic challenge", path, resp.StatusCode, got)
		}
	}
	// Only /v2/ challenges, and takes Basic credentials; the API wants a
	// bearer token.
	if a := s.do(t, http.MethodGet, "/api/v1/namespaces/default/apps", "", "Authorization", ""); a.code != http.StatusUnauthorized {
		t.Errorf("the API without credentials: %d %s, want 401", a.code, a.body)
	}
	req, _ := http.NewRequest(http.MethodGet, s.url+"/api/v1/namespaces/default/apps", nil)
	if resp, err := s.http.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("the API challenges for Basic credentials: %q", resp.Header.Get("WWW-Authenticate"))
	}
	if a := s.do(t, http.MethodGet, "/v2/", "", "Authorization", basic("val", "not-a-token")); a.code != http.StatusUnauthorized || !strings.Contains(string(a.body), "skiff token create") {
		t.Errorf("GET /v2/ with a bad Basic password: %d %s, want 401 saying what the password is", a.code, a.body)
	}
	viewer := s.addUser(t, "val", api.RoleViewer)
	if a := s.do(t, http.MethodGet, "/api/v1/namespaces/default/apps", "", "Authorization", basic("val", viewer)); a.code != http.StatusUnauthorized {
		t.Errorf("the API with Basic credentials: %d %s, want 401", a.code, a.body)
	}
	if a := s.do(t, http.MethodGet, "/v2/", "", "Authorization", basic("val", viewer)); a.code != http.StatusOK {
		t.Errorf("GET /v2/ with the token as a Basic password: %d %s, want 200", a.code, a.body)
	}

	resolve := func(password string) ([]int, error) {
		rec := &statusTrail{base: s.http.Transport}
		r := docker.NewResolver(docker.ResolverOptions{Hosts: func(string) ([]docker.RegistryHost, error) {
			client := &http.Client{Transport: rec}
			return []docker.RegistryHost{{
				Client: client, Host: strings.TrimPrefix(s.url, "https://"), Scheme: "https", Path: "/v2",
				Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
				Authorizer: docker.NewDockerAuthorizer(docker.WithAuthClient(client),
					docker.WithAuthCreds(func(string) (string, string, error) { return "val", password, nil })),
			}}, nil
		}})
		_, _, err := r.Resolve(ctx, api.AppImageRepository+"/ship:v1")
		return rec.codes(), err
	}
	// Let through: the containerd behind it is absent here (503).
	codes, err := resolve(viewer)
	if len(codes) < 2 || codes[0] != http.StatusUnauthorized || codes[len(codes)-1] != http.StatusServiceUnavailable {
		t.Errorf("resolve with a viewer's token: answers %v (%v), want 401 then 503 (let through)", codes, err)
	}
	codes, err = resolve("not-a-token")
	if err == nil || slices.Contains(codes, http.StatusServiceUnavailable) {
		t.Errorf("resolve with a bad token: answers %v, error %v; want refused", codes, err)
	}
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// statusTrail is a RoundTripper that notes the status of each answer.
type statusTrail struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []int
}

func (s *statusTrail) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.base.RoundTrip(r)
	if err == nil {
		s.mu.Lock()
		s.seen = append(s.seen, resp.StatusCode)
		s.mu.Unlock()
	}
	return resp, err
}

func (s *statusTrail) codes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}
