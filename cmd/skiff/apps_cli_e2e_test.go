package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// talkDockerfile says when it starts and logs each request (httpd -v).
const talkDockerfile = `FROM skiff.test/busybox:latest
RUN mkdir -p /www && echo hi > /www/index.html
CMD ["sh", "-c", "echo \"talk up on $PORT\"; exec httpd -f -v -p $PORT -h /www"]
`

// TestAppsLogsAndRunE2E pushes an app to a server with its embedded node
// and checks the app CLI around it: skiff logs -a prints every pod's log
// with its prefix and, with -f, picks up the pods of a new release;
// skiff run runs a one-off command in the release's image with its config
// vars, exits with its exit code and leaves no pod behind.
func TestAppsLogsAndRunE2E(t *testing.T) {
	n := newTestNode(t, 37)
	n.serverArgs = []string{"--apps-domain", "apps.test"}
	n.start()
	t.Cleanup(func() { destroyApps(t, n, "talk") })
	cfg, err := client.LoadConfig(n.srv.config)
	if err != nil {
		t.Fatal(err)
	}
	caFile := writeFile(t, t.TempDir(), "ca.pem", cfg.CA)
	remote := "https://git:" + cfg.Token + "@" + strings.TrimPrefix(cfg.Server, "https://") + "/git/talk.git"
	env := []string{"SKIFF_CONFIG=" + n.srv.config}

	repo := newAppRepo(t, caFile)
	repo.commit(map[string]string{"Dockerfile": talkDockerfile})
	if out := repo.git("push", remote, "main"); !strings.Contains(out, "is live") {
		t.Fatalf("push:\n%s", out)
	}
	prefix := regexp.MustCompile(`(?m)^(talk-web-[a-z0-9-]+)\[web\]: talk up on 5000$`)
	var webPod string
	n.eventually(30*time.Second, "skiff logs -a talk shows the web pod's start", func() (bool, string) {
		r := runSkiff(t, env, "", "logs", "-a", "talk")
		m := prefix.FindStringSubmatch(r.out)
		if m == nil {
			return false, fmt.Sprintf("exit %d: %q %q", r.code, r.out, r.err)
		}
		webPod = m[1]
		return true, ""
	})
	if r := runSkiff(t, env, "", "logs", "-a", "talk", "-p", "worker"); r.code == 0 || !strings.Contains(r.err, "no worker pods") {
		t.Errorf("skiff logs -a talk -p worker: exit %d %q %q", r.code, r.out, r.err)
	}

	// Follow, then make a new release: its pod's log shows up too.
	follow := exec.Command(skiffBin, "logs", "-a", "talk", "-p", "web", "-f", "--tail", "1")
	follow.Env = append(os.Environ(), env...)
	var fout lockedBuffer
	follow.Stdout, follow.Stderr = &fout, &fout
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { follow.Process.Kill(); follow.Wait() }()
	runSkiff(t, env, "", "config", "set", "-a", "talk", "GREETING=hello from config").must(t, "config set")
	n.eventually(60*time.Second, "skiff logs -f shows the new release's pod", func() (bool, string) {
		for _, m := range prefix.FindAllStringSubmatch(fout.String(), -1) {
			if m[1] != webPod {
				return true, ""
			}
		}
		return false, fout.String()
	})

	// The listings: the app, its two releases (newest first), its build.
	for _, tc := range []struct {
		args []string
		want *regexp.Regexp
	}{
		{[]string{"apps", "list"}, regexp.MustCompile(`(?m)^talk\s`)},
		{[]string{"releases", "talk"}, regexp.MustCompile(`(?s)talk-v2\s.*talk-v1\s`)},
		{[]string{"builds", "list", "talk"}, regexp.MustCompile(`(?m)^talk-\S+\s+talk\s+[0-9a-f]{7}\s+Succeeded\s`)},
	} {
		if r := runSkiff(t, env, "", tc.args...); r.code != 0 || !tc.want.MatchString(r.out) {
			t.Errorf("skiff %s: %d, want a match of %s:\n%s%s", strings.Join(tc.args, " "), r.code, tc.want, r.out, r.err)
		}
	}

	// A one-off process: the release's config, its exit code, no pod left.
	start := time.Now()
	r := runSkiff(t, env, "", "run", "talk", "--", "sh", "-c", `echo "$GREETING on $PORT"; exit 3`)
	t.Logf("skiff run: %s", time.Since(start).Round(time.Millisecond))
	if r.code != 3 || r.out != "hello from config on 5000\n" {
		t.Errorf("skiff run talk -- sh -c ...: exit %d, stdout %q, stderr %q; want 3 and the config var", r.code, r.out, r.err)
	}
	if !strings.Contains(r.err, "Running sh -c") || !strings.Contains(r.err, "talk-run-") {
		t.Errorf("skiff run's stderr %q: want it to name the pod", r.err)
	}
	if r := runSkiff(t, env, "", "run", "-a", "talk", "--", "true"); r.code != 0 || r.out != "" {
		t.Errorf("skiff run -a talk -- true: exit %d %q %q", r.code, r.out, r.err)
	}
	n.eventually(30*time.Second, "the one-off pods are gone", func() (bool, string) {
		pods, _, _, err := n.pods().List(context.Background(), api.ListOptions{LabelSelector: api.LabelProcess + "=run"})
		if err != nil {
			return false, err.Error()
		}
		return len(pods) == 0, fmt.Sprintf("%d left", len(pods))
	})
	if r := runSkiff(t, env, "", "run", "nope", "--", "true"); r.code != 1 || !strings.Contains(r.err, "nope") {
		t.Errorf("skiff run nope: exit %d %q", r.code, r.err)
	}
}
