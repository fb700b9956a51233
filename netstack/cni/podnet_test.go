package cni

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
)

// Helpers that put test traffic inside the test's own namespaces.

// serveInNetNS listens on addr inside the namespace at path and answers
// every connection with greeting. The socket keeps its namespace after
// the listening thread moves on.
func serveInNetNS(t testing.TB, path, addr, greeting string) {
	t.Helper()
	serveAnswer(t, path, addr, func(net.Conn) string { return greeting })
}

// serveAnswer is serveInNetNS with an answer made per connection.
func serveAnswer(t testing.TB, path, addr string, answer func(net.Conn) string) {
	t.Helper()
	var ln net.Listener
	err := ns.WithNetNSPath(path, func(ns.NetNS) error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, path, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, answer(c)+"\n")
			c.Close()
		}
	}()
}

// dialGreeting connects to addr (from the namespace at path, or from the
// node when path is empty) and returns the first line it reads.
func dialGreeting(path, addr string) (string, error) {
	var c net.Conn
	dial := func(ns.NetNS) error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}
	var err error
	if path == "" {
		err = dial(nil)
	} else {
		err = ns.WithNetNSPath(path, dial)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// natRulesOf returns the node's nat and filter rules that mention uid
// (the bridge's masquerade chain and portmap's DNAT chains carry it in
// their comments).
func natRulesOf(t testing.TB, uid string) []string {
	t.Helper()
	out, err := exec.Command("iptables-save").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save: %v: %s", err, out)
	}
	var rules []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, uid) {
			rules = append(rules, l)
		}
	}
	return rules
}

// isRefused reports whether err is a refused connection.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
