package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// testServer is a real API server on loopback over HTTPS, backed by a real
// bbolt store.
type testServer struct {
	url    string
	token  string
	http   *http.Client
	store  *store.Bolt
	caPEM  []byte
	cancel context.CancelFunc
}

func startServer(t testing.TB, storeCfg store.Config, bookmark time.Duration) *testServer {
	t.Helper()
	return startServerWith(t, storeCfg, bookmark, auth.NewFailureLimiter(rate.Inf, 1))
}

func startServerWith(t testing.TB, storeCfg store.Config, bookmark time.Duration, failures *auth.FailureLimiter) *testServer {
	t.Helper()
	dir := t.TempDir()
	pki, err := auth.EnsurePKI(filepath.Join(dir, "pki"), auth.PKIConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := auth.EnsureAdminToken(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := auth.LoadTokenHash(filepath.Join(dir, "pki"))
	storeCfg.Path = filepath.Join(dir, "state.db")
	st, err := store.Open(storeCfg)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := registry.New(registry.Config{Store: st, BookmarkInterval: bookmark})
	ctx, cancel := context.WithCancel(context.Background())
	if err := reg.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Backend: reg, Auth: auth.NewStaticToken(hash, auth.Identity{Name: "admin"}),
		// TestAuthentication fails on purpose far more often than the
		// default allows one address; TestFailedTokensAreLimited has it.
		Failures: failures,
		Network:  &client.ClusterNetwork{ClusterCIDR: "10.42.0.0/16", ServiceCIDR: "10.43.0.0/16", ClusterDNS: "10.43.0.10", Overlay: "vxlan"}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln, pki.ServerTLSConfig()); close(done) }()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pki.CAPEM())
	ts := &testServer{
		url:   "https://" + ln.Addr().String(),
		token: token,
		http: &http.Client{Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool},
			MaxIdleConnsPerHost: 64,
			ForceAttemptHTTP2:   true,
		}},
		store: st, caPEM: pki.CAPEM(), cancel: cancel,
	}
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return ts
}

type answer struct {
	code int
	body []byte
}

func (a answer) status(t *testing.T) api.Status {
	t.Helper()
	var st api.Status
	if err := json.Unmarshal(a.body, &st); err != nil {
		t.Fatalf("answer %d is not a Status: %s", a.code, a.body)
	}
	return st
}

func (ts *testServer) do(t testing.TB, method, path, body string, hdr ...string) answer {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, ts.url+path, r)
	req.Header.Set("Authorization", "Bearer "+ts.token)
	if method == http.MethodPatch {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := ts.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, b}
}

