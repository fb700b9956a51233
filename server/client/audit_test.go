package client_test

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/audit"
	"github.com/skiffhq/skiff/server/client"
)

func TestAudit(t *testing.T) {
	l, err := audit.Open(t.TempDir(), audit.Options{FlushEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for i, u := range []string{"alice", "bob", "alice", "bob"} {
		l.Record(audit.Entry{Time: t0.Add(time.Duration(i) * time.Minute), User: u, Address: "10.0.0.9",
			Method: "DELETE", Path: "/api/v1/namespaces/shop/pods/p", Verb: "delete", Resource: "pods",
			Namespace: "shop", Name: "p", Code: 403, Reason: "viewer may not delete pods"})
	}
	var gotQuery string
	mux := http.NewServeMux()
	mux.HandleFunc("/audit/v1/events", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer skiff_test" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		gotQuery = r.URL.RawQuery
		l.ServeHTTP(w, r)
	})
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := client.New(client.Config{Server: srv.URL, CA: string(ca), Token: "skiff_test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	got, err := c.Audit(ctx, audit.Filter{User: "bob", Since: t0, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if gotQuery != "limit=5&since=2026-11-22T12%3A00%3A00Z&user=bob" {
		t.Errorf("query sent: %s", gotQuery)
	}
	if len(got) != 2 || got[0].User != "bob" || !got[1].Time.Equal(t0.Add(3*time.Minute)) || got[1].Reason != "viewer may not delete pods" {
		t.Errorf("Audit = %+v, want bob's two entries, newest last", got)
	}
	// The server's refusal comes back as its class, with its message.
	_, err = c.Audit(ctx, audit.Filter{Limit: audit.MaxLimit + 1})
	if !errors.Is(err, errdefs.ErrBadRequest) || !strings.Contains(err.Error(), `limit "10001"`) {
		t.Errorf("limit over the maximum: %v, want a bad request", err)
	}
}
