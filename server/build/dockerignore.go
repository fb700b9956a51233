package build

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
)

// Ignore is a parsed .dockerignore: patterns in order, the last one that
// matches a path deciding whether it is excluded. It follows Docker's rules
// (moby/patternmatcher): "#" starts a comment line, "!" re-includes, a
// leading "/" is dropped, "*" and "?" stay within one path element, "**"
// matches any number of elements, and a pattern that matches a directory
// matches everything under it.
type Ignore struct {
	patterns []ignorePattern
}

type ignorePattern struct {
	text      string
	exclusion bool // "!" pattern: re-include
	re        *regexp.Regexp
}

// ParseIgnore reads .dockerignore content.
func ParseIgnore(r io.Reader) (*Ignore, error) {
	ig := &Ignore{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		p := ignorePattern{}
		if line[0] == '!' {
			p.exclusion = true
			line = strings.TrimSpace(line[1:])
			if line == "" {
				return nil, fmt.Errorf(".dockerignore line %d: \"!\" needs a pattern after it", n)
			}
		}
		line = path.Clean(line)
		if len(line) > 1 && line[0] == '/' {
			line = line[1:]
		}
		re, err := compilePattern(line)
		if err != nil {
			return nil, fmt.Errorf(".dockerignore line %d: pattern %q: %w", n, line, err)
		}
		p.text, p.re = line, re
		ig.patterns = append(ig.patterns, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	return ig, nil
}

// compilePattern turns a pattern into an anchored regexp the way
// patternmatcher does.
func compilePattern(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		ch := rs[i]
		switch {
		case ch == '*' && i+1 < len(rs) && rs[i+1] == '*':
			i++
			if i+1 < len(rs) && rs[i+1] == '/' {
				i++
			}
			if i+1 >= len(rs) {
				b.WriteString(".*")
			} else {
				b.WriteString("(.*/)?")
			}
		case ch == '*':
			b.WriteString("[^/]*")
		case ch == '?':
			b.WriteString("[^/]")
		case ch == '\\':
			if i+1 < len(rs) {
				i++
				b.WriteString(regexp.QuoteMeta(string(rs[i])))
			} else {
				b.WriteString(`\\`)
			}
		case ch == '[' || ch == ']' || ch == '-' || ch == '^':
			b.WriteRune(ch)
		default:
			b.WriteString(regexp.QuoteMeta(string(ch)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// Excluded reports whether the slash-separated path rel (relative to the
// context root) is excluded: the last pattern matching it or one of its
// parent directories wins.
func (ig *Ignore) Excluded(rel string) bool {
	if ig == nil {
		return false
	}
	rel = path.Clean(rel)
	var parents []string
	for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
		parents = append(parents, d)
	}
	matched := false
	for _, p := range ig.patterns {
		if p.exclusion != matched {
			continue // cannot change the outcome
		}
		m := p.re.MatchString(rel)
		for i := len(parents) - 1; !m && i >= 0; i-- {
			m = p.re.MatchString(parents[i])
		}
		if m {
			matched = !p.exclusion
		}
	}
	return matched
}

// hasExclusions reports whether any "!" pattern exists, in which case an
// excluded directory must still be walked.
func (ig *Ignore) hasExclusions() bool {
	if ig == nil {
		return false
	}
	for _, p := range ig.patterns {
		if p.exclusion {
			return true
		}
	}
	return false
}
