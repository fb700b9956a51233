package api

import (
	"encoding/json"
	"testing"
)

func TestIntOrStringJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    IntOrString
		wantErr bool
	}{
		{in: `8080`, want: FromInt(8080)},
		{in: `"http"`, want: FromString("http")},
		{in: `"25%"`, want: FromString("25%")},
		{in: `"8080"`, want: FromString("8080")},
		{in: `-1`, want: FromInt(-1)},
		{in: `1.5`, wantErr: true},
		{in: `4294967296`, wantErr: true},
		{in: `true`, wantErr: true},
	}
	for _, tt := range tests {
		var got IntOrString
		err := json.Unmarshal([]byte(tt.in), &got)
		if (err != nil) != tt.wantErr {
			t.Errorf("Unmarshal(%s) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if got != tt.want {
			t.Errorf("Unmarshal(%s) = %+v, want %+v", tt.in, got, tt.want)
		}
		b, err := json.Marshal(got)
		if err != nil || string(b) != tt.in {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", got, b, err, tt.in)
		}
	}
}

func TestIntOrStringGetScaledValue(t *testing.T) {
	tests := []struct {
		v       IntOrString
		total   int
		roundUp bool
		want    int
		wantErr bool
	}{
		{v: FromInt(3), total: 10, want: 3},
		{v: FromString("25%"), total: 10, roundUp: true, want: 3},
		{v: FromString("25%"), total: 10, roundUp: false, want: 2},
		{v: FromString("100%"), total: 7, want: 7},
		{v: FromString("0%"), total: 7, roundUp: true, want: 0},
		{v: FromString("50%"), total: 0, roundUp: true, want: 0},
		{v: FromString("150%"), total: 2, want: 3},
		{v: FromString("25"), total: 10, wantErr: true},
		{v: FromString("%"), total: 10, wantErr: true},
		{v: FromString("-5%"), total: 10, wantErr: true},
		{v: FromString("abc%"), total: 10, wantErr: true},
	}
	for _, tt := range tests {
		got, err := tt.v.GetScaledValue(tt.total, tt.roundUp)
		if (err != nil) != tt.wantErr {
			t.Errorf("%v.GetScaledValue(%d, %v) error = %v, want error %v", tt.v, tt.total, tt.roundUp, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("%v.GetScaledValue(%d, %v) = %d, want %d", tt.v, tt.total, tt.roundUp, got, tt.want)
		}
	}
}

func TestParseIntOrString(t *testing.T) {
	tests := []struct {
		in   string
		want IntOrString
	}{
		{"80", FromInt(80)},
		{"http", FromString("http")},
		{"10%", FromString("10%")},
		{"99999999999", FromString("99999999999")},
	}
	for _, tt := range tests {
		if got := ParseIntOrString(tt.in); got != tt.want {
			t.Errorf("ParseIntOrString(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if got := ParseIntOrString(tt.in).String(); got != tt.in {
			t.Errorf("ParseIntOrString(%q).String() = %q", tt.in, got)
		}
	}
	if got := FromString("42").IntValue(); got != 42 {
		t.Errorf(`FromString("42").IntValue() = %d, want 42`, got)
	}
}
