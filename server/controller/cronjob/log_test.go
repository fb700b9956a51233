package cronjob

import (
	"log/slog"
	"strings"
	"testing"
)

// testLog is a logger that writes warnings and errors to the test's log,
// shown when a test fails or runs with -v.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
