package api

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// mustQuantity parses s or fails the test.
func mustQuantity(t testing.TB, s string) Quantity {
	t.Helper()
	q, err := ParseQuantity(s)
	if err != nil {
		t.Fatalf("ParseQuantity(%q): %v", s, err)
	}
	return q
}

func TestParseQuantity(t *testing.T) {
	tests := []struct {
		in         string
		value      int64 // Value(), rounded up
		milli      int64 // MilliValue()
		canonical  string
		wantString string // String(); "" means in
	}{
		{in: "0", value: 0, milli: 0, canonical: "0"},
		{in: "1", value: 1, milli: 1000, canonical: "1"},
		{in: "+1", value: 1, milli: 1000, canonical: "1"},
		{in: "100m", value: 1, milli: 100, canonical: "100m"},
		{in: "1000m", value: 1, milli: 1000, canonical: "1"},
		{in: "1.5", value: 2, milli: 1500, canonical: "1500m"},
		{in: "0.5", value: 1, milli: 500, canonical: "500m"},
		{in: ".5", value: 1, milli: 500, canonical: "500m"},
		{in: "5.", value: 5, milli: 5000, canonical: "5"},
		{in: "-1.5", value: -2, milli: -1500, canonical: "-1500m"},
		{in: "1n", value: 1, milli: 1, canonical: "1n"},
		{in: "1u", value: 1, milli: 1, canonical: "1u"},
		{in: "2k", value: 2000, milli: 2000000, canonical: "2k"},
		{in: "1M", value: 1000000, milli: 1000000000, canonical: "1M"},
		{in: "1G", value: 1e9, milli: 1e12, canonical: "1G"},
		{in: "1T", value: 1e12, milli: 1e15, canonical: "1T"},
		{in: "1P", value: 1e15, milli: 1e18, canonical: "1P"},
		{in: "1E", value: 1e18, milli: math.MaxInt64, canonical: "1E"},
		{in: "1Ki", value: 1024, milli: 1024000, canonical: "1Ki"},
		{in: "128Mi", value: 128 << 20, milli: 128 << 20 * 1000, canonical: "128Mi"},
		{in: "1.5Gi", value: 1610612736, milli: 1610612736000, canonical: "1536Mi"},
		{in: "0.5Ki", value: 512, milli: 512000, canonical: "512"},
		{in: "1Ti", value: 1 << 40, milli: 1 << 40 * 1000, canonical: "1Ti"},
		{in: "1Pi", value: 1 << 50, milli: 1 << 50 * 1000, canonical: "1Pi"},
		{in: "7Ei", value: 7 << 60, milli: math.MaxInt64, canonical: "7Ei"},
		{in: "1e3", value: 1000, milli: 1000000, canonical: "1k"},
		{in: "1E3", value: 1000, milli: 1000000, canonical: "1k"},
		{in: "1.5e+3", value: 1500, milli: 1500000, canonical: "1500"},
		{in: "25e-3", value: 1, milli: 25, canonical: "25m"},
		{in: "0.1m", value: 1, milli: 1, canonical: "100u"},
		{in: "000123", value: 123, milli: 123000, canonical: "123"},
		{in: "0.000000001", value: 1, milli: 1, canonical: "1n"},
		{in: "9223372036854775807", value: math.MaxInt64, milli: math.MaxInt64, canonical: "9223372036854775807"},
		{in: "0Gi", value: 0, milli: 0, canonical: "0"},
		{in: "1.000000000000000000000", value: 1, milli: 1000, canonical: "1"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			q := mustQuantity(t, tt.in)
			if got := q.Value(); got != tt.value {
				t.Errorf("Value() = %d, want %d", got, tt.value)
			}
			if got := q.MilliValue(); got != tt.milli {
				t.Errorf("MilliValue() = %d, want %d", got, tt.milli)
			}
			if got := q.canonical(); got != tt.canonical {
				t.Errorf("canonical() = %q, want %q", got, tt.canonical)
			}
			want := tt.wantString
			if want == "" {
				want = tt.in
			}
			if got := q.String(); got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
		})
	}
}

func TestParseQuantityErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string // part of the error
	}{
		{"", "empty"},
		{".", "want a number"},
		{"-", "want a number"},
		{"m", "want a number"},
		{"1x", "unknown suffix"},
		{"1 ", "unknown suffix"},
		{" 1", "want a number"},
		{"1KI", "unknown suffix"},
		{"1ki", "unknown suffix"},
		{"1e", "unknown suffix"},
		{"1e3.5", "unknown suffix"},
		{"1.2.3", "unknown suffix"},
		{"1e99999", "out of range"},
		{"1e30", "too large"},
		{"9223372036854775808", "too large"},
		{"8Ei", "too large"},
		{"0.0000000001", "too precise"},
		{"1e-10", "too precise"},
		{"--1", "want a number"},
		{"+-1", "want a number"},
		{strings.Repeat("1", 100), "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseQuantity(tt.in)
			if err == nil {
				t.Fatalf("ParseQuantity(%q) = nil error, want one containing %q", tt.in, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseQuantity(%q) error = %q, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestQuantityCmp(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "1000m", 0},
		{"1Ki", "1024", 0},
		{"1k", "1Ki", -1},
		{"1Gi", "1G", 1},
		{"100m", "0.1", 0},
		{"-1", "0", -1},
		{"-1.5", "-1.2", -1},
		{"-0.5", "0.3", -1},
		{"1n", "0", 1},
		{"2", "1999m", 1},
	}
	for _, tt := range tests {
		a, b := mustQuantity(t, tt.a), mustQuantity(t, tt.b)
		if got := a.Cmp(b); got != tt.want {
			t.Errorf("%s.Cmp(%s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := b.Cmp(a); got != -tt.want {
			t.Errorf("%s.Cmp(%s) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestQuantityIsZero(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{{"0", true}, {"0m", true}, {"-0", true}, {"0.000", true}, {"1n", false}, {"-1", false}} {
		if got := mustQuantity(t, tt.in).IsZero(); got != tt.want {
			t.Errorf("%q.IsZero() = %v, want %v", tt.in, got, tt.want)
		}
	}
	if !(Quantity{}).IsZero() || (Quantity{}).String() != "0" {
		t.Errorf("zero Quantity: IsZero %v, String %q; want true, \"0\"", (Quantity{}).IsZero(), (Quantity{}).String())
	}
}

func TestQuantityConstructors(t *testing.T) {
	tests := []struct {
		q    Quantity
		want string
	}{
		{NewQuantity(5), "5"},
		{NewQuantity(5000), "5k"},
		{NewMilliQuantity(250), "250m"},
		{NewMilliQuantity(2000), "2"},
		{NewMilliQuantity(-1500), "-1500m"},
		{NewBinaryQuantity(512 << 20), "512Mi"},
		{NewBinaryQuantity(1000), "1000"},
		{NewBinaryQuantity(0), "0"},
	}
	for _, tt := range tests {
		if got := tt.q.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	if got := NewMilliQuantity(250).MilliValue(); got != 250 {
		t.Errorf("NewMilliQuantity(250).MilliValue() = %d, want 250", got)
	}
}

func TestQuantityAddSub(t *testing.T) {
	tests := []struct {
		a, b     string
		sum, sub string
	}{
		{"100m", "900m", "1", "-800m"},
		{"1Gi", "512Mi", "1536Mi", "512Mi"},
		{"1", "1", "2", "0"},
		{"1.5", "-2", "-500m", "3500m"},
		{"9223372036854775807", "1", "9223372036854775807", "9223372036854775806"},
	}
	for _, tt := range tests {
		a, b := mustQuantity(t, tt.a), mustQuantity(t, tt.b)
		if got := a.Add(b).String(); got != tt.sum {
			t.Errorf("%s + %s = %s, want %s", tt.a, tt.b, got, tt.sum)
		}
		if got := a.Sub(b).String(); got != tt.sub {
			t.Errorf("%s - %s = %s, want %s", tt.a, tt.b, got, tt.sub)
		}
	}
}

func TestQuantityJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    string // String() after decoding
		wantErr bool
	}{
		{in: `"500m"`, want: "500m"},
		{in: `"1Gi"`, want: "1Gi"},
		{in: `2`, want: "2"},
		{in: `0.5`, want: "0.5"},
		{in: `1e3`, want: "1e3"},
		{in: `null`, want: "0"},
		{in: `"1x"`, wantErr: true},
		{in: `true`, wantErr: true},
		{in: `{}`, wantErr: true},
	}
	for _, tt := range tests {
		var q Quantity
		err := json.Unmarshal([]byte(tt.in), &q)
		if (err != nil) != tt.wantErr {
			t.Errorf("Unmarshal(%s) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && q.String() != tt.want {
			t.Errorf("Unmarshal(%s) = %q, want %q", tt.in, q.String(), tt.want)
		}
	}
	b, err := json.Marshal(ResourceList{ResourceCPU: mustQuantity(t, "250m"), ResourceMemory: NewBinaryQuantity(64 << 20)})
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if got, want := string(b), `{"cpu":"250m","memory":"64Mi"}`; got != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
}

// FuzzParseQuantity checks that whatever parses prints as given, survives
// JSON, and orders consistently.
func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"100m", "1.5Gi", "-2e3", "0", "9223372036854775807", ".5", "1E", "1e-9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuantity(s)
		if err != nil {
			return
		}
		if q.String() != s {
			t.Fatalf("String() = %q, want %q", q.String(), s)
		}
		if q.Cmp(q) != 0 {
			t.Fatalf("%q.Cmp(itself) = %d", s, q.Cmp(q))
		}
		c, err := ParseQuantity(q.canonical())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", q.canonical(), s, err)
		}
		if c.Cmp(q) != 0 {
			t.Fatalf("canonical form %q of %q has another value", q.canonical(), s)
		}
		b, err := json.Marshal(q)
		if err != nil {
			t.Fatalf("Marshal(%q): %v", s, err)
		}
		var back Quantity
		if err := json.Unmarshal(b, &back); err != nil || back != q {
			t.Fatalf("JSON round trip of %q = %v, %v", s, back, err)
		}
		if v, m := q.Value(), q.MilliValue(); q.Sign() > 0 && (v < 1 || m < 1) || q.Sign() < 0 && (v > -1 || m > -1) {
			t.Fatalf("%q: Value %d, MilliValue %d have the wrong sign", s, v, m)
		}
	})
}
