package accounts

import (
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzSigner = newSigner([]byte("0123456789abcdef0123456789abcdef"))

// checkAccessInput fails if parse accepted raw but raw is not the one
// spelling of what it parsed to.
func checkAccessInput(t *testing.T, raw string) {
	if c, ok := fuzzSigner.parse(raw); ok {
		if got := fuzzSigner.sign(c); got != raw {
			t.Fatalf("parse accepted %q, whose canonical form is %q", raw, got)
		}
	}
}

func FuzzParseAccessToken(f *testing.F) {
	f.Add("abcdefghij012345", "alice", int64(1772366400), int64(1772365500), uint16(3), byte(1))
	f.Add("0000000000000000", "x", int64(-1), int64(0), uint16(100), byte(0x80))
	f.Add("skiff_at_e30.", "", int64(0), int64(0), uint16(0), byte(0))
	f.Add(fuzzSigner.sign(accessClaims{SID: "abcdefghij012345", Sub: "bob", Exp: 9, Iat: 1}), "\x00", int64(1)<<62, int64(0), uint16(7), byte(0xff))
	f.Fuzz(func(t *testing.T, sid, sub string, exp, iat int64, at uint16, flip byte) {
		// Whatever comes in: no panic, and nothing unsigned accepted.
		checkAccessInput(t, sid)
		checkAccessInput(t, sub)
		c := accessClaims{SID: sid, Sub: sub, Exp: exp, Iat: iat}
		tok := fuzzSigner.sign(c)
		got, ok := fuzzSigner.parse(tok)
		wantOK := validID(sid) && sub != "" && len(tok) <= maxAccessLen
		// JSON spells invalid UTF-8 as U+FFFD: such a name comes back
		// changed (user names are DNS labels, so never in practice).
		if ok != wantOK || ok && utf8.ValidString(sub) && (got != c || fuzzSigner.sign(got) != tok) {
			t.Fatalf("round trip of %+v: got %+v, %v; want ok %v", c, got, ok, wantOK)
		}
		if !ok || flip == 0 {
			return
		}
		b := []byte(tok)
		b[int(at)%len(b)] ^= flip
		if m, ok := fuzzSigner.parse(string(b)); ok {
			t.Fatalf("mutated token %q accepted as %+v", b, m)
		}
		// Another key's signature is no good either.
		if _, ok := newSigner([]byte("another key")).parse(tok); ok {
			t.Fatal("token accepted under another key")
		}
	})
}

func FuzzParseAPIToken(f *testing.F) {
	f.Add("abcdefghij012345", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uint16(0), byte(1))
	f.Add("skiff_pat_", "_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-A", uint16(20), byte(0x20))
	f.Add("ABCDEFGHIJ012345", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", uint16(60), byte(2))
	f.Fuzz(func(t *testing.T, id, secret string, at uint16, flip byte) {
		for _, raw := range []string{id, secret, apiPrefix + id + "_" + secret} {
			if i, s, ok := parseAPIToken(raw); ok && formatAPIToken(i, s) != raw {
				t.Fatalf("parse accepted %q, whose canonical form is %q", raw, formatAPIToken(i, s))
			}
		}
		tok := formatAPIToken(id, secret)
		gotID, gotSecret, ok := parseAPIToken(tok)
		wantOK := validID(id) && validSecret(secret)
		if ok != wantOK || ok && (gotID != id || gotSecret != secret) {
			t.Fatalf("round trip of %q: got %q %q %v, want ok %v", tok, gotID, gotSecret, ok, wantOK)
		}
		if !ok || flip == 0 {
			return
		}
		stored := hashSecret(secret)
		b := []byte(tok)
		b[int(at)%len(b)] ^= flip
		if i, s, ok := parseAPIToken(string(b)); ok && i == id && secretMatches(s, stored) {
			t.Fatalf("mutated token %q matches the original's id and hash", b)
		}
	})
}

func FuzzParseSessionCredential(f *testing.F) {
	f.Add("abcdefghij012345", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uint16(16), byte(1))
	f.Add("abcdefghij01234.", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", uint16(59), byte(0x40))
	f.Add(strings.Repeat("z", idLen), strings.Repeat("-", secretLen), uint16(1), byte(0x7f))
	f.Fuzz(func(t *testing.T, id, secret string, at uint16, flip byte) {
		for _, raw := range []string{id, secret, id + "." + secret} {
			if i, s, ok := parseCredential(raw); ok && formatCredential(i, s) != raw {
				t.Fatalf("parse accepted %q, whose canonical form is %q", raw, formatCredential(i, s))
			}
		}
		cred := formatCredential(id, secret)
		gotID, gotSecret, ok := parseCredential(cred)
		wantOK := validID(id) && validSecret(secret)
		if ok != wantOK || ok && (gotID != id || gotSecret != secret) {
			t.Fatalf("round trip of %q: got %q %q %v, want ok %v", cred, gotID, gotSecret, ok, wantOK)
		}
		if !ok || flip == 0 {
			return
		}
		stored := hashSecret(secret)
		b := []byte(cred)
		b[int(at)%len(b)] ^= flip
		if i, s, ok := parseCredential(string(b)); ok && i == id && secretMatches(s, stored) {
			t.Fatalf("mutated credential %q matches the original's id and hash", b)
		}
	})
}

func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2i$v=19$m=1,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePHC(s)
		if err != nil {
			return
		}
		if p.memory > 256*1024 || p.time > 16 || p.threads > 8 || p.threads == 0 {
			t.Fatalf("out-of-bounds parameters accepted: %+v", p)
		}
	})
}
