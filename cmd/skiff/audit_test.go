package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/audit"
)

func TestPrintAudit(t *testing.T) {
	entries := []audit.Entry{
		{Time: now.Add(-time.Hour), User: "alice", Via: "session", Address: "192.168.1.20", Method: "POST",
			Path: "/auth/v1/login", Code: 200, Allowed: true, Reason: "signed in"},
		{Time: now.Add(-30 * time.Minute), User: "alice", Address: "192.168.1.20", Method: "PUT",
			Path: "/api/v1/namespaces/shop/deployments/web", Verb: "update", Resource: "deployments",
			Namespace: "shop", Name: "web", Code: 200, Allowed: true},
		{Time: now.Add(-time.Minute), User: "bob", Groups: []string{"viewers"}, Address: "10.0.0.7", Method: "DELETE",
			Path: "/api/v1/namespaces/shop/secrets/db", Verb: "delete", Resource: "secrets", Namespace: "shop", Name: "db",
			Code: 403, Reason: `viewer may not delete secrets in namespace "shop"`},
		{Time: now.Add(-time.Second), Address: "203.0.113.9", Method: "GET", Path: "/api/v1/nodes", Verb: "list",
			Resource: "nodes", Code: 401, Reason: "not authenticated"},
		{Time: now, User: "mallory\x1b[2J\tevil", Address: "203.0.113.9", Method: "GET", Path: "/api/v1/pods",
			Verb: "list", Resource: "pods", Code: 403, Reason: "line\nbreak"},
		{Time: now, User: audit.DroppedUser, Reason: "dropped 3 entries: the audit queue was full"},
	}
	var b bytes.Buffer
	printAudit(&b, entries, time.UTC)
	if strings.Contains(b.String(), "\x1b") {
		t.Error("a control character in a user name reached the terminal")
	}
	golden(t, "audit-table", b.Bytes())
}

func TestAuditCommandRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "yesterday"}, `skiff audit: since "yesterday": want an RFC 3339 time`},
		{[]string{"--limit", "0"}, `limit "0": want a number of entries from 1 to 10000`},
		{[]string{"-o", "yaml"}, `-o "yaml": want table or json`},
	} {
		var out, errOut bytes.Buffer
		cmd := newRootCommand(strings.NewReader(""), &out, &errOut)
		cmd.SetArgs(append([]string{"audit", "--config", "/nonexistent"}, tc.args...))
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("skiff audit %v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}
