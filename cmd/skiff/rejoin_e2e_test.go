package main

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

// TestNodeRejoin: a machine that knows a node's name and holds a valid
// join token, but not the node's identity (here: the node itself, wiped),
// is refused with a message saying what to do; a token made for that
// node gives the wiped machine its name (and pod subnet) back, once; a
// revoked token joins nothing.
func TestNodeRejoin(t *testing.T) {
	srv, ag, token := newJoinPair(t, 33, 34)
	ag.srv = ag.startAgent(srv.srv.url, token)
	t.Cleanup(ag.cleanup)
	ag.waitNodeReady()
	ctx := context.Background()
	nodes := client.For[*api.Node](srv.client, "")
	before, err := nodes.Get(ctx, ag.name)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"SKIFF_CONFIG=" + srv.srv.config}
	if who := runSkiff(t, env, "", "whoami").must(t, "whoami").out; !strings.Contains(who, "admin (groups: "+auth.GroupAdmins+"; by token)") {
		t.Errorf("skiff whoami: %q", who)
	}

	// Wiped: no credentials left. The server's own token is not enough
	// to be this node again.
	ag.srv.stop()
	if err := os.RemoveAll(filepath.Join(ag.dataDir, "agent")); err != nil {
		t.Fatal(err)
	}
	ag.srv = ag.startAgent(srv.srv.url, token)
	select {
	case <-ag.srv.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("an agent without the node's identity was not refused in 30 s; log:\n%s", tail(ag.srv.log.String(), 20))
	}
	if log := ag.srv.log.String(); !strings.Contains(log, "does not hold its identity") || !strings.Contains(log, "join-token create --node "+ag.name) {
		t.Errorf("the refusal does not say what to do:\n%s", tail(log, 10))
	}

	// A token for this node: the machine joins under its name again.
	tok := strings.TrimSpace(runSkiff(t, env, "", "join-token", "create", "--node", ag.name, "--ttl", "10m", "--description", "reinstall").must(t, "join-token create").out)
	if _, err := auth.ParseJoinToken(tok); err != nil {
		t.Fatalf("join-token create printed %q: %v", tok, err)
	}
	list := runSkiff(t, env, "", "join-token", "list").must(t, "join-token list").out
	if !strings.Contains(list, ag.name) || !strings.Contains(list, "reinstall") || !strings.Contains(list, auth.DefaultJoinTokenID) {
		t.Errorf("join-token list:\n%s", list)
	}
	if strings.Contains(list, strings.SplitN(tok, ".", 2)[1]) {
		t.Error("join-token list shows a token's secret")
	}
	ag.srv = ag.startAgent(srv.srv.url, tok)
	ag.eventually(30*time.Second, "the wiped machine joined with the token for its node", func() (bool, string) {
		_, err := os.Stat(filepath.Join(ag.dataDir, agentCredentials))
		return err == nil, tail(ag.srv.log.String(), 5)
	})
	ag.waitNodeReady()
	after, err := nodes.Get(ctx, ag.name)
	if err != nil {
		t.Fatal(err)
	}
	saved, err := client.LoadConfig(filepath.Join(ag.dataDir, agentCredentials))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair([]byte(saved.ClientCertificate), []byte(saved.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := client.For[*api.Secret](srv.client, auth.JoinTokenNamespace).Get(ctx, "node-cert-"+ag.name)
	if err != nil || string(rec.Data["serial"]) != pair.Leaf.SerialNumber.Text(16) {
		t.Errorf("the recorded certificate of %s is %v (%v), the machine holds %s: a superseded one would count", ag.name, rec, err, pair.Leaf.SerialNumber.Text(16))
	}
	if after.UID != before.UID || after.Spec.PodCIDR != before.Spec.PodCIDR {
		t.Errorf("the reinstalled node came back as another: uid %s → %s, pods %s → %s", before.UID, after.UID, before.Spec.PodCIDR, after.Spec.PodCIDR)
	}
	if list := runSkiff(t, env, "", "join-token", "list").out; strings.Contains(list, "reinstall") {
		t.Errorf("a spent reinstall token is still listed:\n%s", list)
	}

	// A revoked token joins nothing.
	tok = strings.TrimSpace(runSkiff(t, env, "", "join-token", "create", "--ttl", "1h").must(t, "join-token create").out)
	jt, _ := auth.ParseJoinToken(tok)
	id, _, _ := strings.Cut(jt.Secret, ".")
	runSkiff(t, env, "", "join-token", "revoke", id).must(t, "join-token revoke")
	if _, err := client.Join(ctx, srv.srv.url, jt, client.JoinNode{Name: "newcomer"}); !errdefs.IsUnauthorized(err) {
		t.Errorf("joining with a revoked token: %v, want Unauthorized", err)
	}
	if r := runSkiff(t, env, "", "join-token", "revoke", "default"); r.code == 0 || !strings.Contains(r.out+r.err, auth.NodeTokenFile) {
		t.Errorf("revoking the default token: exit %d %s%s, want an error naming %s", r.code, r.out, r.err, auth.NodeTokenFile)
	}
}
