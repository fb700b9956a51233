package build

import (
	"errors"
	"fmt"
	"strings"
)

// vars is the set of variables a word is expanded against: the stage's ENV
// over its ARGs, as Docker orders them.
type vars map[string]string

// expander returns a function that expands one Dockerfile word against v
// the way Docker's shell lexer does for instructions other than RUN: quotes
// are removed, the escape token escapes the next character, and $NAME,
// ${NAME}, ${NAME:-word}, ${NAME-word}, ${NAME:+word}, ${NAME+word},
// ${NAME:?msg} and ${NAME?msg} are substituted. An unset variable expands to
// the empty string. The pattern modifiers #, % and / are refused.
func (v vars) expander(escape rune) func(string) (string, error) {
	return func(word string) (string, error) {
		w := &wordLexer{src: []rune(word), env: v, escape: escape}
		out, err := w.until(0)
		if err != nil {
			return "", fmt.Errorf("expand %q: %w", word, err)
		}
		return out, nil
	}
}

type wordLexer struct {
	src    []rune
	pos    int
	env    vars
	escape rune
}

const eof = -1

func (w *wordLexer) peek() rune {
	if w.pos >= len(w.src) {
		return eof
	}
	return w.src[w.pos]
}

func (w *wordLexer) next() rune {
	r := w.peek()
	if r != eof {
		w.pos++
	}
	return r
}

// until reads up to the stop rune (consumed), or to the end when stop is 0.
func (w *wordLexer) until(stop rune) (string, error) {
	var b strings.Builder
	for {
		ch := w.peek()
		switch {
		case ch == eof:
			if stop != 0 {
				return "", fmt.Errorf("syntax error: missing %q", stop)
			}
			return b.String(), nil
		case stop != 0 && ch == stop:
			w.next()
			return b.String(), nil
		case ch == '$':
			s, err := w.dollar()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		case ch == '\'':
			s, err := w.singleQuote()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		case ch == '"':
			s, err := w.doubleQuote()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		case ch == w.escape:
			w.next()
			if c := w.next(); c != eof {
				b.WriteRune(c)
			}
		default:
			b.WriteRune(w.next())
		}
	}
}

func (w *wordLexer) singleQuote() (string, error) {
	w.next()
	var b strings.Builder
	for {
		switch ch := w.next(); ch {
		case eof:
			return "", errors.New("unexpected end of word while looking for matching single-quote")
		case '\'':
			return b.String(), nil
		default:
			b.WriteRune(ch)
		}
	}
}

func (w *wordLexer) doubleQuote() (string, error) {
	w.next()
	var b strings.Builder
	for {
		switch w.peek() {
		case eof:
			return "", errors.New("unexpected end of word while looking for matching double-quote")
		case '"':
			w.next()
			return b.String(), nil
		case '$':
			s, err := w.dollar()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		default:
			ch := w.next()
			if ch == w.escape {
				switch w.peek() {
				case eof:
					continue
				case '"', '$', w.escape:
					ch = w.next()
				}
			}
			b.WriteRune(ch)
		}
	}
}

func (w *wordLexer) name() string {
	var b strings.Builder
	for {
		ch := w.peek()
		if ch == '_' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' && b.Len() > 0 {
			b.WriteRune(w.next())
			continue
		}
		return b.String()
	}
}

func (w *wordLexer) dollar() (string, error) {
	w.next()
	if w.peek() != '{' {
		n := w.name()
		if n == "" {
			return "$", nil
		}
		return w.env[n], nil
	}
	w.next()
	n := w.name()
	if n == "" {
		return "", errors.New("syntax error: bad substitution")
	}
	op := w.next()
	if op == '}' {
		return w.env[n], nil
	}
	nullIsUnset := false
	if op == ':' {
		nullIsUnset = true
		op = w.next()
	}
	switch op {
	case '-', '+', '?':
	case eof:
		return "", errors.New("syntax error: missing '}'")
	default:
		return "", fmt.Errorf("unsupported modifier %q in ${%s...}; skiff's builder supports :- - :+ + :? ?", op, n)
	}
	word, err := w.until('}')
	if err != nil {
		return "", err
	}
	value, set := w.env[n]
	empty := !set || nullIsUnset && value == ""
	switch op {
	case '-':
		if empty {
			return word, nil
		}
		return value, nil
	case '+':
		if empty {
			return "", nil
		}
		return word, nil
	default: // '?'
		if empty {
			if word == "" {
				word = "is not allowed to be unset or empty"
			}
			return "", fmt.Errorf("%s: %s", n, word)
		}
		return value, nil
	}
}
