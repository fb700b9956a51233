package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func TestConfigRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "admin.yaml")
	want := Config{Server: "https://127.0.0.1:8443", CA: testCA, Token: "skiff_abc"}
	if err := WriteConfig(path, want); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	got, err := LoadConfig(path)
	if err != nil || got != want {
		t.Errorf("LoadConfig = %+v, %v; want %+v", got, err, want)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, body, want string }{
		{"unknown key", "server: https://x\ncertificateAuthority: x\ntoken: t\ntokn: t\n", "tokn"},
		{"missing server", "certificateAuthority: x\ntoken: t\n", "server: required"},
		{"plain http", "server: http://x:8443\ncertificateAuthority: x\ntoken: t\n", "https://"},
		{"missing token and ca", "server: https://x\n", "token: required"},
		{"not yaml", "server: [\n", "admin.yaml"},
	} {
		p := filepath.Join(dir, "admin.yaml")
		os.WriteFile(p, []byte(tc.body), 0o600)
		_, err := LoadConfig(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestFindConfig(t *testing.T) {
	home, data := t.TempDir(), t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SKIFF_CONFIG", "")
	if p, _ := FindConfig("/flag.yaml", data); p != "/flag.yaml" {
		t.Errorf("flag: %q", p)
	}
	t.Setenv("SKIFF_CONFIG", "/env.yaml")
	if p, _ := FindConfig("", data); p != "/env.yaml" {
		t.Errorf("env: %q", p)
	}
	t.Setenv("SKIFF_CONFIG", "")
	if _, err := FindConfig("", data); err == nil || !strings.Contains(err.Error(), "admin.yaml") || !strings.Contains(err.Error(), ".config/skiff/config.yaml") {
		t.Errorf("nothing found: %v, want the paths tried", err)
	}
	os.WriteFile(filepath.Join(data, "admin.yaml"), []byte("x"), 0o600)
	if p, _ := FindConfig("", data); p != filepath.Join(data, "admin.yaml") {
		t.Errorf("data dir: %q", p)
	}
	os.MkdirAll(filepath.Join(home, ".config", "skiff"), 0o700)
	os.WriteFile(filepath.Join(home, ".config", "skiff", "config.yaml"), []byte("x"), 0o600)
	if p, _ := FindConfig("", data); p != filepath.Join(home, ".config", "skiff", "config.yaml") {
		t.Errorf("home config should win over admin.yaml: %q", p)
	}
}

func FuzzLoadConfig(f *testing.F) {
	f.Add("server: https://x\ncertificateAuthority: x\ntoken: t\n")
	f.Add("server: [\n")
	f.Add("{}")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte(body), 0o600)
		c, err := LoadConfig(p)
		if err == nil && c.Validate() != nil {
			t.Fatalf("LoadConfig accepted an invalid config %+v", c)
		}
	})
}
