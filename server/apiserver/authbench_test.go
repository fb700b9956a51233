package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/skiffhq/skiff/server/accounts"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/audit"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/store"
)

// What the identity system costs a request, and what a password-guessing
// flood costs everyone else, over real HTTPS on loopback with real bbolt,
// accounts, roles and the audit log:
//
//	go test ./server/apiserver -run '^$' -bench 'Authenticated|TokenVerification' -benchtime=4000x
//	go test ./server/apiserver -run SignInFlood -v
//
// The figures are reported, never asserted (docs/benchmarks.md keeps
// them).

// warmTransport is a client transport of its own (its own connections)
// trusting caPEM: HTTP/2 as the typed client uses, or HTTP/1.1 keeping up
// to idle connections open.
func warmTransport(caPEM []byte, h2 bool, idle int) *http.Transport {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2, MaxIdleConnsPerHost: idle}
}

// fromAddress makes tr connect from another loopback address (127.0.0.2,
// …), so that the server's per-address limiter tells its client apart
// from one on 127.0.0.1.
func fromAddress(tr *http.Transport, ip string) *http.Transport {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr.DialContext = d.DialContext
	return tr
}

// dirBytes is the size of the files in dir.
func dirBytes(dir string) int64 {
	var n int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && !fi.IsDir() {
			n += fi.Size()
		}
	}
	return n
}

// benchUser makes a local user with the password "correct horse <name>"
// and a role binding (namespaces none: everywhere), waits until the
// policy knows it, and signs it in with the password over HTTPS.
func benchUser(tb testing.TB, s *acctServer, name, role string, namespaces ...string) client.TokenResponse {
	tb.Helper()
	ctx := context.Background()
	if _, err := s.reg.Create(ctx, "users", "", &api.User{ObjectMeta: api.ObjectMeta{Name: name}}); err != nil {
		tb.Fatal(err)
	}
	rb := &api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: name + "-" + role}, Role: role,
		Subjects: []api.Subject{{Kind: api.SubjectUser, Name: name}}, Namespaces: namespaces}
	if _, err := s.reg.Create(ctx, "rolebindings", "", rb); err != nil {
		tb.Fatal(err)
	}
	if err := s.accts.SetPassword(ctx, name, "correct horse "+name); err != nil {
		tb.Fatal(err)
	}
	at := auth.Attributes{Verb: "get", Resource: "configmaps", Namespace: "default", Name: benchConfigMap, Namespaced: true}
	body := fmt.Sprintf(`{"username":%q,"password":%q}`, name, "correct horse "+name)
	var tr client.TokenResponse
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// The binding and the password reach the accounts through
		// informers.
		if s.accts.Authorize(ctx, &auth.Identity{Name: name, Groups: []string{accounts.GroupAuthenticated}}, at) == nil {
			a := s.anon(tb, http.MethodPost, "/auth/v1/login", body, "Content-Type", "application/json")
			if a.code == http.StatusOK && json.Unmarshal(a.body, &tr) == nil && tr.AccessToken != "" {
				return tr
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("user %s with role %s could not sign in or read configmaps within 5 s", name, role)
		}
	}
}

const benchConfigMap = "bench"

