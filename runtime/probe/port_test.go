package probe

import (
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

func TestResolvePort(t *testing.T) {
	c := &api.Container{Name: "web", Ports: []api.ContainerPort{{Name: "http", ContainerPort: 8080}, {ContainerPort: 9000}, {Name: "bad", ContainerPort: 0}}}
	tests := []struct {
		port    api.IntOrString
		want    int
		wantErr string
	}{
		{api.FromInt(80), 80, ""},
		{api.FromString("http"), 8080, ""},
		{api.FromString("https"), 0, `port "https": container "web" has no port of that name (named ports: ["http" "bad"])`},
		{api.FromString("bad"), 0, "port bad: 0 is not a port number"},
		{api.FromInt(0), 0, "port 0: 0 is not a port number"},
		{api.FromInt(65536), 0, "not a port number"},
	}
	for _, tt := range tests {
		got, err := resolvePort(tt.port, c)
		if got != tt.want {
			t.Errorf("resolvePort(%s) = %d, want %d", tt.port, got, tt.want)
		}
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("resolvePort(%s) error = %v, want %q", tt.port, err, tt.wantErr)
		}
	}
}
