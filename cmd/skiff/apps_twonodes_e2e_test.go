package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// TestAppsOnAJoinedNode: an app built on the server's node runs on a
// joined node, which fetches the image from the server's /v2/ API with
// its node certificate, and the router on the server's node reaches it
// there. The /v2/ API serves apps' images only, to nodes and to people
// who may get the app.
func TestAppsOnAJoinedNode(t *testing.T) {
	srv, ag, token := newJoinPair(t, 39, 40, "--apps-domain", "apps.test")
	ag.srv = ag.startAgent(srv.srv.url, token)
	t.Cleanup(ag.cleanup)
	ag.waitNodeReady()
	t.Cleanup(func() { destroyApps(t, srv, "ship") })
	ctx := context.Background()

	// The server's node takes no new pods: the app's go to the agent's.
	nodes := client.For[*api.Node](srv.client, "")
	if err := client.RetryOnConflict(ctx, func() error {
		n, err := nodes.Get(ctx, srv.name)
		if err != nil {
			return err
		}
		n.Spec.Unschedulable = true
		_, err = nodes.Update(ctx, n)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	cfg, err := client.LoadConfig(srv.srv.config)
	if err != nil {
		t.Fatal(err)
	}
	caFile := writeFile(t, t.TempDir(), "ca.pem", cfg.CA)
	host := strings.TrimPrefix(cfg.Server, "https://")
	repo := newAppRepo(t, caFile)
	repo.commit(map[string]string{"Dockerfile": appDockerfile, "index.html": "afloat\n"})
	start := time.Now()
	remote := "https://git:" + cfg.Token + "@" + host + "/git/ship.git"
	out := repo.git("push", remote, "main")
	if !strings.Contains(out, "remote: -----> v1 is live") {
		t.Fatalf("push output lacks the release:\n%s", out)
	}
	t.Logf("push to serving on the joined node (image fetched from the server): %s", time.Since(start).Round(time.Millisecond))

	pods, _, _, err := client.For[*api.Pod](srv.client, "default").List(ctx, api.ListOptions{LabelSelector: api.LabelApp + "=ship"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 1 || pods[0].Spec.NodeName != ag.name {
		var where []string
		for _, p := range pods {
			where = append(where, p.Name+" on "+p.Spec.NodeName)
		}
		t.Fatalf("app pods %v, want one on %s", where, ag.name)
	}
	image := pods[0].Spec.Containers[0].Image
	if !strings.HasPrefix(image, api.AppImageRepository+"/ship@sha256:") {
		t.Fatalf("the pod runs %q, want the built image by digest", image)
	}
	if got := ag.ctr("images", "ls", "-q"); !strings.Contains(got, image) {
		t.Errorf("the joined node's containerd lacks %s:\n%s", image, got)
	}

	// The server's router reaches the pod on the other node.
	hc := &http.Client{Timeout: 5 * time.Second}
	serves := func(want string) {
		t.Helper()
		srv.eventually(30*time.Second, "ship answers "+want+" through the router", func() (bool, string) {
			req, _ := http.NewRequest(http.MethodGet, "http://"+net.JoinHostPort(srv.nodeIP, "80")+"/", nil)
			req.Host = "ship.apps.test"
			resp, err := hc.Do(req)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode == 200 && strings.TrimSpace(string(b)) == want, fmt.Sprintf("%d %q", resp.StatusCode, b)
		})
	}
	serves("afloat")

	// A builder node: the agent's, once labelled, builds the next push
	// (natively, through its agent endpoint); the server fetches the
	// image from it and serves it to the nodes.
	env := []string{"SKIFF_CONFIG=" + srv.srv.config}
	runSkiff(t, env, "", "label", "node", ag.name, api.LabelBuilder+"=true").must(t)
	if r := runSkiff(t, env, "", "label", "node", ag.name, api.LabelBuilder+"=false"); r.code == 0 || !strings.Contains(r.err, "--overwrite") {
		t.Errorf("relabel without --overwrite: %d %s%s", r.code, r.out, r.err)
	}
	repo.commit(map[string]string{"index.html": "built on the builder\n"})
	start = time.Now()
	out = repo.git("push", remote, "main")
	for _, want := range []string{"remote: -----> Building on node " + ag.name, "remote: -----> Fetching the image from " + ag.name, "remote: -----> v2 is live"} {
		if !strings.Contains(out, want) {
			t.Errorf("push to a builder node: output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("push built on the builder node to serving: %s", time.Since(start).Round(time.Millisecond))
	serves("built on the builder")
	builds, _, _, err := client.For[*api.Build](srv.client, "default").List(ctx, api.ListOptions{LabelSelector: api.LabelApp + "=ship"})
	if err != nil {
		t.Fatal(err)
	}
	var newest *api.Build
	for _, b := range builds {
		if newest == nil || b.CreationTimestamp.After(newest.CreationTimestamp.Time) || (b.CreationTimestamp.Equal(newest.CreationTimestamp.Time) && b.Name > newest.Name) {
			newest = b
		}
	}
	if newest == nil || newest.Status.Node != ag.name || newest.Status.Phase != api.BuildSucceeded {
		t.Errorf("the newest build: %+v, want one that succeeded on %s", newest, ag.name)
	} else if got := srv.ctr("images", "ls", "-q"); !strings.Contains(got, newest.Status.Image) {
		t.Errorf("the server's containerd lacks %s, built on %s:\n%s", newest.Status.Image, ag.name, got)
	}
	// A bad Dockerfile on the builder: the line, on the pusher's terminal.
	repo.commit(map[string]string{"Dockerfile": "FROM skiff.test/busybox:latest\nVOLUME /data\n"})
	if out, err := repo.run("push", remote, "main"); err == nil || !strings.Contains(out, "line 2") {
		t.Errorf("a bad Dockerfile built on the builder: err %v\n%s", err, out)
	}
	serves("built on the builder")

	// /v2/ to people: the admin reads the manifest; no credentials, an
	// app that does not exist, a repository that is no app's and a write
	// are each refused.
	digest := image[strings.Index(image, "@")+1:]
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(cfg.CA))
	tc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	call := func(method, path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, cfg.Server+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
		resp, err := tc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Docker-Content-Digest") + " " + string(b)
	}
	if code, body := call(http.MethodGet, "/v2/apps/ship/manifests/"+digest, cfg.Token); code != 200 || !strings.HasPrefix(body, digest+" ") {
		t.Errorf("admin GET manifest: %d %.200s", code, body)
	}
	// The image fetched back from the builder is served too (labelled
	// as the app's on the server).
	if newest != nil {
		built := newest.Status.Image[strings.Index(newest.Status.Image, "@")+1:]
		if code, body := call(http.MethodGet, "/v2/apps/ship/manifests/"+built, cfg.Token); code != 200 || !strings.HasPrefix(body, built+" ") {
			t.Errorf("admin GET manifest of the image built on the builder: %d %.200s", code, body)
		}
	}
	if code, _ := call(http.MethodGet, "/v2/apps/ship/manifests/"+digest, ""); code != http.StatusUnauthorized {
		t.Errorf("GET manifest without credentials: %d, want 401", code)
	}
	if code, body := call(http.MethodGet, "/v2/apps/nosuch/manifests/"+digest, cfg.Token); code != http.StatusNotFound {
		t.Errorf("GET manifest of no app: %d %.200s, want 404", code, body)
	}
	if code, body := call(http.MethodGet, "/v2/library/busybox/manifests/latest", cfg.Token); code != http.StatusNotFound {
		t.Errorf("GET a repository that is no app's: %d %.200s, want 404", code, body)
	}
	if code, body := call(http.MethodPut, "/v2/apps/ship/manifests/v9", cfg.Token); code != http.StatusMethodNotAllowed {
		t.Errorf("PUT manifest: %d %.200s, want 405", code, body)
	}
	// A viewer may get the app, so may read its image (who may not is
	// server/apiserver's TestAppImagesForNodes).
	hash, err := caHashOf(cfg.CA)
	if err != nil {
		t.Fatal(err)
	}
	vera := signIn(t, srv, hash, "vera", "viewer")
	veraToken := strings.TrimSpace(runSkiff(t, []string{"SKIFF_CONFIG=" + vera}, "", "token", "create", "pull", "--role", "viewer").must(t).out)
	if code, body := call(http.MethodGet, "/v2/apps/ship/manifests/"+digest, veraToken); code != 200 {
		t.Errorf("a viewer's GET manifest: %d %.200s", code, body)
	}
}
