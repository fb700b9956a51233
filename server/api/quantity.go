package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// Quantity is an amount of a resource, written as Kubernetes writes it: a
// decimal number with an optional suffix. Decimal SI suffixes are n u m k
// M G T P E, binary ones Ki Mi Gi Ti Pi Ei, and an exponent is e3 or E3:
//
//	"500m" (half a CPU), "128Mi", "1.5G", "2e3", "100"
//
// A Quantity keeps the text it was parsed from, so it prints as the user
// wrote it. Its value is exact to 1n (10^-9) and at most 2^63-1 in
// magnitude; ParseQuantity rejects anything finer or larger rather than
// rounding silently. The zero Quantity is 0. Quantities are comparable
// values: copy them freely.
type Quantity struct {
	// s is the text the quantity was parsed from; "" means use the
	// canonical form.
	s string
	// whole and nano are the value's integer part and its billionths,
	// both with the value's sign (value = whole + nano/1e9).
	whole int64
	nano  int32
	// binary: print the canonical form with a binary suffix when exact.
	binary bool
}

// ResourceList maps resource names (ResourceCPU, ResourceMemory, …) to
// amounts, as in a container's requests and limits or a node's capacity.
type ResourceList map[string]Quantity

// The resource names skiff knows.
const (
	// ResourceCPU is in cores: "1", "250m".
	ResourceCPU = "cpu"
	// ResourceMemory is in bytes: "128Mi", "1G".
	ResourceMemory = "memory"
	// ResourcePods is the number of pods a node runs (capacity only).
	ResourcePods = "pods"
	// ResourceEphemeralStorage is local scratch disk in bytes.
	ResourceEphemeralStorage = "ephemeral-storage"
	// ResourceStorage is the size of a persistent volume claim.
	ResourceStorage = "storage"
)

// maxQuantityDigits bounds the digits ParseQuantity reads; any longer
// number is either too large or too precise to represent.
const maxQuantityDigits = 64

// ParseQuantity parses s in the Kubernetes quantity syntax.
func ParseQuantity(s string) (Quantity, error) {
	if s == "" {
		return Quantity{}, fmt.Errorf("quantity %q: empty", s)
	}
	rest := s
	negative := false
	switch rest[0] {
	case '+':
		rest = rest[1:]
	case '-':
		negative = true
		rest = rest[1:]
	}
	// The number: digits, optionally a point and more digits.
	intEnd := digitsEnd(rest, 0)
	intPart := rest[:intEnd]
	fracPart := ""
	end := intEnd
	if end < len(rest) && rest[end] == '.' {
		fracEnd := digitsEnd(rest, end+1)
		fracPart = rest[end+1 : fracEnd]
		end = fracEnd
	}
	if intPart == "" && fracPart == "" {
		return Quantity{}, fmt.Errorf("quantity %q: want a number such as 100, 0.5 or 250m", s)
	}
	suffix := rest[end:]
	exp10, binExp, binary, err := parseQuantitySuffix(suffix)
	if err != nil {
		return Quantity{}, fmt.Errorf("quantity %q: %w", s, err)
	}

	// mantissa * 10^exp10 * 2^binExp, with no leading or trailing zeros in
	// the mantissa.
	digits := strings.TrimLeft(intPart+fracPart, "0")
	exp10 -= int64(len(fracPart))
	for strings.HasSuffix(digits, "0") {
		digits = digits[:len(digits)-1]
		exp10++
	}
	q := Quantity{s: s, binary: binary}
	if digits == "" {
		return q, nil // zero, whatever the suffix
	}
	if len(digits) > maxQuantityDigits || exp10 > 40 || exp10 < -80 {
		return Quantity{}, fmt.Errorf("quantity %q: out of range: the value must be between 1n and 9223372036854775807 in magnitude", s)
	}
	// Scale to billionths: n = mantissa * 2^binExp * 10^(exp10+9).
	n, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return Quantity{}, fmt.Errorf("quantity %q: bad number", s)
	}
	n.Lsh(n, uint(binExp))
	if e := exp10 + 9; e >= 0 {
		n.Mul(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(e), nil))
	} else {
		div := new(big.Int).Exp(big.NewInt(10), big.NewInt(-e), nil)
		var rem big.Int
		n.QuoRem(n, div, &rem)
		if rem.Sign() != 0 {
			return Quantity{}, fmt.Errorf("quantity %q: too precise: the smallest step is 1n (0.000000001)", s)
		}
	}
	whole, nano, ok := fromNanos(n)
	if !ok {
		return Quantity{}, fmt.Errorf("quantity %q: too large: the largest is 9223372036854775807", s)
	}
	q.whole, q.nano = whole, nano
	if negative {
		q.whole, q.nano = -q.whole, -q.nano
	}
	return q, nil
}

