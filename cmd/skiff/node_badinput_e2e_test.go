package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/skiffhq/skiff/scripts/testimages"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// The private registry's one account. The htpasswd line is bcrypt (cost
// 5) of regPassword, made once with
//
//	perl -e 'print crypt("skiff-e2e-password", "\$2y\$05\$c2tpZmZlMmVzYWx0c2tpZm")'
//
// so the test needs neither golang.org/x/crypto nor htpasswd(1).
const (
	regUser     = "skiff"
	regPassword = "skiff-e2e-password"
	regHtpasswd = regUser + ":$2y$05$c2tpZmZlMmVzYWx0c2tpZeBD37vfk9f9MGRLwcoaHW1LTMh6aL91i\n"
	// regPort is the registry's port in the node's namespace, which is
	// the test's own and fresh: nothing else listens there.
	regPort = "5000"
)

// regClient is the test's own HTTP client to the registry.
var regClient = &http.Client{Timeout: 10 * time.Second}

// TestNodeBadInputAndPrivateRegistry: a probe naming a port the
// container does not declare, and a memory limit below what a container
// needs to start, each end in a clear reason and an Event, and the agent
// goes on starting pods; an image in a registry that wants a password
// fails to pull without one (ErrImagePull, then ImagePullBackOff, saying
// why) and runs with an imagePullSecret.
func TestNodeBadInputAndPrivateRegistry(t *testing.T) {
	n := newTestNode(t, 4)
	n.start()
	n.startAuthRegistry()
	n.pushPrivateImage("skiff/private", "1")
	private := "127.0.0.1:" + regPort + "/skiff/private:1"

	// Probes on port names the container does not have ("http" is the
	// one it has).
	web := func(kind string) api.Container {
		c := container("web", "httpd")
		c.Ports = []api.ContainerPort{{Name: "http", ContainerPort: 8080}}
		p := &api.Probe{PeriodSeconds: 1, FailureThreshold: 1}
		if kind == "readiness" {
			p.HTTPGet = &api.HTTPGetAction{Path: "/", Port: api.FromString("htpp")}
			c.ReadinessProbe = p
		} else {
			// httpd as PID 1 ignores SIGTERM: a short grace keeps the
			// restarts quick.
			one := int64(1)
			p.TCPSocket = &api.TCPSocketAction{Port: api.FromString("metrics")}
			p.TerminationGracePeriodSeconds = &one
			c.LivenessProbe = p
		}
		return c
	}
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "badready"}, Spec: api.PodSpec{Containers: []api.Container{web("readiness")}}})
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "badlive"}, Spec: api.PodSpec{Containers: []api.Container{web("liveness")}}})
	// runc's own init charges about 2 MiB to the container's cgroup
	// before the limit is set: 512 KiB cannot be met.
	tiny := container("c", "busybox", "sleep", "3600")
	tiny.Resources.Limits = api.ResourceList{api.ResourceMemory: mustQuantity(t, "512Ki")}
	tinyPod := n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "tinymem"}, Spec: api.PodSpec{Containers: []api.Container{tiny}}})
	pull := api.Container{Name: "c", Image: private, ImagePullPolicy: api.PullAlways,
		Command: []string{"sh", "-c", "echo marker=$FROM_PRIVATE_REGISTRY; exec sleep 3600"}}
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "noauth"}, Spec: api.PodSpec{Containers: []api.Container{pull}}})

	t.Run("memory limit below what starting needs", func(t *testing.T) {
		n := n.withT(t)
		p := n.waitPod("tinymem", 30*time.Second, "waiting on its start error", func(p *api.Pod) bool {
			if len(p.Status.ContainerStatuses) != 1 {
				return false
			}
			w := p.Status.ContainerStatuses[0].State.Waiting
			return w != nil && (w.Reason == "RunContainerError" && strings.Contains(w.Message, "memory limit") || w.Reason == "CrashLoopBackOff")
		})
		if p.Status.Phase != api.PodPending {
			t.Errorf("phase %s, want Pending", p.Status.Phase)
		}
		n.waitEvent("tinymem", "memory limit")
		// A container that cannot start is retried with back-off, as
		// one that crashes: in the 10 s after the first failure, one
		// more attempt at most. Each attempt logs its error, with the
		// pod's UID. (This subtest runs first, while the first failure
		// is fresh.)
		attempts := func() int {
			c := 0
			for _, l := range strings.Split(n.srv.log.String(), "\n") {
				if strings.Contains(l, tinyPod.UID) && strings.Contains(l, "memory limit") {
					c++
				}
			}
			return c
		}
		before := attempts()
		time.Sleep(10 * time.Second)
		if got := attempts() - before; got > 2 {
			t.Errorf("%d start attempts in 10 s, want at most 2: the start is retried without back-off; now: %s", got, statusLine(n.get("tinymem")))
		}
	})
	t.Run("readiness probe on an undeclared port", func(t *testing.T) {
		n := n.withT(t)
		n.waitPod("badready", 30*time.Second, "Running", func(p *api.Pod) bool {
			return p.Status.Phase == api.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
		})
		n.waitEvent("badready", `"htpp"`)
		p := n.get("badready")
		if cs := p.Status.ContainerStatuses[0]; isReady(p) || cs.Ready || cs.RestartCount != 0 || cs.State.Running == nil {
			t.Errorf("want Running, not Ready, no restart: %s", statusLine(p))
		}
	})
	t.Run("liveness probe on an undeclared port", func(t *testing.T) {
		n := n.withT(t)
		p := n.waitPod("badlive", 30*time.Second, "restarted by its liveness probe", func(p *api.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
		})
		if p.Status.ContainerStatuses[0].LastTerminationState.Terminated == nil {
			t.Errorf("no last state after a liveness restart: %s", statusLine(p))
		}
		n.waitEvent("badlive", "failed liveness probe")
		n.waitEvent("badlive", `"metrics"`)
	})
	t.Run("private image without credentials", func(t *testing.T) {
		n := n.withT(t)
		n.waitEvent("noauth", "authorization failed")
		p := n.waitPod("noauth", 30*time.Second, "in ImagePullBackOff", func(p *api.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
				p.Status.ContainerStatuses[0].State.Waiting.Reason == "ImagePullBackOff"
		})
		if w := p.Status.ContainerStatuses[0].State.Waiting; !strings.Contains(w.Message, "authorization") {
			t.Errorf("ImagePullBackOff message %q does not say why the pull failed (authorization)", w.Message)
		}
		if p.Status.Phase != api.PodPending {
			t.Errorf("phase %s, want Pending", p.Status.Phase)
		}
		// Gone before a pod with the password pulls the image: once the
		// node has a copy, the agent runs it for this pod too when its
		// pull fails (ensureImage's fallback for air-gapped nodes).
		n.deletePod("noauth", nil, 30*time.Second)
	})
	t.Run("private image with an imagePullSecret", func(t *testing.T) {
		n := n.withT(t)
		cfg, err := json.Marshal(map[string]any{"auths": map[string]any{"127.0.0.1:" + regPort: map[string]string{
			"auth": base64.StdEncoding.EncodeToString([]byte(regUser + ":" + regPassword))}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.For[*api.Secret](n.client, "default").Create(context.Background(), &api.Secret{
			ObjectMeta: api.ObjectMeta{Name: "regcred", Namespace: "default"},
			Type:       api.SecretTypeDockerConfigJSON,
			Data:       map[string][]byte{api.DockerConfigJSONKey: cfg},
		}); err != nil {
			t.Fatal(err)
		}
		n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "withauth"}, Spec: api.PodSpec{
			ImagePullSecrets: []api.LocalObjectReference{{Name: "regcred"}},
			Containers:       []api.Container{pull},
		}})
		p := n.waitPod("withauth", 30*time.Second, "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
		n.waitEvent("withauth", "Successfully pulled image")
		// The image's config came from the registry.
		if out := n.logFile(p, "c", 0); !strings.Contains(out, "marker=1") {
			t.Errorf("log %q: want marker=1 from the pushed image's environment", out)
		}
	})
	t.Run("agent still starts pods", func(t *testing.T) {
		n := n.withT(t)
		n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "after"}, Spec: api.PodSpec{Containers: []api.Container{container("c", "busybox", "sleep", "3600")}}})
		n.waitPod("after", 30*time.Second, "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
		select {
		case <-n.srv.exited:
			t.Fatalf("server exited: %v", n.srv.cmd.ProcessState)
		default:
		}
	})
}

