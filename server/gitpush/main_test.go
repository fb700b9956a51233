package gitpush

import (
	"os"
	"testing"
)

// TestMain doubles as the pre-receive hook command: the tests' repositories
// run this test binary as `<test binary> git-hook pre-receive`, as the real
// ones run `skiff git-hook pre-receive`.
func TestMain(m *testing.M) {
	if len(os.Args) >= 2 && os.Args[1] == "git-hook" {
		os.Exit(RunHook(os.Getenv, os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}
