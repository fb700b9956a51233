package apiserver

import (
	"testing"
	"time"
)

func TestAgentTransports(t *testing.T) {
	p := &agentProxy{trs: map[agentKey]*agentTransport{}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := p.transport("n1", "u1", t0)
	if p.transport("n1", "u1", t0.Add(time.Minute)) != a {
		t.Error("the same node got a second transport")
	}
	if p.transport("n1", "u2", t0.Add(time.Minute)) == a {
		t.Error("a node registered again (new UID) kept the old transport")
	}
	// Long unused transports go at the next call after transportIdle.
	later := t0.Add(time.Minute + transportIdle + time.Second)
	p.transport("n2", "u3", later)
	if len(p.trs) != 1 {
		t.Errorf("after %s unused, %d transports kept, want only n2's", transportIdle, len(p.trs))
	}
	if _, ok := p.trs[agentKey{"n2", "u3"}]; !ok {
		t.Error("the transport just made was dropped")
	}
}
