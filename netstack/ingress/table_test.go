package ingress_test

import (
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netstack/ingress"
)

func TestNewTableRefuses(t *testing.T) {
	ok := backends("10.42.0.7:5000")
	tests := []struct {
		name   string
		routes []ingress.Route
		want   string // in the error
	}{
		{"duplicate host", []ingress.Route{{Host: "shop.example.com", App: "a"}, {Host: "Shop.Example.com", App: "b"}},
			`host "shop.example.com" is routed twice, to app "a" and to app "b"`},
		{"duplicate wildcard", []ingress.Route{{Host: "*.apps.example.com", App: "a"}, {Host: "*.apps.example.com.", App: "b"}},
			`host "*.apps.example.com" is routed twice`},
		{"no host", []ingress.Route{{App: "a"}}, "host is required"},
		{"no app", []ingress.Route{{Host: "a.example.com"}}, "app is required"},
		{"port in host", []ingress.Route{{Host: "a.example.com:80", App: "a"}}, "without port"},
		{"inner wildcard", []ingress.Route{{Host: "a.*.example.com", App: "a"}}, "only as the whole leftmost label"},
		{"bare wildcard", []ingress.Route{{Host: "*.com", App: "a"}}, "at least two labels"},
		{"empty label", []ingress.Route{{Host: "a..example.com", App: "a"}}, "empty or over-long label"},
		{"backend without port", []ingress.Route{{Host: "a.example.com", App: "a", Backends: backends("10.42.0.7")}}, "must be host:port"},
		{"backend bad port", []ingress.Route{{Host: "a.example.com", App: "a", Backends: backends("10.42.0.7:0")}}, "want 1-65535"},
		{"backend twice", []ingress.Route{{Host: "a.example.com", App: "a", Backends: append(ok, ok...)}}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ingress.NewTable(tt.routes)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewTable error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestTableLookup(t *testing.T) {
	tbl := mustTable(t,
		ingress.Route{Host: "shop.example.com", App: "shop"},
		ingress.Route{Host: "*.apps.example.com", App: "wild"},
		ingress.Route{Host: "blog.apps.example.com", App: "blog"},
		ingress.Route{Host: "apps.example.com", App: "apex"},
	)
	if got := tbl.Len(); got != 4 {
		t.Errorf("Len = %d, want 4", got)
	}
	tests := []struct {
		host string
		want string // app, "" for no route
	}{
		{"shop.example.com", "shop"},
		{"SHOP.Example.COM", "shop"},
		{"shop.example.com:8080", "shop"},
		{"shop.example.com.", "shop"},
		{"x.apps.example.com", "wild"},
		{"X.Apps.Example.Com:443", "wild"},
		{"blog.apps.example.com", "blog"}, // exact beats wildcard
		{"apps.example.com", "apex"},      // the wildcard does not match its own domain
		{"a.b.apps.example.com", ""},      // nor two labels below it
		{"other.example.com", ""},
		{"", ""},
		{"[::1]:80", ""},
	}
	for _, tt := range tests {
		rt, ok := tbl.Lookup(tt.host)
		if got := rt.App; got != tt.want || ok != (tt.want != "") {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tt.host, got, ok, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  ingress.Config
		want string
	}{
		{"zero is fine", ingress.Config{}, ""},
		{"negative activate timeout", ingress.Config{ActivateTimeout: -1}, "activate timeout"},
		{"huge dial timeout", ingress.Config{DialTimeout: 1 << 62}, "dial timeout"},
		{"negative retry after", ingress.Config{RetryAfter: -1}, "retry after"},
		{"negative idle conns", ingress.Config{MaxIdleConnsPerBackend: -1}, "max idle conns"},
		{"negative max held", ingress.Config{MaxHeld: -1}, "max held"},
		{"huge response header timeout", ingress.Config{ResponseHeaderTimeout: 2 * time.Hour}, "response header timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
			if _, nerr := ingress.New(tt.cfg); (nerr == nil) != (err == nil) {
				t.Fatalf("New error %v disagrees with Validate %v", nerr, err)
			}
		})
	}
}