const podJSON = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"labels":{"app":"web"}},
 "spec":{"nodeName":%q,"containers":[{"name":"c","image":"busybox"}]}}`

func TestAuthentication(t *testing.T) {
	ts := startServer(t, store.Config{}, 0)
	paths := []string{"/version", "/api/v1/pods", "/api/v1/namespaces/default/pods", "/api/v1/namespaces/default/pods/x",
		"/api/v1/nodes", "/api/v1/nope", "/nope", "/", "/api/v1/namespaces/default/pods?watch=true", "/cluster/v1/network", "/whoami"}
	for _, p := range paths {
		for _, tok := range []string{"", "Bearer wrong", "Bearer " + ts.token + "x", "Basic abc", "Bearer "} {
			got := ts.do(t, http.MethodGet, p, "", "Authorization", tok)
			if got.code != http.StatusUnauthorized {
				t.Errorf("GET %s with %q: %d, want 401", p, tok, got.code)
			} else if st := got.status(t); st.Reason != "Unauthorized" {
				t.Errorf("GET %s with %q: reason %q, want Unauthorized", p, tok, st.Reason)
			}
		}
		post := ts.do(t, http.MethodPost, p, "{}", "Authorization", "")
		if post.code != http.StatusUnauthorized {
			t.Errorf("POST %s without token: %d, want 401", p, post.code)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if got := ts.do(t, http.MethodGet, p, "", "Authorization", ""); got.code != 200 {
			t.Errorf("GET %s without token: %d, want 200", p, got.code)
		}
	}
	if got := ts.do(t, http.MethodGet, "/whoami", ""); got.code != 200 || strings.TrimSpace(string(got.body)) != `{"name":"admin","via":"token"}` {
		t.Errorf("GET /whoami: %d %s", got.code, got.body)
	}
	if got := ts.do(t, http.MethodGet, "/version", ""); got.code != 200 || !bytes.Contains(got.body, []byte("goVersion")) {
		t.Errorf("GET /version: %d %s", got.code, got.body)
	}
}

// TestClusterNetwork: the cluster's network settings, which agents take
// from the server, to anyone authenticated.
func TestClusterNetwork(t *testing.T) {
	ts := startServer(t, store.Config{}, 0)
	got := ts.do(t, http.MethodGet, "/cluster/v1/network", "")
	want := `{"clusterCIDR":"10.42.0.0/16","serviceCIDR":"10.43.0.0/16","clusterDNS":"10.43.0.10","overlay":"vxlan"}`
	if got.code != http.StatusOK || strings.TrimSpace(string(got.body)) != want {
		t.Errorf("GET /cluster/v1/network: %d %s, want 200 %s", got.code, got.body, want)
	}
	if got := ts.do(t, http.MethodPut, "/cluster/v1/network", want); got.code != http.StatusMethodNotAllowed && got.code != http.StatusNotFound {
		t.Errorf("PUT /cluster/v1/network: %d %s, want it refused", got.code, got.body)
	}
}

// TestFailedTokensAreLimited: ten wrong bearer tokens from an address,
// then 429 with Retry-After — the right token too, until the bucket
// refills; client certificates are not counted.
func TestFailedTokensAreLimited(t *testing.T) {
	ts := startServerWith(t, store.Config{}, 0, nil)
	for i := range auth.DefaultFailureBurst {
		if got := ts.do(t, http.MethodGet, "/api/v1/pods", "", "Authorization", "Bearer wrong"); got.code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i, got.code)
		}
	}
	for _, tok := range []string{"Bearer wrong", "Bearer " + ts.token} {
		req, _ := http.NewRequest(http.MethodGet, ts.url+"/api/v1/pods", nil)
		req.Header.Set("Authorization", tok)
		resp, err := ts.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("after %d failures, %q: %d Retry-After %q, want 429 with Retry-After", auth.DefaultFailureBurst, tok[:12], resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if got := ts.do(t, http.MethodGet, "/healthz", "", "Authorization", ""); got.code != http.StatusOK {
		t.Errorf("/healthz while limited: %d", got.code)
	}
}

func TestPlainHTTPIsNotServed(t *testing.T) {
	ts := startServer(t, store.Config{}, 0)
	resp, err := http.Get(strings.Replace(ts.url, "https://", "http://", 1) + "/healthz")
	if err == nil {
		defer resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP /healthz answered 200")
		}
	}
}

func TestCRUD(t *testing.T) {
	ts := startServer(t, store.Config{}, 0)
	created := ts.do(t, http.MethodPost, "/api/v1/namespaces/default/pods", fmt.Sprintf(podJSON, "web", ""))
	if created.code != http.StatusCreated {
		t.Fatalf("create: %d %s", created.code, created.body)
	}
	var p api.Pod
	json.Unmarshal(created.body, &p)
	if p.Namespace != "default" || p.ResourceVersion == "" || p.Spec.RestartPolicy != "Always" {
		t.Errorf("created pod: namespace %q rv %q restartPolicy %q; want default, set, defaulted Always", p.Namespace, p.ResourceVersion, p.Spec.RestartPolicy)
	}
	if got := ts.do(t, http.MethodPost, "/api/v1/namespaces/default/pods", fmt.Sprintf(podJSON, "web", "")); got.code != 409 || got.status(t).Reason != "AlreadyExists" {
		t.Errorf("create again: %d %s, want 409 AlreadyExists", got.code, got.body)
	}
	if got := ts.do(t, http.MethodGet, "/api/v1/namespaces/default/pods/web", ""); got.code != 200 {
		t.Errorf("get: %d", got.code)
	}

	// Update with the current resourceVersion, then with the stale one.
	p.Labels["v"] = "2"
	body, _ := json.Marshal(p)
	if got := ts.do(t, http.MethodPut, "/api/v1/namespaces/default/pods/web", string(body)); got.code != 200 {
		t.Fatalf("update: %d %s", got.code, got.body)
	}
	p.Labels["v"] = "3"
	body, _ = json.Marshal(p)
	got := ts.do(t, http.MethodPut, "/api/v1/namespaces/default/pods/web", string(body))
	if got.code != http.StatusConflict || got.status(t).Reason != "Conflict" {
		t.Errorf("stale update: %d %s, want 409 Conflict", got.code, got.body)
	}
	if got := ts.do(t, http.MethodPut, "/api/v1/namespaces/default/pods/other", string(body)); got.code != 422 {
		t.Errorf("update with a name not matching the path: %d, want 422", got.code)
	}

	patched := ts.do(t, http.MethodPatch, "/api/v1/namespaces/default/pods/web", `{"metadata":{"labels":{"patched":"yes","app":null}}}`)
	if patched.code != 200 {
		t.Fatalf("patch: %d %s", patched.code, patched.body)
	}
	var pp api.Pod
	json.Unmarshal(patched.body, &pp)
	if pp.Labels["patched"] != "yes" || pp.Labels["v"] != "2" || pp.Labels["app"] != "" {
		t.Errorf("patched labels %v, want patched=yes v=2 and no app", pp.Labels)
	}
	if got := ts.do(t, http.MethodPatch, "/api/v1/namespaces/default/pods/web", `{"spec":{"bogus":1}}`); got.code != 422 {
		t.Errorf("patch adding an unknown field: %d %s, want 422", got.code, got.body)
	}
	if got := ts.do(t, http.MethodPatch, "/api/v1/namespaces/default/pods/web", `{}`, "Content-Type", "text/plain"); got.code != 415 {
		t.Errorf("patch as text/plain: %d, want 415", got.code)
	}

	st := ts.do(t, http.MethodPatch, "/api/v1/namespaces/default/pods/web/status", `{"status":{"phase":"Running"}}`)
	if st.code != 200 || !bytes.Contains(st.body, []byte(`"phase":"Running"`)) {
		t.Errorf("status patch: %d %s", st.code, st.body)
	}

	if got := ts.do(t, http.MethodDelete, "/api/v1/namespaces/default/pods/web", ""); got.code != 200 {
		t.Errorf("delete: %d %s", got.code, got.body)
	}
	got = ts.do(t, http.MethodGet, "/api/v1/namespaces/default/pods/web", "")
	if got.code != 404 || got.status(t).Reason != "NotFound" {
		t.Errorf("get after delete: %d %s, want 404 NotFound", got.code, got.body)
	}
}

func TestBadInput(t *testing.T) {
	ts := startServer(t, store.Config{}, 0)
	got := ts.do(t, http.MethodPost, "/api/v1/namespaces/default/deployments", `{
	  "apiVersion": "apps/v1", "kind": "Deployment",
	  "metadata": {"labels": {"app": "web"}},
	  "spec": {"replicas": -1, "replica": 3,
	    "selector": {"matchLabels": {"app": "web"}},
	    "template": {"metadata": {"labels": {"app": "web"}},
	      "spec": {"containers": [{"name": "c", "image": "busybox", "imagePullPolcy": "Always"}]}}}}`)
	if got.code != 422 {
		t.Fatalf("deployment with unknown fields: %d %s, want 422", got.code, got.body)
	}
	st := got.status(t)
	fields := map[string]bool{}
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			fields[c.Field] = true
		}
	}
	for _, want := range []string{"spec.replica", "spec.template.spec.containers[0].imagePullPolcy"} {
		if !fields[want] {
			t.Errorf("422 causes %v lack %s", st.Details, want)
		}
	}

	got = ts.do(t, http.MethodPost, "/api/v1/namespaces/default/deployments", `{
	  "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {},
	  "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "web"}},
	    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}`)
	st = got.status(t)
	fields = map[string]bool{}
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			fields[c.Field] = true
		}
	}
	if got.code != 422 || !fields["metadata.name"] || !fields["spec.replicas"] {
		t.Errorf("missing name and bad replicas: %d %s; want 422 naming metadata.name and spec.replicas", got.code, got.body)
	}

	for _, tc := range []struct {
		name, method, path, body string
		code                     int
	}{
		{"malformed json", "POST", "/api/v1/namespaces/default/pods", `{"kind":`, 400},
		{"empty body", "POST", "/api/v1/namespaces/default/pods", ``, 400},
		{"wrong kind for path", "POST", "/api/v1/namespaces/default/pods", `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x"}}`, 400},
		{"wrong apiVersion", "POST", "/api/v1/namespaces/default/deployments", `{"kind":"Deployment","apiVersion":"v1","metadata":{"name":"x"}}`, 422},
		{"namespace mismatch", "POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"x","namespace":"other"}}`, 400},
		{"missing namespace", "POST", "/api/v1/namespaces/nope/configmaps", `{"metadata":{"name":"x"}}`, 404},
		{"unknown resource", "GET", "/api/v1/widgets", ``, 404},
		{"cluster kind under a namespace", "GET", "/api/v1/namespaces/default/nodes", ``, 404},
		{"namespaced object without namespace", "GET", "/api/v1/pods/x", ``, 404},
		{"unknown subresource", "GET", "/api/v1/namespaces/default/pods/x/scale", ``, 404},
		{"bad label selector", "GET", "/api/v1/pods?labelSelector=a%20in%20(", ``, 400},
		{"unsupported field selector", "GET", "/api/v1/pods?fieldSelector=spec.image%3Dx", ``, 400},
		{"bad limit", "GET", "/api/v1/pods?limit=-3", ``, 400},
		{"bad continue", "GET", "/api/v1/pods?limit=1&continue=zzz", ``, 400},
		{"bad watch revision", "GET", "/api/v1/pods?watch=true&resourceVersion=abc", ``, 400},
		{"delete default namespace", "DELETE", "/api/v1/namespaces/default", ``, 403},
		{"method not allowed", "POST", "/api/v1/namespaces/default/pods/x", `{}`, 405},
	} {
		got := ts.do(t, tc.method, tc.path, tc.body)
		if got.code != tc.code {
			t.Errorf("%s: %s %s → %d %s, want %d", tc.name, tc.method, tc.path, got.code, got.body, tc.code)
			continue
		}
		if st := got.status(t); st.Kind != "Status" || st.Message == "" {
			t.Errorf("%s: answer is not a Status with a message: %s", tc.name, got.body)
		}
	}

	big := `{"metadata":{"name":"big"},"data":{"k":"` + strings.Repeat("x", 4<<20) + `"}}`
	if got := ts.do(t, http.MethodPost, "/api/v1/namespaces/default/configmaps", big); got.code != 413 {
		t.Errorf("4 MiB body: %d, want 413", got.code)
	}
	// Nothing above was stored.
	if got := ts.do(t, http.MethodGet, "/api/v1/deployments", ""); !bytes.Contains(got.body, []byte(`"items":[]`)) {
		t.Errorf("bad input left objects behind: %s", got.body)
	}
}

