package garbagecollector

import (
	"log/slog"
	"testing"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testLog logs warnings and errors to the test's log.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}
