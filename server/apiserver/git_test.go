package apiserver

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/audit"
)

// TestGitRefusals: a push is refused before anything is received, with a
// message for the person; one who may not see the app is not told which
// namespace holds it; a role that grants push alone lets a push in; the
// audit log records the refused push as a push.
func TestGitRefusals(t *testing.T) {
	s := startAccountsServer(t, nil)
	ctx := context.Background()
	if _, err := s.reg.Create(ctx, "apps", "team-b", &api.App{ObjectMeta: api.ObjectMeta{Name: "ship", Namespace: "team-b"}}); err != nil {
		t.Fatal(err)
	}
	pusher := &api.Role{ObjectMeta: api.ObjectMeta{Name: "pusher"}, Rules: []api.PolicyRule{
		{Verbs: []string{"push"}, Resources: []string{"apps"}},
		{Verbs: []string{"get"}, Resources: []string{"pods"}}, // what addUser waits for
	}}
	if _, err := s.reg.Create(ctx, "roles", "", pusher); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{
		"otto": s.addUser(t, "otto", api.RoleDeveloper, "team-a"),
		"val":  s.addUser(t, "val", api.RoleViewer, "team-a", "team-b"),
		"ci":   s.addUser(t, "ci", "pusher", "team-a", "team-b"),
	}
	for _, tc := range []struct {
		user, ns string
		service  string
		code     int
		want     string
	}{
		{"otto", "team-a", "git-receive-pack", http.StatusForbidden, `otto may not push to app "ship": you may not see the apps of its namespace`},
		{"otto", "team-a", "git-upload-pack", http.StatusForbidden, `otto may not fetch from app "ship": you may not see the apps of its namespace`},
		{"val", "team-b", "git-receive-pack", http.StatusForbidden, `val may not push to app "ship": user "val" may not push apps ship in namespace team-b`},
		// Let in: the repository is made (hook "false" here), and git's
		// own answer follows.
		{"ci", "team-b", "git-receive-pack", http.StatusOK, "git-receive-pack"},
	} {
		a := s.do(t, http.MethodGet, "/git/ship.git/info/refs?service="+tc.service, "", "Authorization", basic(tc.user, tokens[tc.user]))
		if a.code != tc.code || !strings.Contains(string(a.body), tc.want) {
			t.Errorf("%s (of %s) %s: %d %q, want %d with %q", tc.user, tc.ns, tc.service, a.code, a.body, tc.code, tc.want)
		}
		if tc.ns != "team-b" && strings.Contains(string(a.body), "team-b") {
			t.Errorf("%s, outside the app's namespace, is told it: %s", tc.user, a.body)
		}
	}
	// otto's refused push is a refused push in the audit log.
	waitFor(t, 5*time.Second, func() bool {
		es, err := s.audit.Query(ctx, audit.Filter{User: "otto", Denied: true})
		return err == nil && slices.ContainsFunc(es, func(e audit.Entry) bool {
			return e.Verb == "push" && e.Resource == "apps" && e.Name == "ship" && e.Code == http.StatusForbidden
		})
	})
}
