package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiffhq/skiff/server/store/atomicfile"
)

const adminTokenFile = "admin-token.sha256"

// EnsureAdminToken makes the admin bearer token on first call, storing only
// its SHA-256 in <dir>/admin-token.sha256, and returns the plain token with
// created=true so the caller can write it into admin.yaml once. Later
// calls return created=false and no token.
func EnsureAdminToken(dir string) (token string, created bool, err error) {
	path := filepath.Join(dir, adminTokenFile)
	if _, err := os.Stat(path); err == nil {
		return "", false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	token = "skiff_" + base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(token))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	if err := atomicfile.WriteFile(path, []byte(hex.EncodeToString(sum[:])+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	return token, true, nil
}

// LoadTokenHash reads the admin token's hex SHA-256.
func LoadTokenHash(dir string) (string, error) {
	path := filepath.Join(dir, adminTokenFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin token hash: %w", err)
	}
	h := strings.TrimSpace(string(b))
	if raw, err := hex.DecodeString(h); err != nil || len(raw) != sha256.Size {
		return "", fmt.Errorf("admin token hash %s is corrupt: want 64 hex digits", path)
	}
	return h, nil
}
