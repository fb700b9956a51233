package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// validClaims are the claims of a good ID token from m for cfg.
func validClaims(iss, aud string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": iss, "sub": "u-1001", "aud": aud,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"preferred_username": "alice", "email": "alice@example.com", "email_verified": true,
		"groups": []string{"admins"},
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// tamper replaces segment i of a JWT with f applied to its decoded bytes.
func tamper(t *testing.T, tok string, i int, f func([]byte) []byte) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	parts[i] = base64.RawURLEncoding.EncodeToString(f(b))
	return strings.Join(parts, ".")
}

func TestVerifyIDToken(t *testing.T) {
	m := startMock(t, nil)
	cfg := mockConfig(m)
	p := newTestProvider(t, cfg)
	ctx := context.Background()
	good := validClaims(m.Issuer(), m.ClientID)

	// A second provider with mockoidc's default key: its tokens verify
	// against our provider's key, so only the issuer check stops them.
	sameKey := startMock(t, nil)
	// A third with its own key and issuer: its signature fails.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := startMock(t, key)

	valid := mint(t, m, good)
	hs256, err := jwt.NewWithClaims(jwt.SigningMethodHS256, good).SignedString([]byte(m.ClientSecret))
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		token string
		is    func(error) bool
		want  string // error substring; "" = accepted
	}{
		{"valid", valid, nil, ""},
		{"another issuer, same key", mint(t, sameKey, validClaims(sameKey.Issuer(), m.ClientID)), errdefs.IsUnauthorized,
			`issued by "` + sameKey.Issuer() + `", not by the configured issuer "` + m.Issuer() + `"`},
		{"another issuer and key", mint(t, otherKey, validClaims(otherKey.Issuer(), m.ClientID)), errdefs.IsUnauthorized,
			"signed with a key the provider does not publish"},
		{"expired", mint(t, m, with(good, "iat", time.Now().Add(-time.Hour).Unix(), "exp", time.Now().Add(-time.Minute).Unix())), errdefs.IsUnauthorized,
			"id token expired at"},
		{"not yet valid", mint(t, m, with(good, "nbf", time.Now().Add(time.Hour).Unix())), errdefs.IsUnauthorized,
			"before the nbf"},
		{"wrong audience", mint(t, m, with(good, "aud", "another-app")), errdefs.IsUnauthorized,
			`for audience ["another-app"], not for skiff's client`},
		{"issued to another party", mint(t, m, with(good, "aud", []string{m.ClientID, "another-app"}, "azp", "another-app")), errdefs.IsUnauthorized,
			`issued to client "another-app" (azp)`},
		{"several audiences, no azp", mint(t, m, with(good, "aud", []string{m.ClientID, "another-app"})), errdefs.IsUnauthorized,
			"2 audiences but no authorized party"},
		{"signature flipped", tamper(t, valid, 2, func(b []byte) []byte { b[10] ^= 1; return b }), errdefs.IsUnauthorized,
			"signature that does not verify"},
		{"payload changed", tamper(t, valid, 1, func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"alice"`, `"admin"`, 1))
		}), errdefs.IsUnauthorized, "signature that does not verify"},
		{"signature removed", strings.Join(strings.Split(valid, ".")[:2], ".") + ".", errdefs.IsUnauthorized, "signature that does not verify"},
		{"two segments", strings.Join(strings.Split(valid, ".")[:2], "."), errdefs.IsUnauthorized, "is not a well-formed signed JWT"},
		{"alg none", none, errdefs.IsUnauthorized, "is not a well-formed signed JWT"},
		{"HS256 with the client secret", hs256, errdefs.IsUnauthorized, "is not a well-formed signed JWT"},
		{"garbage", "not a token", errdefs.IsUnauthorized, "is not a well-formed signed JWT"},
		{"empty", "", errdefs.IsUnauthorized, "is not a well-formed signed JWT"},
		{"too long", strings.Repeat("a", maxIDToken+1), errdefs.IsUnauthorized, "over the limit"},
		{"no subject", mint(t, m, with(good, "sub", nil)), errdefs.IsUnauthorized, "no sub claim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := p.VerifyIDToken(ctx, tt.token)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("VerifyIDToken: %v", err)
				}
				want := Claims{Issuer: m.Issuer(), Subject: "u-1001", Username: "alice", Email: "alice@example.com", EmailVerified: true, Groups: []string{"admins"}}
				if !reflect.DeepEqual(claims, want) {
					t.Errorf("claims:\n got %+v\nwant %+v", claims, want)
				}
				return
			}
			wantErr(t, err, tt.is, tt.want)
		})
	}
}

// TestUnknownKeyFetchesPaced: tokens with made-up key ids do not make
// skiff fetch the provider's keys each time.
func TestUnknownKeyFetchesPaced(t *testing.T) {
	m := startMock(t, nil)
	p := newTestProvider(t, mockConfig(m))
	var fetches int
	// Count JWKS requests by wrapping the key set's transport.
	d, err := p.discovery(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	base := d.keys.client
	d.keys.client = &http.Client{Transport: countingTransport{base.Transport, &fetches}}

	valid := mint(t, m, validClaims(m.Issuer(), m.ClientID))
	if _, err := p.VerifyIDToken(context.Background(), valid); err != nil {
		t.Fatal(err)
	}
	unknownKey := func(i int) string {
		return tamper(t, valid, 0, func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"kid":"`, `"kid":"x`+strconv.Itoa(i), 1))
		})
	}
	now := time.Now()
	d.keys.now = func() time.Time { return now }
	for round, want := range []int{1, 2, 3} { // one fetch per keyRefresh at most
		for i := range 20 {
			if _, err := p.VerifyIDToken(context.Background(), unknownKey(i)); !errdefs.IsUnauthorized(err) {
				t.Fatalf("token with an unknown key id: %v, want unauthorized", err)
			}
		}
		if fetches != want {
			t.Errorf("round %d: fetched the key set %d times in all, want %d", round, fetches, want)
		}
		now = now.Add(keyRefresh + time.Second)
	}
	if _, err := p.VerifyIDToken(context.Background(), valid); err != nil {
		t.Errorf("the good token after the flood: %v", err)
	}
}

type countingTransport struct {
	rt http.RoundTripper
	n  *int
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	*c.n++
	return c.rt.RoundTrip(r)
}

// BenchmarkVerifyIDToken measures ID-token verifications per second with
// the provider's keys cached.
func BenchmarkVerifyIDToken(b *testing.B) {
	m := startMock(b, nil)
	p := newTestProvider(b, mockConfig(m))
	tok := mint(b, m, validClaims(m.Issuer(), m.ClientID))
	ctx := context.Background()
	if _, err := p.VerifyIDToken(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.VerifyIDToken(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