func TestNamespaceDeletion(t *testing.T) {
	ts := startServer(t, store.Config{}, 0)
	ts.do(t, http.MethodPost, "/api/v1/namespaces", `{"metadata":{"name":"team"}}`)
	ts.do(t, http.MethodPost, "/api/v1/namespaces/team/configmaps", `{"metadata":{"name":"c"}}`)
	// A namespace that holds objects turns Terminating; the garbage
	// collector (not running here) empties it and removes the finalizer.
	got := ts.do(t, http.MethodDelete, "/api/v1/namespaces/team", "")
	if got.code != 200 || !bytes.Contains(got.body, []byte(`"phase":"Terminating"`)) || !bytes.Contains(got.body, []byte(`"finalizers":["skiff.dev/namespace"]`)) {
		t.Errorf("delete namespace: %d %s, want 200, Terminating, finalizer skiff.dev/namespace", got.code, got.body)
	}
	if got := ts.do(t, http.MethodPost, "/api/v1/namespaces/team/configmaps", `{"metadata":{"name":"d"}}`); got.code != 403 {
		t.Errorf("create in a terminating namespace: %d %s, want 403", got.code, got.body)
	}
	if got := ts.do(t, http.MethodDelete, "/api/v1/namespaces/team/configmaps/c?propagationPolicy=Sideways", ""); got.code != 422 || !bytes.Contains(got.body, []byte(`"field":"propagationPolicy"`)) {
		t.Errorf("unknown propagationPolicy: %d %s, want 422 naming the field", got.code, got.body)
	}
	if got := ts.do(t, http.MethodDelete, "/api/v1/namespaces/team/configmaps/c?propagationPolicy=Orphan", ""); got.code != 200 || !bytes.Contains(got.body, []byte(`"finalizers":["orphan"]`)) {
		t.Errorf("orphan delete: %d %s, want 200 with finalizer orphan", got.code, got.body)
	}
}

