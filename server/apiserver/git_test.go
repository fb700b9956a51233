package apiserver

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

// TestGitRefusals: a push is refused before anything is received, with a
// message for the person; one who may not see the app is not told which
// namespace holds it.
func TestGitRefusals(t *testing.T) {
	s := startAccountsServer(t, nil)
	if _, err := s.reg.Create(context.Background(), "apps", "team-b", &api.App{ObjectMeta: api.ObjectMeta{Name: "ship", Namespace: "team-b"}}); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{
		"otto": s.addUser(t, "otto", api.RoleDeveloper, "team-a"),
		"val":  s.addUser(t, "val", api.RoleViewer, "team-a", "team-b"),
	}
	for _, tc := range []struct {
		user, ns string
		service  string
		code     int
		want     string
	}{
		{"otto", "team-a", "git-receive-pack", http.StatusForbidden, `otto may not push to app "ship": it belongs to a namespace you have no role in`},
		{"otto", "team-a", "git-upload-pack", http.StatusForbidden, `otto may not fetch from app "ship": it belongs to a namespace you have no role in`},
		{"val", "team-b", "git-receive-pack", http.StatusForbidden, `val may not push to app "ship": user "val" may not push apps ship in namespace team-b`},
	} {
		a := s.do(t, http.MethodGet, "/git/ship.git/info/refs?service="+tc.service, "", "Authorization", basic(tc.user, tokens[tc.user]))
		if a.code != tc.code || !strings.Contains(string(a.body), tc.want) {
			t.Errorf("%s (of %s) %s: %d %q, want %d with %q", tc.user, tc.ns, tc.service, a.code, a.body, tc.code, tc.want)
		}
		if tc.ns != "team-b" && strings.Contains(string(a.body), "team-b") {
			t.Errorf("%s, outside the app's namespace, is told it: %s", tc.user, a.body)
		}
	}
}
