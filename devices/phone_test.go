package devices

import (
	"testing"
)

func TestCheckNumber(t *testing.T) {
	test := map[string]string{"+15550000001": "111111"}
	tests := []struct {
		in string
		ok bool
	}{
		{"+14155552671", true},
		{"+447911123456", true},
		{"+15550000001", true}, // a test number, not a real one
		{"+15550000002", false},
		{"14155552671", false},
		{"+1 415 555 2671", false},
		{"+1415555267१", false}, // Devanagari digit
		{"＋14155552671", false}, // full-width plus
		{"+14155552671\u200f", false},
		{"+1415555\x002671", false},
		{"+0123456789", false},
		{"+1234567890123456", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if err := CheckNumber(tt.in, test); (err == nil) != tt.ok {
				t.Fatalf("CheckNumber(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

func FuzzCheckNumber(f *testing.F) {
	for _, s := range []string{"+14155552671", "+447911123456", "+1", "++1", "+٣٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckNumber(s, nil) != nil {
			return
		}
		if s[0] != '+' {
			t.Fatalf("accepted %q without +", s)
		}
		for _, r := range s[1:] {
			if r < '0' || r > '9' {
				t.Fatalf("accepted %q with %q", s, r)
			}
		}
	})
}

func TestParseUser(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"8b0f1c1f-8f5e-4c44-9a8e-0d5f7c8f9a1b.1", true},
		{"8b0f1c1f-8f5e-4c44-9a8e-0d5f7c8f9a1b.0", false},
		{"8b0f1c1f-8f5e-4c44-9a8e-0d5f7c8f9a1b", false},
		{"8B0F1C1F-8F5E-4C44-9A8E-0D5F7C8F9A1B.1", false},
		{"x.1", false},
		{"8b0f1c1f-8f5e-4c44-9a8e-0d5f7c8f9a1b.-1", false},
		{"8b0f1c1f-8f5e-4c44-9a8e-0d5f7c8f9a1b.99999999999", false},
	} {
		if _, ok := parseUser(tt.in); ok != tt.ok {
			t.Errorf("parseUser(%q) ok = %v, want %v", tt.in, ok, tt.ok)
		}
	}
}

func TestNormalizeNumber(t *testing.T) {
	test := map[string]string{"+15550000001": "111111"}
	tests := []struct{ in, want string }{
		{"+14155552671", "+14155552671"},
		{"+1 415 555 2671", "+14155552671"},
		{"+1 (415) 555-2671", "+14155552671"},
		{"+44 7911.123/456", "+447911123456"},
		{"+1 555 000 0001", "+15550000001"}, // a test number
		{"+1 555 000 0002", ""},
		{"1 415 555 2671", ""},
		{"(415) 555-2671", ""},
		{"+1 415 555 2671 ext 3", ""},
		{"+1\u00a0415 555 2671", ""}, // no-break space is not a separator we drop
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeNumber(tt.in, test)
			if (err == nil) != (tt.want != "") || got != tt.want {
				t.Fatalf("NormalizeNumber(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
