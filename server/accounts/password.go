package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// The argon2id parameters: OWASP's second recommended set (19 MiB, two
// passes, one lane) — affordable on a Raspberry Pi, and with at most
// maxHashing hashes at once a flood of sign-ins costs at most ~40 MiB.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
	maxHashing   = 2

	// MinPasswordLength is the shortest password SetPassword accepts.
	MinPasswordLength = 10
	// maxPasswordLength bounds the work one sign-in can ask for.
	maxPasswordLength = 256
)

var phcB64 = base64.RawStdEncoding

// phc is a parsed argon2id hash in the PHC string format
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
type phc struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	hash    []byte
}

func (p phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		phcB64.EncodeToString(p.salt), phcB64.EncodeToString(p.hash))
}

func parsePHC(s string) (phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return phc{}, fmt.Errorf("not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return phc{}, fmt.Errorf("argon2id version %q is not %d", parts[2], argon2.Version)
	}
	var p phc
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return phc{}, fmt.Errorf("argon2id parameters %q: %v", parts[3], err)
	}
	// Bounds, so that a tampered Secret cannot make a sign-in eat the
	// machine.
	if p.memory < 8 || p.memory > 256*1024 || p.time < 1 || p.time > 16 || p.threads < 1 || p.threads > 8 {
		return phc{}, fmt.Errorf("argon2id parameters %q are out of bounds", parts[3])
	}
	var err error
	if p.salt, err = phcB64.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return phc{}, fmt.Errorf("argon2id salt is corrupt")
	}
	if p.hash, err = phcB64.DecodeString(parts[5]); err != nil || len(p.hash) < 16 || len(p.hash) > 64 {
		return phc{}, fmt.Errorf("argon2id hash is corrupt")
	}
	return p, nil
}

// hasher runs argon2id, at most maxHashing at once.
type hasher struct{ slots chan struct{} }

func newHasher() *hasher { return &hasher{slots: make(chan struct{}, maxHashing)} }

func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting to check a password: %w: %w", ctx.Err(), errdefs.ErrUnavailable)
	}
}

func (h *hasher) release() { <-h.slots }

// hash makes the stored form of password.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	p := phc{memory: argonMemory, time: argonTime, threads: argonThreads, salt: salt}
	p.hash = argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, argonKeyLen)
	return p.String(), nil
}

// verify reports whether password matches stored. A stored hash that does
// not parse costs the same work as one that does (against dummy) and
// matches nothing.
func (h *hasher) verify(ctx context.Context, stored, password string, dummy phc) (bool, error) {
	p, err := parsePHC(stored)
	ok := err == nil
	if !ok {
		p = dummy
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.hash)))
	return subtle.ConstantTimeCompare(got, p.hash) == 1 && ok, nil
}

// checkPassword says what is wrong with a new password, if anything.
func checkPassword(user, password string) error {
	switch {
	case len(password) < MinPasswordLength:
		return fmt.Errorf("password is too short: use at least %d characters: %w", MinPasswordLength, errdefs.ErrInvalid)
	case len(password) > maxPasswordLength:
		return fmt.Errorf("password is too long: use at most %d bytes: %w", maxPasswordLength, errdefs.ErrInvalid)
	case strings.EqualFold(password, user):
		return fmt.Errorf("password must not be the user name: %w", errdefs.ErrInvalid)
	}
	return nil
}
