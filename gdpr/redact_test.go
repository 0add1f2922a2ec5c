package gdpr

import "testing"

func TestRedact(t *testing.T) {
	const account, p = "0f8fad5b-d9cb-469f-a165-70867728950e", "subj_x"
	r := NewRedactor(account, "+15550000001", p)
	uk := NewRedactor(account, "+447911123456", p)
	tests := []struct {
		r        *Redactor
		in, want string
	}{
		{r, "+15550000001", p},
		{r, "subject +1 555 000 0001, called back", "subject " + p + ", called back"},
		{r, "(555) 000-0001 and 555.000.0001", "(" + p + " and " + p},
		{r, "5550000001/15550000001", p + "/" + p},
		{r, "001 555 000 0001", p},
		{r, "ref15550000001.", "ref" + p + "."},
		{r, "id 0F8FAD5B-D9CB-469F-A165-70867728950E and 0f8fad5bd9cb469fa16570867728950e", "id " + p + " and " + p},
		{r, "+15550000001 +15550000001", p + " " + p},
		{r, "+155500000012", "+155500000012"}, // a longer number
		{r, "25550000001", "25550000001"},     // another country
		{r, "5550000002", "5550000002"},
		{r, "x0f8fad5b-d9cb-469f-a165-70867728950ex", "x0f8fad5b-d9cb-469f-a165-70867728950ex"},
		{uk, "07911 123456; +44 (0)7911 123456? 0044 7911 123 456", p + "; " + p + "? " + p},
		{r, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := tt.r.Redact(tt.in); got != tt.want {
				t.Fatalf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
