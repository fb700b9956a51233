package probe

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

func TestTCPSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	openPort := ln.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name    string
		port    api.IntOrString
		want    Result
		wantMsg string
	}{
		{"open", api.FromInt(int32(openPort)), Success, ""},
		{"named", api.FromString("http"), Success, ""},
		{"closed", api.FromInt(int32(closedPort)), Failure, "connection refused"},
		{"unknown name", api.FromString("grpc"), Failure, `port "grpc": container "app" has no port of that name (named ports: ["http" "metrics"])`},
	}
	pr := newProber(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &api.Probe{ProbeHandler: api.ProbeHandler{TCPSocket: &api.TCPSocketAction{Port: tt.port}}}
			got, msg := pr.probe(context.Background(), p, httpTarget(openPort))
			if got != tt.want || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("probe = %v %q, want %v containing %q", got, msg, tt.want, tt.wantMsg)
			}
		})
	}
}
