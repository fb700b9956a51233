package testimages

import (
	"io"
	"strings"
	"testing"
)

// TestTarWriterKeepsHeaderError: a header USTAR cannot hold fails the
// tarball at close (tar.Writer's own Close would return nil).
func TestTarWriterKeepsHeaderError(t *testing.T) {
	tw := newTarWriter(io.Discard)
	tw.file(strings.Repeat("x", 300), 0o644, []byte("content"))
	tw.file("after", 0o644, []byte("more"))
	if err := tw.close(); err == nil {
		t.Errorf("close after a 300-byte name = nil, want an error")
	}
}
