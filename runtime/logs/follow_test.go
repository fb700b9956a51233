package logs

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestFollow follows a log while lines are written, through rotations,
// and checks every line comes out once and in order.
func TestFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := newTestWriter(t, path, Options{MaxSize: 400, MaxFiles: 2})
	write(t, w, Stdout, "old 1\nold 2\n")
	out, stop := startFollow(t, path, ReadOptions{Follow: true, Tail: 1})

	want := "old 2\n"
	waitFor(t, "the tail", func() bool { return out.String() == want })

	write(t, w, Stderr, "new 1\n")
	want += "new 1\n"
	waitFor(t, "an appended line", func() bool { return out.String() == want })

	// Rotate a few times: the follower must not lose or repeat a line,
	// including those written between its looks.
	for round := range 4 {
		var lines strings.Builder
		for i := range 12 {
			fmt.Fprintf(&lines, "round %d line %02d\n", round, i)
		}
		write(t, w, Stdout, lines.String())
		want += lines.String()
		waitFor(t, fmt.Sprintf("round %d", round), func() bool { return len(out.String()) >= len(want) })
	}
	// A line cut in parts, written in two goes.
	write(t, w, Stdout, strings.Repeat("p", MaxLineSize+5))
	write(t, w, Stdout, "\nend\n")
	want += strings.Repeat("p", MaxLineSize+5) + "\nend\n"
	waitFor(t, "the last line", func() bool { return len(out.String()) >= len(want) })

	stop()
	if got := out.String(); got != want {
		t.Errorf("followed:\n%s\nwant:\n%s", got, want)
	}
}

// TestFollowManyRotationsBetweenLooks rotates more than once between two
// looks of the follower, so lines are only in path.2 by the time it looks.
func TestFollowManyRotationsBetweenLooks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := newTestWriter(t, path, Options{MaxSize: 200, MaxFiles: 5})
	write(t, w, Stdout, "start\n")
	out, stop := startFollow(t, path, ReadOptions{Follow: true, Tail: -1})
	waitFor(t, "the first line", func() bool { return out.String() == "start\n" })

	// One Write of about three files' worth: the writer rotates three
	// times within one call, far quicker than one poll.
	var lines strings.Builder
	for i := range 15 {
		fmt.Fprintf(&lines, "burst line %02d\n", i)
	}
	write(t, w, Stdout, lines.String())
	want := "start\n" + lines.String()
	waitFor(t, "the burst", func() bool { return len(out.String()) >= len(want) })
	stop()
	if got := out.String(); got != want {
		t.Errorf("followed:\n%s\nwant:\n%s", got, want)
	}
}
