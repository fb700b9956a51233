package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

// TestGitRemotePrintsTheCommands: the remote URL, the CA file git needs
// for a self-signed server (written where it says), the push; no token
// in what it prints.
func TestGitRemotePrintsTheCommands(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	cfgPath := filepath.Join(home, "skiff.yaml")
	pki, err := auth.EnsurePKI(filepath.Join(home, "pki"), auth.PKIConfig{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ca := string(pki.CAPEM())
	if err := client.WriteConfig(cfgPath, client.Config{Server: "https://10.0.0.5:8443", CA: ca, Token: "skiff_secret_token"}); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"git-remote", "shop", "--config", cfgPath}, strings.NewReader(""), &out, &errOut)
	if code != 0 {
		t.Fatalf("git-remote: exit %d: %s", code, errOut.String())
	}
	caPath := filepath.Join(home, ".config", "skiff", "ca-10.0.0.5.pem")
	for _, want := range []string{
		"git remote add skiff https://10.0.0.5:8443/git/shop.git\n",
		"git config http.https://10.0.0.5:8443/.sslCAInfo " + caPath + "\n",
		"git push skiff main\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "skiff_secret_token") {
		t.Errorf("the token is in the output:\n%s", out.String())
	}
	if b, err := os.ReadFile(caPath); err != nil || string(b) != ca {
		t.Errorf("CA file = %q, %v", b, err)
	}
}