func TestListSelectorsAndPaging(t *testing.T) {
	ts := startServer(t, store.Config{}, 0)
	for i := 0; i < 7; i++ {
		ts.do(t, http.MethodPost, "/api/v1/namespaces/default/pods", fmt.Sprintf(podJSON, fmt.Sprintf("p%d", i), fmt.Sprintf("n%d", i%2)))
	}
	var list api.List[api.Pod]
	got := ts.do(t, http.MethodGet, "/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3Dn1", "")
	json.Unmarshal(got.body, &list)
	if len(list.Items) != 3 || list.Kind != "PodList" || list.ListMeta.ResourceVersion == "" {
		t.Errorf("field-selected list: %d items kind %q rv %q; want 3, PodList, set", len(list.Items), list.Kind, list.ListMeta.ResourceVersion)
	}
	var names []string
	cont := ""
	for pages := 0; pages < 10; pages++ {
		got := ts.do(t, http.MethodGet, "/api/v1/pods?labelSelector=app%3Dweb&limit=3&continue="+cont, "")
		var page api.List[api.Pod]
		json.Unmarshal(got.body, &page)
		for _, p := range page.Items {
			names = append(names, p.Name)
		}
		if cont = page.ListMeta.Continue; cont == "" {
			break
		}
	}
	if strings.Join(names, ",") != "p0,p1,p2,p3,p4,p5,p6" {
		t.Errorf("paged names %v", names)
	}
}