// withT is n, failing through t: a subtest's failures end the subtest,
// not its parent.
func (n *testNode) withT(t *testing.T) *testNode {
	c := *n
	c.t = t
	return &c
}

// startAuthRegistry runs Debian's docker-registry in the node's network
// namespace on regPort, with htpasswd authentication, until the test
// ends. The agent reaches it on the node's loopback, 127.0.0.1, which
// the runtime pulls from over plain HTTP; the test reaches it on the
// node's address.
func (n *testNode) startAuthRegistry() {
	t := n.t
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatal("docker-registry not found: scripts/install-deps.sh installs it (Debian package docker-registry)")
	}
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(regHtpasswd), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: 0.0.0.0:%s
  secret: skiff-e2e
auth:
  htpasswd:
    realm: skiff-e2e
    path: %s
`, filepath.Join(dir, "data"), regPort, htpasswd)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// nsenter with --net only execs the registry in the namespace: the
	// PID it gets is the registry's.
	cmd := exec.Command("nsenter", "--net=/run/netns/"+n.netns, "--", bin, "serve", cfgPath)
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("registry log:\n%s", tail(log.String(), 40))
		}
	})
	base := "http://" + n.nodeIP + ":" + regPort + "/v2/"
	n.eventually(20*time.Second, "registry answers at "+base, func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("registry exited: %v; log:\n%s", cmd.ProcessState, log)
		default:
		}
		resp, err := regClient.Get(base)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		// Without credentials it must refuse: the auth is on.
		return resp.StatusCode == http.StatusUnauthorized, resp.Status
	})
}

// pushPrivateImage pushes a test image of its own (a busybox whose
// config sets FROM_PRIVATE_REGISTRY=1) to the node's registry as
// repo:tag, with the registry's password, over the distribution API.
func (n *testNode) pushPrivateImage(repo, tag string) {
	t := n.t
	t.Helper()
	var buf bytes.Buffer
	if err := testimages.Write(&buf, testimages.Spec{Name: "private", Cmd: []string{"sh"}, Env: []string{"FROM_PRIVATE_REGISTRY=1"}}); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
	blob := func(d ocispec.Descriptor) []byte {
		b, ok := files[ocispec.ImageBlobsDir+"/"+d.Digest.Algorithm().String()+"/"+d.Digest.Encoded()]
		if !ok {
			t.Fatalf("test image has no blob %s", d.Digest)
		}
		return b
	}
	var index ocispec.Index
	if err := json.Unmarshal(files[ocispec.ImageIndexFile], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("test image index: %v (%d manifests)", err, len(index.Manifests))
	}
	mdesc := index.Manifests[0]
	var man ocispec.Manifest
	if err := json.Unmarshal(blob(mdesc), &man); err != nil {
		t.Fatal(err)
	}
	base := "http://" + n.nodeIP + ":" + regPort + "/v2/" + repo
	do := func(method, u, ctype string, body []byte, want int) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(regUser, regPassword)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := regClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, u, err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %s, want %d: %s", method, u, resp.Status, want, msg)
		}
		return resp
	}
	for _, d := range append([]ocispec.Descriptor{man.Config}, man.Layers...) {
		resp := do(http.MethodPost, base+"/blobs/uploads/", "", nil, http.StatusAccepted)
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("blob upload: %v", err)
		}
		q := loc.Query()
		q.Set("digest", d.Digest.String())
		loc.RawQuery = q.Encode()
		do(http.MethodPut, loc.String(), "application/octet-stream", blob(d), http.StatusCreated)
	}
	do(http.MethodPut, base+"/manifests/"+url.PathEscape(tag), mdesc.MediaType, blob(mdesc), http.StatusCreated)
}
