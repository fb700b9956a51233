package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// IntOrStringType says which of IntOrString's values is set.
type IntOrStringType int

// The IntOrString types.
const (
	IntType    IntOrStringType = iota // IntVal is set
	StringType                        // StrVal is set
)

// IntOrString holds an int or a string, and is written in JSON as
// whichever it holds, as Kubernetes' intstr.IntOrString: a port number or
// name (`targetPort: 8080`, `targetPort: http`), or a count or percentage
// (`maxSurge: 1`, `maxSurge: 25%`). The zero value is the int 0.
type IntOrString struct {
	Type   IntOrStringType
	IntVal int32
	StrVal string
}

// FromInt returns an IntOrString holding v.
func FromInt(v int32) IntOrString { return IntOrString{Type: IntType, IntVal: v} }

// FromString returns an IntOrString holding s.
func FromString(s string) IntOrString { return IntOrString{Type: StringType, StrVal: s} }

// ParseIntOrString returns an int if s is a decimal int32, else the
// string s.
func ParseIntOrString(s string) IntOrString {
	if v, err := strconv.ParseInt(s, 10, 32); err == nil {
		return FromInt(int32(v))
	}
	return FromString(s)
}

// String returns the value as text.
func (v IntOrString) String() string {
	if v.Type == StringType {
		return v.StrVal
	}
	return strconv.Itoa(int(v.IntVal))
}

// IntValue returns the int, or the string parsed as an int (0 if it is
// not one).
func (v IntOrString) IntValue() int {
	if v.Type == StringType {
		i, _ := strconv.Atoi(v.StrVal)
		return i
	}
	return int(v.IntVal)
}

// IsPercent reports whether v is a string of the form "25%".
func (v IntOrString) IsPercent() bool {
	_, ok := v.percent()
	return ok
}

// percent parses "N%" into N.
func (v IntOrString) percent() (int, bool) {
	if v.Type != StringType {
		return 0, false
	}
	s, ok := strings.CutSuffix(v.StrVal, "%")
	if !ok || s == "" {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > math.MaxInt32 {
		return 0, false
	}
	return n, true
}

// GetScaledValue returns v as a count out of total: an int as is, a
// percentage as that share of total, rounded up or down. Any other string
// is an error.
func (v IntOrString) GetScaledValue(total int, roundUp bool) (int, error) {
	if v.Type == IntType {
		return int(v.IntVal), nil
	}
	p, ok := v.percent()
	if !ok {
		return 0, fmt.Errorf("int or percentage %q: want an integer or a percentage such as 25%%", v.StrVal)
	}
	n := p * total
	if roundUp {
		return (n + 99) / 100, nil
	}
	return n / 100, nil
}

// MarshalJSON writes a JSON number or string.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.Type == StringType {
		return json.Marshal(v.StrVal)
	}
	return json.Marshal(v.IntVal)
}

// UnmarshalJSON reads a JSON number (an int32) or string.
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("int or string: %w", err)
		}
		*v = FromString(s)
		return nil
	}
	var i int32
	if err := json.Unmarshal(b, &i); err != nil {
		return fmt.Errorf("int or string: want an integer or a string, got %s", b)
	}
	*v = FromInt(i)
	return nil
}