// createBenchConfigMap stores the configmap every GET of these
// benchmarks reads (about 1 KB of data), with ts's admin token.
func createBenchConfigMap(tb testing.TB, ts *testServer) {
	tb.Helper()
	body := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q},"data":{"app.conf":%q}}`,
		benchConfigMap, strings.Repeat("key = value\n", 85))
	if a := ts.do(tb, http.MethodPost, "/api/v1/namespaces/default/configmaps", body, "Content-Type", "application/json"); a.code != http.StatusCreated {
		tb.Fatalf("create configmap: %d %s", a.code, a.body)
	}
}

// authPath is one way of authenticating a GET of the bench configmap,
// over a connection of its own.
type authPath struct {
	name, key string // key names its metrics
	url       string
	http      *http.Client
	set       func(*http.Request)
}

func newAuthPath(name, key string, ts *testServer, set func(*http.Request)) *authPath {
	return &authPath{name: name, key: key, url: ts.url + "/api/v1/namespaces/default/configmaps/" + benchConfigMap,
		http: &http.Client{Transport: warmTransport(ts.caPEM, true, 64)}, set: set}
}

func withBearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func withSessionCookie(credential string) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: sessionCookie, Value: credential}) }
}

// get reads the configmap and insists on a 200.
func (p *authPath) get() error {
	req, _ := http.NewRequest(http.MethodGet, p.url, nil)
	p.set(req)
	resp, err := p.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: GET answered %d %s", p.name, resp.StatusCode, b)
	}
	return nil
}

// BenchmarkAuthenticatedGET is the identity system's cost on a GET: one
// configmap over HTTPS, with the foundation's static admin token on a
// server without accounts (the base) and, on a server with accounts,
// roles and the audit log, with the static token, an admin's access
// token, a developer's (a namespace-bound role: the policy decides), an
// API token and a browser session cookie. Every path makes b.N requests
// over a warm HTTP/2 connection of its own, interleaved in rounds (the
// order rotating) so that the machine's drift falls on all alike.
// x-static is a path's p50 ÷ the base's p50 (issue 6's aim: under 1.05).
func BenchmarkAuthenticatedGET(b *testing.B) {
	ctx := context.Background()
	found := startServer(b, store.Config{}, 0)
	createBenchConfigMap(b, found)
	s := startAccountsServerWith(b, acctConfig{})
	createBenchConfigMap(b, s.testServer)
	admin := benchUser(b, s, "ada", api.RoleAdmin)
	dev := benchUser(b, s, "dev", api.RoleDeveloper, "default")
	devID, err := s.accts.AuthenticateToken(ctx, dev.AccessToken)
	if err != nil {
		b.Fatal(err)
	}
	_, pat, err := s.accts.CreateAPIToken(ctx, devID, accounts.TokenRequest{Name: "bench", Role: api.RoleDeveloper, Namespaces: []string{"default"}})
	if err != nil {
		b.Fatal(err)
	}
	paths := []*authPath{
		newAuthPath("static admin token, no accounts", "static", found, withBearer(found.token)),
		newAuthPath("static admin token, accounts", "static-acct", s.testServer, withBearer(s.token)),
		newAuthPath("admin access token", "admin", s.testServer, withBearer(admin.AccessToken)),
		newAuthPath("developer access token", "dev", s.testServer, withBearer(dev.AccessToken)),
		newAuthPath("developer API token", "pat", s.testServer, withBearer(pat)),
		newAuthPath("developer session cookie", "cookie", s.testServer, withSessionCookie(dev.RefreshToken)),
	}
	for _, clients := range []int{1, benchClients} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { runAuthPaths(b, paths, clients) })
	}
}

func runAuthPaths(b *testing.B, paths []*authPath, clients int) {
	const rounds = 20
	per := max(b.N/rounds, 1)
	for _, p := range paths { // warm the connections, the caches and the limiter
		if _, _, err := timed(max(200, clients*10), clients, func(int) error { return p.get() }); err != nil {
			b.Fatal(err)
		}
	}
	lats := make([][]time.Duration, len(paths))
	busy := make([]time.Duration, len(paths))
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		for k := range paths {
			i := (r + k) % len(paths)
			t0 := time.Now()
			_, l, err := timed(per, clients, func(int) error { return paths[i].get() })
			busy[i] += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			lats[i] = append(lats[i], l...)
		}
	}
	b.StopTimer()
	base := percentile(lats[0], 0.5)
	// The framework's first run (b.N = 1) would fill the ten lines of log
	// it keeps for a benchmark without -v.
	logf := b.Logf
	if b.N == 1 {
		logf = func(string, ...any) {}
	}
	logf("%d clients, %d GETs per path in %d rounds:", clients, per*rounds, rounds)
	logf("| path | GET/s | p50 | p99 | x-static (p50) |")
	for i, p := range paths {
		p50, p99 := percentile(lats[i], 0.5), percentile(lats[i], 0.99)
		x := float64(p50) / float64(base)
		b.ReportMetric(ms(p50), p.key+"-p50-ms")
		b.ReportMetric(ms(p99), p.key+"-p99-ms")
		if i > 0 {
			b.ReportMetric(x, p.key+"-x-static")
		}
		logf("| %s | %.0f | %.3f ms | %.3f ms | %.3f |", p.name, float64(len(lats[i]))/busy[i].Seconds(), ms(p50), ms(p99), x)
	}
}

// BenchmarkTokenVerification is one credential check in process, on all
// cores (b.RunParallel): what the server does per request before it
// looks at the route.
func BenchmarkTokenVerification(b *testing.B) {
	ctx := context.Background()
	s := startAccountsServerWith(b, acctConfig{})
	static := s.static
	dev := benchUser(b, s, "dev", api.RoleDeveloper, "default")
	devID, err := s.accts.AuthenticateToken(ctx, dev.AccessToken)
	if err != nil {
		b.Fatal(err)
	}
	_, pat, err := s.accts.CreateAPIToken(ctx, devID, accounts.TokenRequest{Name: "bench", Role: api.RoleDeveloper, Namespaces: []string{"default"}})
	if err != nil {
		b.Fatal(err)
	}
	// A forged access token: the right shape, a wrong signature.
	forged := dev.AccessToken[:len(dev.AccessToken)-4] + "AAAA"
	if forged == dev.AccessToken {
		forged = dev.AccessToken[:len(dev.AccessToken)-4] + "BBBB"
	}
	cases := []struct {
		name   string
		verify func() error
		bad    bool
	}{
		{"static admin token alone", func() error { _, err := static.AuthenticateToken(ctx, s.token); return err }, false},
		{"static admin token via accounts", func() error { _, err := s.accts.AuthenticateToken(ctx, s.token); return err }, false},
		{"access token", func() error { _, err := s.accts.AuthenticateToken(ctx, dev.AccessToken); return err }, false},
		{"API token", func() error { _, err := s.accts.AuthenticateToken(ctx, pat); return err }, false},
		{"session cookie", func() error { _, err := s.accts.AuthenticateSession(ctx, dev.RefreshToken); return err }, false},
		{"forged access token", func() error { _, err := s.accts.AuthenticateToken(ctx, forged); return err }, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if err := c.verify(); (err != nil) != c.bad {
				b.Fatalf("%s: err = %v, want error %v", c.name, err, c.bad)
			}
			var wrong atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.verify(); (err != nil) != c.bad {
						wrong.Add(1)
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if n := wrong.Load(); n > 0 {
				b.Fatalf("%s: %d of %d checks answered wrongly", c.name, n, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "verifications/s")
		})
	}
}

// countingLog counts log records by message: "sign-in failed" is one
// argon2id check that did not match; "sign-in refused: account locked"
// is a refusal without one.
type countingLog struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *countingLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *countingLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.n[r.Message]++
	h.mu.Unlock()
	return nil
}

func (h *countingLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingLog) WithGroup(string) slog.Handler      { return h }

func (h *countingLog) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

func (h *countingLog) reset() {
	h.mu.Lock()
	h.n = map[string]int{}
	h.mu.Unlock()
}

// offsetClock is the real clock plus an offset a test can move forward.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// getsFor GETs with p one after another for d and returns the latencies.
func getsFor(p *authPath, d time.Duration) ([]time.Duration, error) {
	var lat []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end); {
		t0 := time.Now()
		if err := p.get(); err != nil {
			return lat, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

// login POSTs a JSON password sign-in without credentials.
func login(hc *http.Client, url, user, password string) (code int, retryAfter string, err error) {
	req, _ := http.NewRequest(http.MethodPost, url+"/auth/v1/login", strings.NewReader(fmt.Sprintf(`{"username":%q,"password":%q}`, user, password)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

// TestSignInFloodKeepsServerResponsive: 16 goroutines guess passwords
// through POST /auth/v1/login as fast as they can for 5 s while another
// user reads a configmap. It asserts what must hold — no guess succeeds,
// every refusal is 401 or a 429 with Retry-After, the other user is
// never refused, the locked account refuses even its right password
// from a new address until the lock ends and then lets it in, while its
// owner's known address gets in at once — and reports, never asserts,
// the rates and the other user's latency.
func TestSignInFloodKeepsServerResponsive(t *testing.T) {
	if testing.Short() {
		t.Skip("three 5 s sign-in floods (~30 s): run without -short")
	}
	const (
		guessers = 16
		flood    = 5 * time.Second
		quiet    = 2 * time.Second
		// accountBurst is accounts' per-account failure burst (five wrong
		// passwords, then one a minute).
		accountBurst = 5
	)
	cases := []struct {
		name     string
		failures *auth.FailureLimiter
		// spray: every guess names another user, so the per-account
		// limiter never stops them.
		spray bool
	}{
		{"account victim, per-account limiter only", auth.NewFailureLimiter(rate.Inf, 1), false},
		{"account victim, default per-address limiter too", auth.NewFailureLimiter(auth.DefaultFailureRate, auth.DefaultFailureBurst), false},
		{"a new user name every guess, per-account limiter only", auth.NewFailureLimiter(rate.Inf, 1), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := &offsetClock{}
			logs := &countingLog{n: map[string]int{}}
			s := startAccountsServerWith(t, acctConfig{failures: tc.failures, now: clock.now, log: slog.New(logs)})
			auditDir := s.auditDir
			createBenchConfigMap(t, s.testServer)
			benchUser(t, s, "victim", api.RoleViewer, "default")
			other := benchUser(t, s, "other", api.RoleDeveloper, "default")
			// The other user and the victim come from other addresses
			// than the guessers (127.0.0.4), as they would; the victim
			// signed in from 127.0.0.1 before.
			reader := newAuthPath("other user's GET", "other", s.testServer, withBearer(other.AccessToken))
			fromAddress(reader.http.Transport.(*http.Transport), "127.0.0.2")
			before, err := getsFor(reader, quiet)
			if err != nil {
				t.Fatal(err)
			}

			// An attacker's many connections: HTTP/1.1, one per guesser.
			fc := &http.Client{Transport: fromAddress(warmTransport(s.caPEM, false, guessers), "127.0.0.4")}
			logs.reset()
			auditBefore := dirBytes(auditDir)
			var checked, refused, admitted, noRetryAfter, other5xx atomic.Int64
			var firstErr atomic.Value
			var wg sync.WaitGroup
			start := time.Now()
			end := start.Add(flood)
			for g := 0; g < guessers; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; time.Now().Before(end); i++ {
						user := "victim"
						if tc.spray {
							user = fmt.Sprintf("nobody-%d-%d", g, i)
						}
						code, ra, err := login(fc, s.url, user, fmt.Sprintf("guess %d of %d", i, g))
						switch {
						case err != nil:
							firstErr.CompareAndSwap(nil, err)
							return
						case code == http.StatusUnauthorized:
							checked.Add(1)
						case code == http.StatusTooManyRequests:
							refused.Add(1)
							if n, err := strconv.Atoi(ra); err != nil || n < 1 {
								noRetryAfter.Add(1)
							}
						case code < 300:
							admitted.Add(1)
						default:
							other5xx.Add(1)
						}
					}
				}()
			}
			during, getErr := getsFor(reader, flood)
			wg.Wait()
			elapsed := time.Since(start)
			time.Sleep(audit.DefaultFlushEvery + 200*time.Millisecond) // the audit log's buffer
			auditGrew := dirBytes(auditDir) - auditBefore
			argon := logs.count("sign-in failed")
			locked := logs.count("sign-in refused: account locked")
			if err, _ := firstErr.Load().(error); err != nil {
				t.Fatalf("a guess: %v", err)
			}
			if getErr != nil {
				t.Errorf("the other user during the flood: %v", getErr)
			}
			if n := admitted.Load(); n > 0 {
				t.Errorf("%d wrong passwords were let in", n)
			}
			if n := other5xx.Load(); n > 0 {
				t.Errorf("%d guesses answered neither 401 nor 429", n)
			}
			if n := noRetryAfter.Load(); n > 0 {
				t.Errorf("%d of %d 429 answers had no Retry-After of at least 1 s", n, refused.Load())
			}
			if int64(argon) != checked.Load() {
				t.Errorf("%d argon2id checks failed but %d guesses were answered 401", argon, checked.Load())
			}
			if !tc.spray && argon > accountBurst+1 {
				t.Errorf("%d argon2id checks on one account in %s, want at most %d", argon, elapsed.Round(time.Millisecond), accountBurst+1)
			}

			sec := elapsed.Seconds()
			t.Logf("%d guessers for %s: %.1f/s checked (401), %.0f/s refused (429), %d argon2id checks, %d refused as locked",
				guessers, elapsed.Round(time.Millisecond), float64(checked.Load())/sec, float64(refused.Load())/sec, argon, locked)
			t.Logf("other user's GET, 1 client: before %d GETs p50 %.3f ms p99 %.3f ms; during %d GETs p50 %.3f ms p99 %.3f ms",
				len(before), ms(percentile(before, 0.5)), ms(percentile(before, 0.99)),
				len(during), ms(percentile(during, 0.5)), ms(percentile(during, 0.99)))
			t.Logf("audit log: %.1f MB more on disk (at most %d MB are kept), %d log records of refused locked sign-ins",
				float64(auditGrew)/1e6, (audit.DefaultMaxFiles+1)*audit.DefaultMaxFileBytes>>20, locked)

			hc := &http.Client{Transport: fromAddress(warmTransport(s.caPEM, true, 1), "127.0.0.3")}
			code, ra, err := login(hc, s.url, "victim", "correct horse victim")
			if err != nil {
				t.Fatal(err)
			}
			if tc.spray {
				if code != http.StatusOK {
					t.Errorf("the victim's right password after a spray over other names: %d, want 200", code)
				}
				return
			}
			wait, convErr := strconv.Atoi(ra)
			if code != http.StatusTooManyRequests || convErr != nil || wait < 1 {
				t.Fatalf("the victim's right password from a new address while locked: %d, Retry-After %q; want 429 with Retry-After ≥ 1", code, ra)
			}
			// From the address it signed in from before, the owner is
			// not locked out by the guesser.
			known := &http.Client{Transport: warmTransport(s.caPEM, true, 1)}
			if code, _, err := login(known, s.url, "victim", "correct horse victim"); err != nil || code != http.StatusOK {
				t.Errorf("the victim's right password from its known address while locked: %d %v, want 200", code, err)
			}
			clock.advance(time.Duration(wait)*time.Second + time.Second)
			if code, _, err := login(hc, s.url, "victim", "correct horse victim"); err != nil || code != http.StatusOK {
				t.Errorf("the victim's right password %d s later: %d %v, want 200", wait+1, code, err)
			}
		})
	}
}
