package accounts

import (
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

// BenchmarkAuthenticateAccessToken is one access token check (ns/op, so
// 1e9/ns verifications per second per core): HMAC, expiry, session and
// user lookups.
func BenchmarkAuthenticateAccessToken(b *testing.B) {
	e := newEnv(b)
	e.userWithPassword(b, "alice", goodPassword, api.UserSpec{Groups: []string{"team-a"}})
	tok := e.signIn(b, "alice", goodPassword)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.a.AuthenticateToken(e.ctx, tok.Access); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuthenticateAPIToken is one API token check: parse, SHA-256,
// token and user lookups.
func BenchmarkAuthenticateAPIToken(b *testing.B) {
	e := newEnv(b)
	e.userWithPassword(b, "alice", goodPassword, api.UserSpec{})
	tok := e.signIn(b, "alice", goodPassword)
	id := e.auth(b, tok.Access)
	_, secret, err := e.a.CreateAPIToken(e.ctx, id, TokenRequest{Name: "bench", Role: api.RoleViewer})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.a.AuthenticateToken(e.ctx, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSignInPassword is one password sign-in with the production
// argon2id parameters (19 MiB, t=2, p=1), and the status write that
// records it. Successes do not drain the account's limiter; failures
// would lock it after five. With at most two hashes at once, this bounds
// how fast any number of guessers can try passwords on one server.
func BenchmarkSignInPassword(b *testing.B) {
	e := newEnv(b)
	e.userWithPassword(b, "alice", goodPassword, api.UserSpec{})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.a.SignInPassword(e.ctx, "alice", goodPassword, ""); err != nil {
			b.Fatal(err)
		}
	}
}