// watchStream opens a watch and returns a function reading the next event.
func (ts *testServer) watchStream(t *testing.T, query string) (func() (string, api.Pod, api.Status), func(), int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+"/api/v1/namespaces/default/pods?watch=true&"+query, nil)
	req.Header.Set("Authorization", "Bearer "+ts.token)
	resp, err := ts.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		cancel()
		return nil, func() {}, resp.StatusCode
	}
	lines := make(chan []byte, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
		close(lines)
	}()
	next := func() (string, api.Pod, api.Status) {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				return "", api.Pod{}, api.Status{}
			}
			var ev struct {
				Type   string          `json:"type"`
				Object json.RawMessage `json:"object"`
			}
			json.Unmarshal(l, &ev)
			var p api.Pod
			var st api.Status
			json.Unmarshal(ev.Object, &p)
			json.Unmarshal(ev.Object, &st)
			return ev.Type, p, st
		case <-time.After(5 * time.Second):
			t.Fatal("no watch event within 5s")
		}
		return "", api.Pod{}, api.Status{}
	}
	return next, func() { cancel(); resp.Body.Close() }, 200
}

func TestWatchOverHTTPS(t *testing.T) {
	ts := startServer(t, store.Config{HistorySize: 50}, 100*time.Millisecond)
	next, stop, _ := ts.watchStream(t, "")
	defer stop()
	ts.do(t, http.MethodPost, "/api/v1/namespaces/default/pods", fmt.Sprintf(podJSON, "a", ""))
	ts.do(t, http.MethodPatch, "/api/v1/namespaces/default/pods/a", `{"metadata":{"labels":{"x":"y"}}}`)
	ts.do(t, http.MethodDelete, "/api/v1/namespaces/default/pods/a", "")
	var revs []string
	for _, want := range []string{"ADDED", "MODIFIED", "DELETED"} {
		typ, p, _ := next()
		if typ != want || p.Name != "a" {
			t.Errorf("event %s %q, want %s a", typ, p.Name, want)
		}
		revs = append(revs, p.ResourceVersion)
	}
	if typ, p, _ := next(); typ != "BOOKMARK" || p.ResourceVersion != revs[2] {
		t.Errorf("idle watch: %s rv %s, want BOOKMARK at %s", typ, p.ResourceVersion, revs[2])
	}

	// Resume from the ADDED revision: exactly MODIFIED then DELETED.
	resume, stop2, _ := ts.watchStream(t, "resourceVersion="+revs[0])
	defer stop2()
	for i, want := range []string{"MODIFIED", "DELETED"} {
		if typ, p, _ := resume(); typ != want || p.ResourceVersion != revs[i+1] {
			t.Errorf("resumed event %s rv %s, want %s %s", typ, p.ResourceVersion, want, revs[i+1])
		}
	}

	for i := 0; i < 60; i++ {
		ts.do(t, http.MethodPost, "/api/v1/namespaces/default/configmaps", fmt.Sprintf(`{"metadata":{"name":"c%d"}}`, i))
	}
	if _, _, code := ts.watchStream(t, "resourceVersion=1"); code != http.StatusGone {
		t.Errorf("watch from a compacted revision: %d, want 410", code)
	}
}
