package oidc

import (
	"bytes"
	"context"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// FuzzVerifyIDToken feeds VerifyIDToken arbitrary strings and one-byte
// mutations of a valid token from a real provider. It must never panic,
// answer anything but unauthorized to a refusal, or accept a token other
// than the one the provider signed (a different spelling of the same
// bytes, such as base64 padding, is the same token).
func FuzzVerifyIDToken(f *testing.F) {
	m := startMock(f, nil)
	p := newTestProvider(f, mockConfig(m))
	ctx := context.Background()
	valid := mint(f, m, with(validClaims(m.Issuer(), m.ClientID), "exp", time.Now().Add(24*time.Hour).Unix()))
	want, err := p.VerifyIDToken(ctx, valid)
	if err != nil {
		f.Fatalf("the valid token is refused: %v", err)
	}

	f.Add(valid, uint(0), byte(0), false)
	f.Add("", uint(0), byte(0), false)
	f.Add("a.b.c", uint(0), byte(0), false)
	f.Add(valid+"=", uint(0), byte(0), false)
	f.Add(" "+valid+"\n", uint(0), byte(0), false)
	dots := []uint{uint(strings.Index(valid, ".")), uint(strings.LastIndex(valid, "."))}
	for _, pos := range []uint{0, 5, dots[0] - 1, dots[0], dots[0] + 1, dots[1] + 3, uint(len(valid) - 1)} {
		for _, b := range []byte{'A', '.', '=', '\n', 0} {
			f.Add("", pos, b, true)
		}
	}

	f.Fuzz(func(t *testing.T, s string, pos uint, b byte, mutate bool) {
		in := s
		if mutate {
			bs := []byte(valid)
			bs[pos%uint(len(bs))] = b
			in = string(bs)
		}
		claims, err := p.VerifyIDToken(ctx, in)
		if err != nil {
			if !errdefs.IsUnauthorized(err) {
				t.Fatalf("refusal of %q is not unauthorized: %v", in, err)
			}
			return
		}
		if !sameJWT(in, valid) {
			t.Fatalf("accepted %q, which is not the token the provider signed", in)
		}
		if !reflect.DeepEqual(claims, want) {
			t.Fatalf("claims %+v, want %+v", claims, want)
		}
	})
}

// sameJWT reports whether a and b are compact JWTs whose segments decode
// to the same bytes, read as go-jose reads them (white space dropped).
func sameJWT(a, b string) bool {
	noSpace := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, s)
	}
	pa, pb := strings.Split(noSpace(a), "."), strings.Split(noSpace(b), ".")
	if len(pa) != 3 || len(pb) != 3 {
		return false
	}
	for i := range pa {
		da, errA := base64.RawURLEncoding.DecodeString(pa[i])
		db, errB := base64.RawURLEncoding.DecodeString(pb[i])
		if errA != nil || errB != nil || !bytes.Equal(da, db) {
			return false
		}
	}
	return true
}
