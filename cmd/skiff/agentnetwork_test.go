package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/client"
)

// TestAgentNetwork: the agent takes the server's network settings and
// keeps a copy, written only when they change; a server that publishes
// none leaves it host-gw; while the server is down a start uses the
// copy — but not one another server gave.
func TestAgentNetwork(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusOK)
	want := client.ClusterNetwork{ClusterCIDR: "10.42.0.0/16", ServiceCIDR: "10.43.0.0/16", ClusterDNS: "10.43.0.10", Overlay: "vxlan"}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cluster/v1/network" {
			http.NotFound(w, r)
			return
		}
		if code := int(status.Load()); code != http.StatusOK {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			w.Write([]byte(`{"kind":"Status","status":"Failure","reason":"NotFound","code":404}`))
			return
		}
		json.NewEncoder(w).Encode(want)
	}))
	defer srv.Close()
	cfg := client.Config{Server: srv.URL, Token: "t",
		CA: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "agent"), 0o700)
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	got, err := agentNetwork(ctx, c, cfg, dir, log)
	if err != nil || got != want {
		t.Fatalf("from the server: %+v, %v; want %+v", got, err, want)
	}
	path := filepath.Join(dir, agentNetworkFile)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no copy kept: %v", err)
	}
	time.Sleep(10 * time.Millisecond)
	agentNetwork(ctx, c, cfg, dir, log)
	if after, _ := os.Stat(path); !after.ModTime().Equal(before.ModTime()) {
		t.Error("the copy was written again though nothing changed")
	}

	status.Store(http.StatusNotFound)
	if got, err := agentNetwork(ctx, c, cfg, dir, log); err != nil || got.Overlay != "host-gw" || got.ClusterCIDR != "" {
		t.Errorf("a server without the settings: %+v, %v; want host-gw and the agent's own CIDR", got, err)
	}

	// The server down: the copy, if it is this server's.
	srv.Close()
	if got, err := agentNetwork(ctx, c, cfg, dir, log); err != nil || got != want {
		t.Errorf("server down: %+v, %v; want the kept %+v", got, err, want)
	}
	other := cfg
	other.Server = "https://127.0.0.1:1" // nothing listens
	oc, _ := client.New(other)
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	if got, err := agentNetwork(short, oc, other, dir, log); err == nil {
		t.Errorf("another server's agent took this server's copy: %+v", got)
	}
}
