package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/skiffhq/skiff/server/client"
)

// openBrowser opens url in the person's browser (tests replace it with
// an HTTP client that plays the browser).
var openBrowser = func(u string) error {
	if b := os.Getenv("BROWSER"); b != "" {
		return exec.Command(b, u).Start()
	}
	switch runtime.GOOS {
	case "darwin":
		return exec.Command("open", u).Start()
	case "windows":
		return exec.Command("rundll32", "url.dll,FileProtocolHandler", u).Start()
	}
	return exec.Command("xdg-open", u).Start()
}

// userConfigPath is where `skiff login` keeps the session: --config,
// $SKIFF_CONFIG, else ~/.config/skiff/config.yaml.
func userConfigPath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := os.Getenv("SKIFF_CONFIG"); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory to keep the session in: pass --config: %w", err)
	}
	return filepath.Join(home, ".config", "skiff", "config.yaml"), nil
}

func newLoginCommand(io streams) *cobra.Command {
	var configPath, caFile, caHash, user string
	var noBrowser, passwordStdin bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "login [https://HOST:8443]",
		Short: "Sign in to a skiff server as a person (opens your browser)",
		Long: `Sign in to a skiff server and keep the session in ~/.config/skiff/config.yaml
(or --config). The browser opens at the server's sign-in page (a local
account or your organisation's OpenID Connect sign-in); once you approve,
the session comes back to this command on a loopback address. On a machine
without a browser, --no-browser prints the address to open elsewhere and
asks for the code the page shows. --user signs in with a local account's
password instead, asked for on the terminal (or read from stdin with
--password-stdin).

The first time, the server's CA is checked against --ca-hash (the 64 hex
digits after SK10 in a join token, or shown by skiff server at start),
--ca-file, or shown to you to confirm.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			path, err := userConfigPath(configPath)
			if err != nil {
				return err
			}
			// A session to renew, a signed-out file (LoadConfig returns it
			// with the error of its missing credentials), or no file yet.
			old, err := client.LoadConfig(path)
			if err != nil && !errors.Is(err, os.ErrNotExist) && old.Server == "" {
				return err
			}
			server := old.Server
			if len(args) == 1 {
				server = strings.TrimRight(args[0], "/")
			}
			if server == "" {
				return errors.New("which server? skiff login https://HOST:8443")
			}
			cfg := client.Config{Server: server}
			switch {
			case caFile != "":
				data, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("--ca-file: %w", err)
				}
				cfg.CA = string(data)
			case old.Server == server && old.CA != "" && caHash == "":
				cfg.CA = old.CA
			default:
				pemCA, hash, err := client.FetchCA(ctx, server, caHash)
				if err != nil {
					return err
				}
				if caHash == "" && !confirmCA(io, hash) {
					return fmt.Errorf("the server's CA (sha256 %s) was not trusted; pass --ca-hash or --ca-file", hash)
				}
				cfg.CA = pemCA
			}
			b, err := client.NewSignIn(cfg.Server, cfg.CA)
			if err != nil {
				return err
			}
			defer b.CloseIdleConnections()
			var t client.TokenResponse
			if user != "" {
				pw, err := readPassword(io, passwordStdin, "Password for "+user+": ")
				if err != nil {
					return err
				}
				t, err = b.SignInPassword(ctx, user, pw)
				if err != nil {
					return err
				}
			} else {
				t, err = browserSignIn(ctx, io, b, server, noBrowser, timeout)
				if err != nil {
					return err
				}
			}
			cfg.User, cfg.AccessToken, cfg.AccessTokenExpires, cfg.RefreshToken = t.User, t.AccessToken, t.ExpiresAt, t.RefreshToken
			if err := client.WriteConfig(path, cfg); err != nil {
				return err
			}
			fmt.Fprintf(io.out, "Signed in to %s as %s (session until %s); kept in %s\n", server, t.User, t.SessionExpiresAt.Local().Format(time.DateTime), path)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&configPath, "config", "", "where to keep the session (default: $SKIFF_CONFIG, else ~/.config/skiff/config.yaml)")
	fl.StringVar(&caFile, "ca-file", "", "the server's CA certificate (PEM)")
	fl.StringVar(&caHash, "ca-hash", "", "the hex SHA-256 of the server's CA (the digits after SK10 in a join token)")
	fl.StringVar(&user, "user", "", "sign in with this local account's password instead of the browser")
	fl.BoolVar(&passwordStdin, "password-stdin", false, "with --user: read the password from stdin")
	fl.BoolVar(&noBrowser, "no-browser", false, "print the sign-in address instead of opening a browser, and ask for the code")
	fl.DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the browser sign-in")
	return cmd
}

// confirmCA asks the person to trust a CA seen for the first time.
func confirmCA(io streams, hash string) bool {
	f, ok := io.in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(io.err, "The server's CA has sha256 %s; not a terminal, so nothing to confirm with: pass --ca-hash %s if that is the one the server shows.\n", hash, hash)
		return false
	}
	fmt.Fprintf(io.err, "The server's CA has sha256\n  %s\nCompare it with the one skiff server printed (or the digits after SK10 in a join token).\nTrust it? [y/N] ", hash)
	line, _ := bufio.NewReader(io.in).ReadString('\n')
	return strings.EqualFold(strings.TrimSpace(line), "y") || strings.EqualFold(strings.TrimSpace(line), "yes")
}

// readPassword reads a password from the terminal without echo, or a
// line of stdin.
func readPassword(io streams, fromStdin bool, prompt string) (string, error) {
	if !fromStdin {
		if f, ok := io.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			fmt.Fprint(io.err, prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(io.err)
			return string(b), err
		}
	}
	line, err := bufio.NewReader(io.in).ReadString('\n')
	if err != nil && !errors.Is(err, errEOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password given on stdin")
	}
	return pw, nil
}

// errEOF is io.EOF (the commands' streams parameter hides package io).
var errEOF = io.EOF

// browserSignIn runs the loopback sign-in of RFC 8252 with PKCE: the
// browser signs in at the server, which sends it back to a listener here
// with a one-time code; the code and the verifier only this process knows
// buy the session.
func browserSignIn(ctx context.Context, io streams, b *client.HTTP, server string, noBrowser bool, timeout time.Duration) (client.TokenResponse, error) {
	verifier := randomURLSafe(32)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	state := randomURLSafe(16)
	q := url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {state}}
	if noBrowser {
		q.Set("redirect_uri", client.OOBRedirect)
		fmt.Fprintf(io.err, "Open this address in a browser, sign in, and paste the code it shows:\n\n  %s/auth/v1/cli?%s\n\nCode: ", server, q.Encode())
		line, err := bufio.NewReader(io.in).ReadString('\n')
		if err != nil && strings.TrimSpace(line) == "" {
			return client.TokenResponse{}, fmt.Errorf("no code read: %w", err)
		}
		return b.Token(ctx, client.TokenGrant{GrantType: client.GrantAuthorizationCode, Code: strings.TrimSpace(line),
			CodeVerifier: verifier, RedirectURI: client.OOBRedirect})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return client.TokenResponse{}, fmt.Errorf("a loopback listener for the sign-in: %w (try --no-browser)", err)
	}
	defer ln.Close()
	redirect := fmt.Sprintf("http://%s/callback", ln.Addr())
	q.Set("redirect_uri", redirect)
	type result struct {
		code string
		err  error
	}
	got := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		v := r.URL.Query()
		if v.Get("state") != state {
			// Not our sign-in's answer (a web page probing loopback
			// ports, say): ignored, the real one may still come.
			http.Error(w, "not this sign-in", http.StatusBadRequest)
			return
		}
		res := result{code: v.Get("code")}
		if res.code == "" {
			res.err = fmt.Errorf("the sign-in came back without a code: %s", v.Get("error"))
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if res.err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "<!doctype html><p>Sign-in failed: %s</p>", html.EscapeString(res.err.Error()))
		} else {
			fmt.Fprint(w, "<!doctype html><p>Signed in. You can close this tab and go back to the terminal.</p>")
		}
		select {
		case got <- res:
		default:
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	u := server + "/auth/v1/cli?" + q.Encode()
	fmt.Fprintf(io.err, "Opening your browser to sign in. If it does not open, visit:\n\n  %s\n\n", u)
	if err := openBrowser(u); err != nil {
		fmt.Fprintf(io.err, "(could not open a browser: %v)\n", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case res := <-got:
		if res.err != nil {
			return client.TokenResponse{}, res.err
		}
		return b.Token(ctx, client.TokenGrant{GrantType: client.GrantAuthorizationCode, Code: res.code, CodeVerifier: verifier, RedirectURI: redirect})
	case <-ctx.Done():
		return client.TokenResponse{}, fmt.Errorf("no sign-in within %s: %w (on a machine without a browser, use --no-browser)", timeout, ctx.Err())
	}
}

func randomURLSafe(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newLogoutCommand(io streams) *cobra.Command {
	var configPath string
	var everywhere bool
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "End this session (--everywhere: all of your sessions) and forget it here",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := userConfigPath(configPath)
			if err != nil {
				return err
			}
			cfg, err := client.LoadConfig(path)
			if err != nil {
				return err
			}
			if cfg.RefreshToken == "" {
				return fmt.Errorf("%s holds no session from skiff login (an API or admin token is revoked with skiff token revoke, or by deleting the file)", path)
			}
			b, err := client.New(cfg)
			if err != nil {
				return err
			}
			defer b.CloseIdleConnections()
			serverErr := b.Logout(cmd.Context(), everywhere)
			cfg.AccessToken, cfg.AccessTokenExpires, cfg.RefreshToken = "", time.Time{}, ""
			// Kept: the server and its CA, for the next skiff login.
			cfg.Token = ""
			// A config with no credentials, which LoadConfig refuses
			// until the next skiff login fills it.
			if err := client.WriteConfig(path, cfg); err != nil {
				return err
			}
			if serverErr != nil {
				fmt.Fprintf(io.err, "The server did not confirm (%v); the session is forgotten here and ends by itself.\n", serverErr)
				return nil
			}
			if everywhere {
				fmt.Fprintf(io.out, "Signed %s out everywhere\n", cfg.User)
			} else {
				fmt.Fprintf(io.out, "Signed %s out\n", cfg.User)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "the session's file (default: $SKIFF_CONFIG, else ~/.config/skiff/config.yaml)")
	cmd.Flags().BoolVar(&everywhere, "everywhere", false, "end every session of yours, on every machine and browser")
	return cmd
}
