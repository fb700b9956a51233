package build

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// processName is what Heroku allows as a process type name.
var processName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ParseProcfile reads a Procfile: one "name: command" per line, blank lines
// and "#" comments skipped. A name is letters, digits, "_" and "-"; an
// invalid line, an empty command or a repeated name is an error naming the
// line.
func ParseProcfile(r io.Reader) (map[string]string, error) {
	procs := map[string]string{}
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, cmd, ok := strings.Cut(line, ":")
		name, cmd = strings.TrimSpace(name), strings.TrimSpace(cmd)
		switch {
		case !ok:
			return nil, fmt.Errorf("Procfile line %d: want \"name: command\", got %q", n, line)
		case !processName.MatchString(name):
			return nil, fmt.Errorf("Procfile line %d: process type %q: use only letters, digits, _ and -", n, name)
		case cmd == "":
			return nil, fmt.Errorf("Procfile line %d: process type %q has no command", n, name)
		}
		if first, dup := seen[name]; dup {
			return nil, fmt.Errorf("Procfile line %d: process type %q is already defined on line %d", n, name, first)
		}
		seen[name] = n
		procs[name] = cmd
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read Procfile: %w", err)
	}
	return procs, nil
}

// ErrNoWeb is returned by RequireWeb when a Procfile defines no web process.
var ErrNoWeb = errors.New("the Procfile has no web process; add a line such as \"web: ./server\" (the process that listens on $PORT)")

// RequireWeb returns the web process's command, or ErrNoWeb.
func RequireWeb(procs map[string]string) (string, error) {
	web, ok := procs["web"]
	if !ok {
		return "", ErrNoWeb
	}
	return web, nil
}
