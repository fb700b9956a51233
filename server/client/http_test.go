package client_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

func TestHTTPClient(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg, st := newRegistry(t, dir, 8)
	defer st.Close()
	cfg, stop := serve(t, reg, dir, "127.0.0.1:0")
	defer stop()

	// Another CA: the server's certificate must not be accepted.
	other, err := auth.EnsurePKI(filepath.Join(t.TempDir(), "pki"), auth.PKIConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := cfg
	bad.CA = string(other.CAPEM())
	b, _ := client.New(bad)
	if _, err := b.Get(ctx, "namespaces", "", "default"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("server checked against another CA: err %v, want a certificate error", err)
	}

	wrong := cfg
	wrong.Token = "skiff_nope"
	b, _ = client.New(wrong)
	if _, err := b.Get(ctx, "namespaces", "", "default"); !errdefs.IsUnauthorized(err) {
		t.Errorf("wrong token: %v, want unauthorized", err)
	}

	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Version(ctx)
	if err != nil || v["goVersion"] == "" {
		t.Errorf("Version: %v %v", v, err)
	}
	_, err = c.Create(ctx, "pods", "default", &api.Pod{ObjectMeta: api.ObjectMeta{Name: "Bad_Name"}, Spec: api.PodSpec{Containers: []api.Container{{Name: "c"}}}})
	var fes api.FieldErrors
	if !errdefs.IsInvalid(err) || !errors.As(err, &fes) {
		t.Fatalf("invalid pod: %v, want class invalid with field errors", err)
	}
	fields := map[string]bool{}
	for _, fe := range fes {
		fields[fe.Field] = true
		if strings.HasPrefix(fe.Error(), fe.Field+": "+fe.Field) {
			t.Errorf("field named twice: %q", fe.Error())
		}
	}
	if !fields["metadata.name"] || !fields["spec.containers[0].image"] {
		t.Errorf("field errors %v lack metadata.name and spec.containers[0].image", fes)
	}
	if _, err := c.Get(ctx, "pods", "default", "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("missing pod: %v, want not found", err)
	}

	// Watch from a revision the history no longer holds: expired.
	for i := 0; i < 20; i++ {
		c.Create(ctx, "configmaps", "default", &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("c%d", i)}})
	}
	if _, err := c.Watch(ctx, "configmaps", "default", api.ListOptions{ResourceVersion: "1"}); !errdefs.IsExpired(err) {
		t.Errorf("watch from an expired revision: %v, want expired", err)
	}
	l, err := c.List(ctx, "configmaps", "default", api.ListOptions{Limit: 5})
	if err != nil || len(l.Items) != 5 || l.Continue == "" {
		t.Fatalf("paged list: %v %v", l, err)
	}
	w, err := c.Watch(ctx, "configmaps", "default", api.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	c.Delete(ctx, "configmaps", "default", "c0", api.DeleteOptions{})
	for e := range w.ResultChan() {
		if e.Type == api.Bookmark {
			continue
		}
		if e.Type != api.Deleted || e.Object.GetObjectMeta().Name != "c0" {
			t.Errorf("watch event %s %v, want DELETED c0", e.Type, e.Object)
		}
		break
	}
}

func FuzzDecodeWatchEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","resourceVersion":"3"}}}`,
		`{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"9"}}}`,
		`{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"gone"}}`,
		`{"type":"DELETED","object":{"kind":"ConfigMap","metadata":{"name":"c"}}}`,
		`{"type":"WAT"}`, `not json`, `{"type":"ADDED","object":[1,2]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, err := client.DecodeWatchEvent([]byte(line), "pods")
		if err != nil {
			return
		}
		switch e.Type {
		case api.Error:
			if e.Err == nil {
				t.Fatal("ERROR event without an error")
			}
		case api.Added, api.Modified, api.Deleted, api.Bookmark:
			if e.Object == nil {
				t.Fatalf("%s event without an object", e.Type)
			}
		default:
			t.Fatalf("event of type %q accepted", e.Type)
		}
	})
}
