package api

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Selector matches a set of labels (or, for field selectors, of selectable
// fields).
type Selector interface {
	Matches(set map[string]string) bool
	// Empty reports whether it matches everything.
	Empty() bool
	// String renders it in a canonical form that parses back to an equal
	// selector.
	String() string
	// RequiresExactMatch reports the value key must have, if there is one.
	RequiresExactMatch(key string) (value string, ok bool)
}

// Operators of a selector requirement.
const (
	OpEquals       = "="
	OpNotEquals    = "!="
	OpIn           = "in"
	OpNotIn        = "notin"
	OpExists       = "exists"
	OpDoesNotExist = "!"
)

// requirement is one term of a selector.
type requirement struct {
	key    string
	op     string
	values []string // sorted; one value for = and !=
}

func (r requirement) matches(set map[string]string) bool {
	v, has := set[r.key]
	switch r.op {
	case OpEquals:
		return has && v == r.values[0]
	case OpNotEquals:
		return !has || v != r.values[0]
	case OpIn:
		return has && contains(r.values, v)
	case OpNotIn:
		return !has || !contains(r.values, v)
	case OpExists:
		return has
	case OpDoesNotExist:
		return !has
	}
	return false
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

func (r requirement) String() string {
	switch r.op {
	case OpEquals, OpNotEquals:
		return r.key + r.op + r.values[0]
	case OpIn, OpNotIn:
		return r.key + " " + r.op + " (" + strings.Join(r.values, ",") + ")"
	case OpExists:
		return r.key
	default:
		return "!" + r.key
	}
}

// selector is the conjunction of its requirements; nothing marks a
// selector that matches nothing (a nil LabelSelector).
type selector struct {
	reqs    []requirement
	nothing bool
	field   bool // a field selector: values are escaped when printed
}

func (s *selector) Matches(set map[string]string) bool {
	if s.nothing {
		return false
	}
	for _, r := range s.reqs {
		if !r.matches(set) {
			return false
		}
	}
	return true
}

func (s *selector) Empty() bool { return !s.nothing && len(s.reqs) == 0 }

func (s *selector) String() string {
	parts := make([]string, len(s.reqs))
	for i, r := range s.reqs {
		if s.field {
			parts[i] = r.key + r.op + escapeFieldValue(r.values[0])
		} else {
			parts[i] = r.String()
		}
	}
	return strings.Join(parts, ",")
}

func (s *selector) RequiresExactMatch(key string) (string, bool) {
	for _, r := range s.reqs {
		if r.key != key {
			continue
		}
		if r.op == OpEquals || (r.op == OpIn && len(r.values) == 1) {
			return r.values[0], true
		}
	}
	return "", false
}

func (s *selector) sort() {
	sort.SliceStable(s.reqs, func(i, j int) bool {
		if s.reqs[i].key != s.reqs[j].key {
			return s.reqs[i].key < s.reqs[j].key
		}
		return s.reqs[i].String() < s.reqs[j].String()
	})
}

// Everything returns a selector that matches every set.
func Everything() Selector { return &selector{} }

// Nothing returns a selector that matches no set.
func Nothing() Selector { return &selector{nothing: true} }

// SelectorFromSet returns a selector requiring every key=value of set.
func SelectorFromSet(set map[string]string) Selector {
	s := &selector{}
	for k, v := range set {
		s.reqs = append(s.reqs, requirement{key: k, op: OpEquals, values: []string{v}})
	}
	s.sort()
	return s
}

func selectorError(input string, pos int, format string, args ...any) error {
	return fmt.Errorf("selector %q at %d: %s: %w", input, pos, fmt.Sprintf(format, args...), errdefs.ErrBadRequest)
}

// ParseSelector parses a label selector: comma-separated requirements
// `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`.
func ParseSelector(input string) (Selector, error) {
	p := &labelParser{in: input}
	s := &selector{}
	p.space()
	if p.eof() {
		return s, nil
	}
	for {
		r, err := p.requirement()
		if err != nil {
			return nil, err
		}
		s.reqs = append(s.reqs, r)
		p.space()
		if p.eof() {
			break
		}
		if p.in[p.pos] != ',' {
			return nil, selectorError(input, p.pos, "expected ',' between requirements")
		}
		p.pos++
		p.space()
	}
	s.sort()
	return s, nil
}

type labelParser struct {
	in  string
	pos int
}

func (p *labelParser) eof() bool { return p.pos >= len(p.in) }

func (p *labelParser) space() {
	for !p.eof() && (p.in[p.pos] == ' ' || p.in[p.pos] == '\t') {
		p.pos++
	}
}

// word reads up to a delimiter.
func (p *labelParser) word() string {
	start := p.pos
	for !p.eof() && !strings.ContainsRune(" \t,=!()", rune(p.in[p.pos])) {
		p.pos++
	}
	return p.in[start:p.pos]
}

func (p *labelParser) key() (string, error) {
	start := p.pos
	k := p.word()
	if k == "" {
		return "", selectorError(p.in, start, "expected a label key")
	}
	if errs := IsQualifiedName(k); len(errs) > 0 {
		return "", selectorError(p.in, start, "invalid label key %q: %s", k, errs[0])
	}
	return k, nil
}

func (p *labelParser) value() (string, error) {
	start := p.pos
	v := p.word()
	if errs := IsValidLabelValue(v); len(errs) > 0 {
		return "", selectorError(p.in, start, "invalid label value %q: %s", v, errs[0])
	}
	return v, nil
}

func (p *labelParser) requirement() (requirement, error) {
	if !p.eof() && p.in[p.pos] == '!' {
		p.pos++
		p.space()
		k, err := p.key()
		if err != nil {
			return requirement{}, err
		}
		return requirement{key: k, op: OpDoesNotExist}, nil
	}
	k, err := p.key()
	if err != nil {
		return requirement{}, err
	}
	p.space()
	if p.eof() || p.in[p.pos] == ',' {
		return requirement{key: k, op: OpExists}, nil
	}
	opPos := p.pos
	var op string
	switch {
	case strings.HasPrefix(p.in[p.pos:], "=="):
		op, p.pos = OpEquals, p.pos+2
	case strings.HasPrefix(p.in[p.pos:], "!="):
		op, p.pos = OpNotEquals, p.pos+2
	case p.in[p.pos] == '=':
		op, p.pos = OpEquals, p.pos+1
	default:
		w := p.word()
		switch w {
		case "in":
			op = OpIn
		case "notin":
			op = OpNotIn
		default:
			return requirement{}, selectorError(p.in, opPos, "expected =, ==, !=, in or notin after %q", k)
		}
	}
	p.space()
	if op == OpEquals || op == OpNotEquals {
		v, err := p.value()
		if err != nil {
			return requirement{}, err
		}
		return requirement{key: k, op: op, values: []string{v}}, nil
	}
	if p.eof() || p.in[p.pos] != '(' {
		return requirement{}, selectorError(p.in, p.pos, "expected '(' after %s", op)
	}
	p.pos++
	var values []string
	for {
		p.space()
		v, err := p.value()
		if err != nil {
			return requirement{}, err
		}
		values = append(values, v)
		p.space()
		if p.eof() {
			return requirement{}, selectorError(p.in, p.pos, "missing ')'")
		}
		if p.in[p.pos] == ')' {
			p.pos++
			break
		}
		if p.in[p.pos] != ',' {
			return requirement{}, selectorError(p.in, p.pos, "expected ',' or ')' in the value list")
		}
		p.pos++
	}
	values = uniqueSorted(values)
	if len(values) == 1 && values[0] == "" {
		return requirement{}, selectorError(p.in, p.pos-1, "the value list of %s is empty", op)
	}
	return requirement{key: k, op: op, values: values}, nil
}

func uniqueSorted(vs []string) []string {
	sort.Strings(vs)
	out := vs[:0]
	for i, v := range vs {
		if i == 0 || v != vs[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// ParseFieldSelector parses a field selector: comma-separated `k=v`,
// `k==v` or `k!=v`, where '\' escapes ',', '=', '!' and '\' in values.
func ParseFieldSelector(input string) (Selector, error) {
	s := &selector{field: true}
	if strings.TrimSpace(input) == "" {
		return s, nil
	}
	for _, term := range splitUnescaped(input, ',') {
		t := strings.TrimSpace(term)
		var key, op, raw string
		switch i := indexUnescapedOp(t); {
		case i < 0:
			return nil, fmt.Errorf("field selector %q: term %q has no =, == or !=: %w", input, t, errdefs.ErrBadRequest)
		case strings.HasPrefix(t[i:], "!="):
			key, op, raw = t[:i], OpNotEquals, t[i+2:]
		case strings.HasPrefix(t[i:], "=="):
			key, op, raw = t[:i], OpEquals, t[i+2:]
		default:
			key, op, raw = t[:i], OpEquals, t[i+1:]
		}
		key = strings.TrimSpace(key)
		if key == "" {
			return nil, fmt.Errorf("field selector %q: term %q has no field name: %w", input, t, errdefs.ErrBadRequest)
		}
		if !fieldPathRE.MatchString(key) {
			return nil, fmt.Errorf("field selector %q: %q is not a field path like spec.nodeName: %w", input, key, errdefs.ErrBadRequest)
		}
		v, err := unescapeFieldValue(raw)
		if err != nil {
			return nil, fmt.Errorf("field selector %q: %v: %w", input, err, errdefs.ErrBadRequest)
		}
		s.reqs = append(s.reqs, requirement{key: key, op: op, values: []string{v}})
	}
	s.sort()
	return s, nil
}

var fieldPathRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// splitUnescaped splits s at sep characters not preceded by a backslash.
func splitUnescaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// indexUnescapedOp finds the first unescaped '=' or "!=".
func indexUnescapedOp(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '=':
			return i
		case '!':
			if i+1 < len(s) && s[i+1] == '=' {
				return i
			}
		}
	}
	return -1
}

func unescapeFieldValue(s string) (string, error) {
	if !strings.ContainsAny(s, `\=,`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 == len(s) {
				return "", fmt.Errorf("value %q ends in a lone '\\'", s)
			}
			i++
			switch s[i] {
			case '\\', ',', '=', '!':
				b.WriteByte(s[i])
			default:
				return "", fmt.Errorf("value %q has an invalid escape \\%c", s, s[i])
			}
		case '=', ',':
			return "", fmt.Errorf("value %q has an unescaped %q", s, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func escapeFieldValue(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `,`, `\,`, `=`, `\=`, `!`, `\!`)
	return r.Replace(s)
}

// LabelSelector is the selector of a workload: matchLabels and
// matchExpressions, all of which must hold.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one expression of a LabelSelector.
type LabelSelectorRequirement struct {
	Key string `json:"key"`
	// Operator is In, NotIn, Exists or DoesNotExist.
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// LabelSelectorAsSelector converts ls. A nil selector matches nothing and
// an empty one everything, as in Kubernetes.
func LabelSelectorAsSelector(ls *LabelSelector) (Selector, error) {
	if ls == nil {
		return Nothing(), nil
	}
	if errs := ValidateLabelSelector(ls, "selector"); len(errs) > 0 {
		return nil, errs
	}
	s := &selector{}
	for k, v := range ls.MatchLabels {
		s.reqs = append(s.reqs, requirement{key: k, op: OpEquals, values: []string{v}})
	}
	for _, e := range ls.MatchExpressions {
		r := requirement{key: e.Key}
		switch e.Operator {
		case "In":
			r.op, r.values = OpIn, uniqueSorted(append([]string(nil), e.Values...))
		case "NotIn":
			r.op, r.values = OpNotIn, uniqueSorted(append([]string(nil), e.Values...))
		case "Exists":
			r.op = OpExists
		case "DoesNotExist":
			r.op = OpDoesNotExist
		}
		s.reqs = append(s.reqs, r)
	}
	s.sort()
	return s, nil
}

// ValidateLabelSelector checks ls's keys, values and operators.
func ValidateLabelSelector(ls *LabelSelector, path string) FieldErrors {
	if ls == nil {
		return nil
	}
	errs := ValidateLabels(ls.MatchLabels, path+".matchLabels")
	for i, e := range ls.MatchExpressions {
		p := fmt.Sprintf("%s.matchExpressions[%d]", path, i)
		for _, msg := range IsQualifiedName(e.Key) {
			errs = append(errs, Invalid(p+".key", e.Key, msg))
		}
		switch e.Operator {
		case "In", "NotIn":
			if len(e.Values) == 0 {
				errs = append(errs, Required(p+".values", "must be specified when operator is In or NotIn"))
			}
		case "Exists", "DoesNotExist":
			if len(e.Values) > 0 {
				errs = append(errs, Forbidden(p+".values", "may not be specified when operator is Exists or DoesNotExist"))
			}
		default:
			errs = append(errs, NotSupported(p+".operator", e.Operator, "In", "NotIn", "Exists", "DoesNotExist"))
		}
		for j, v := range e.Values {
			for _, msg := range IsValidLabelValue(v) {
				errs = append(errs, Invalid(fmt.Sprintf("%s.values[%d]", p, j), v, msg))
			}
		}
	}
	return errs
}
