// Package probetest holds fakes for tests of runtime/probe and of the
// node agent that uses it: a Clock that moves only when told (Advance)
// and an Execer whose exit codes the test sets. It holds no probing
// logic of its own.
package probetest