// digitsEnd returns the index of the first non-digit in s at or after i.
func digitsEnd(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// parseQuantitySuffix returns the power of ten and the power of two a
// suffix stands for, and whether it is a binary suffix.
func parseQuantitySuffix(suffix string) (exp10 int64, exp2 int, binary bool, err error) {
	switch suffix {
	case "":
		return 0, 0, false, nil
	case "n":
		return -9, 0, false, nil
	case "u":
		return -6, 0, false, nil
	case "m":
		return -3, 0, false, nil
	case "k":
		return 3, 0, false, nil
	case "M":
		return 6, 0, false, nil
	case "G":
		return 9, 0, false, nil
	case "T":
		return 12, 0, false, nil
	case "P":
		return 15, 0, false, nil
	case "E":
		return 18, 0, false, nil
	case "Ki":
		return 0, 10, true, nil
	case "Mi":
		return 0, 20, true, nil
	case "Gi":
		return 0, 30, true, nil
	case "Ti":
		return 0, 40, true, nil
	case "Pi":
		return 0, 50, true, nil
	case "Ei":
		return 0, 60, true, nil
	}
	if suffix[0] == 'e' || suffix[0] == 'E' {
		e := suffix[1:]
		neg := false
		if e != "" && (e[0] == '+' || e[0] == '-') {
			neg = e[0] == '-'
			e = e[1:]
		}
		if e != "" && digitsEnd(e, 0) == len(e) {
			e = strings.TrimLeft(e, "0")
			if len(e) > 4 {
				return 0, 0, false, fmt.Errorf("exponent %q out of range", suffix)
			}
			var v int64
			for _, c := range e {
				v = v*10 + int64(c-'0')
			}
			if neg {
				v = -v
			}
			return v, 0, false, nil
		}
	}
	return 0, 0, false, fmt.Errorf("unknown suffix %q: want one of n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or an exponent such as e3", suffix)
}

// NewQuantity returns the quantity v, printed as a plain integer.
func NewQuantity(v int64) Quantity {
	return Quantity{whole: v}
}

// NewMilliQuantity returns the quantity m/1000 (for CPU: m millicores),
// printed as "250m", or "2" when whole.
func NewMilliQuantity(m int64) Quantity {
	return Quantity{whole: m / 1000, nano: int32(m%1000) * 1e6}
}

// NewBinaryQuantity returns the quantity v (bytes, say), printed with the
// largest binary suffix that divides it exactly: "512Mi".
func NewBinaryQuantity(v int64) Quantity {
	return Quantity{whole: v, binary: true}
}

// String returns the quantity as the user wrote it, or its canonical form
// for a computed one.
func (q Quantity) String() string {
	if q.s != "" {
		return q.s
	}
	return q.canonical()
}

// canonical prints q with the largest suffix that keeps it exact.
func (q Quantity) canonical() string {
	if q.whole == 0 && q.nano == 0 {
		return "0"
	}
	if q.binary && q.nano == 0 {
		v := q.whole
		suffixes := []string{"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
		i := 0
		for i < len(suffixes)-1 && v%1024 == 0 {
			v /= 1024
			i++
		}
		return fmt.Sprintf("%d%s", v, suffixes[i])
	}
	// Work in billionths with big.Int: whole*1e9 may overflow int64.
	n := q.nanos()
	suffixes := []string{"n", "u", "m", "", "k", "M", "G", "T", "P", "E"}
	thousand := big.NewInt(1000)
	i := 0
	var quo, rem big.Int
	for i < len(suffixes)-1 {
		quo.QuoRem(n, thousand, &rem)
		if rem.Sign() != 0 {
			break
		}
		n.Set(&quo)
		i++
	}
	return n.String() + suffixes[i]
}

// Value returns q rounded up, away from zero, to a whole number: 1.2 is 2
// and -1.2 is -2.
func (q Quantity) Value() int64 {
	switch {
	case q.nano > 0 && q.whole < math.MaxInt64:
		return q.whole + 1
	case q.nano < 0 && q.whole > math.MinInt64:
		return q.whole - 1
	}
	return q.whole
}

// MilliValue returns q in thousandths, rounded up away from zero: "250m"
// is 250, "1" is 1000. It saturates at the int64 limits.
func (q Quantity) MilliValue() int64 {
	const limit = math.MaxInt64 / 1000
	if q.whole > limit || q.whole < -limit {
		if q.whole > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	m := q.whole*1000 + int64(q.nano/1e6)
	if q.nano%1e6 > 0 {
		m++
	} else if q.nano%1e6 < 0 {
		m--
	}
	return m
}

// Cmp returns -1, 0 or +1 as q is less than, equal to or greater than o.
func (q Quantity) Cmp(o Quantity) int {
	switch {
	case q.whole < o.whole:
		return -1
	case q.whole > o.whole:
		return 1
	case q.nano < o.nano:
		return -1
	case q.nano > o.nano:
		return 1
	}
	return 0
}

// Equal reports whether q and o have the same value, however written.
func (q Quantity) Equal(o Quantity) bool { return q.Cmp(o) == 0 }

// IsZero reports whether q is 0.
func (q Quantity) IsZero() bool { return q.whole == 0 && q.nano == 0 }

// Sign returns -1, 0 or +1 as q is negative, zero or positive.
func (q Quantity) Sign() int { return q.Cmp(Quantity{}) }

// Add returns q+o in canonical form, saturating at the limits. The result
// prints with a binary suffix if q was written with one.
func (q Quantity) Add(o Quantity) Quantity {
	n := q.nanos()
	n.Add(n, o.nanos())
	r := Quantity{binary: q.binary}
	whole, nano, ok := fromNanos(n)
	switch {
	case ok:
		r.whole, r.nano = whole, nano
	case n.Sign() > 0:
		r.whole = math.MaxInt64
	default:
		r.whole = -math.MaxInt64
	}
	return r
}

// nanos returns q in billionths.
func (q Quantity) nanos() *big.Int {
	n := new(big.Int).Mul(big.NewInt(q.whole), big.NewInt(1e9))
	return n.Add(n, big.NewInt(int64(q.nano)))
}

// fromNanos splits billionths into a quantity's whole and nano parts; ok
// is false if the value is beyond ±(2^63-1).
func fromNanos(n *big.Int) (whole int64, nano int32, ok bool) {
	var w, f big.Int
	w.QuoRem(n, big.NewInt(1e9), &f)
	if !w.IsInt64() || w.Int64() == math.MinInt64 {
		return 0, 0, false
	}
	return w.Int64(), int32(f.Int64()), true
}

// Sub returns q-o, as Add does.
func (q Quantity) Sub(o Quantity) Quantity {
	return q.Add(Quantity{whole: -o.whole, nano: -o.nano})
}

// MarshalJSON writes q as a JSON string.
func (q Quantity) MarshalJSON() ([]byte, error) {
	return json.Marshal(q.String())
}

// UnmarshalJSON reads a JSON string, a JSON number (as Kubernetes does:
// `cpu: 2` in YAML), or null (zero).
func (q *Quantity) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*q = Quantity{}
		return nil
	}
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("quantity: %w", err)
		}
	} else {
		s = string(b)
	}
	v, err := ParseQuantity(s)
	if err != nil {
		return err
	}
	*q = v
	return nil
}
