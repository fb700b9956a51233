package ingress_test

import (
	"strings"
	"testing"

	"github.com/skiffhq/skiff/netstack/ingress"
)

// FuzzLookup feeds Host headers, which come from anyone, to a table: no
// panic, case and a port never change the answer.
func FuzzLookup(f *testing.F) {
	for _, s := range []string{"shop.example.com", "x.apps.example.com:443", "[::1]:80", "::1", "]:", "a.", ".", ":", "*.apps.example.com", "A.APPS.EXAMPLE.COM.", "\xff.apps.example.com"} {
		f.Add(s)
	}
	tbl, err := ingress.NewTable([]ingress.Route{
		{Host: "shop.example.com", App: "shop"},
		{Host: "*.apps.example.com", App: "wild"},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host string) {
		rt, ok := tbl.Lookup(host)
		if strings.ContainsAny(host, ":[]") || strings.ContainsFunc(host, func(r rune) bool { return r >= 0x80 }) {
			return // a port already, or non-ASCII case folding (host names are ASCII)
		}
		up, upOK := tbl.Lookup(strings.ToUpper(host))
		if ok != upOK || rt.App != up.App {
			t.Fatalf("Lookup(%q) = %q %v but upper case gives %q %v", host, rt.App, ok, up.App, upOK)
		}
		port, portOK := tbl.Lookup(host + ":8080")
		if ok != portOK || rt.App != port.App {
			t.Fatalf("Lookup(%q) = %q %v but with a port %q %v", host, rt.App, ok, port.App, portOK)
		}
	})
}
