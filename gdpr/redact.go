package gdpr

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// numberSep is what people put between the digits of a phone number.
const numberSep = `[\s\x{00a0}\-.()/]*`

// Redactor replaces, in free text, every spelling of an erased account's
// phone number ("+1 555 000 0001", "(555) 000-0001", "0044 7911
// 123456", "07911 123456") and of its account id with its pseudonym.
type Redactor struct {
	pseudonym string
	patterns  []*regexp.Regexp
}

// NewRedactor returns the redactor of account (an id) with number (E.164,
// or "" when it has none).
func NewRedactor(account, number, pseudonym string) *Redactor {
	r := &Redactor{pseudonym: pseudonym}
	if account != "" {
		id := `(?i:` + regexp.QuoteMeta(account) + `)`
		if plain := strings.ReplaceAll(account, "-", ""); plain != account {
			id += `|(?i:` + regexp.QuoteMeta(plain) + `)`
		}
		r.patterns = append(r.patterns, regexp.MustCompile(`(^|[^0-9A-Za-z])(?:`+id+`)([^0-9A-Za-z]|$)`))
	}
	if cc, nsn := splitNumber(number); nsn != "" {
		// With or without the country code (after +, 00 or 011), and
		// a trunk 0, before the national number.
		n := `(?:(?:(?:\+|00|011)` + numberSep + `)?` + spaced(cc) + numberSep + `)?(?:0` + numberSep + `)?` + spaced(nsn)
		r.patterns = append(r.patterns, regexp.MustCompile(`(^|[^0-9+])`+n+`([^0-9]|$)`))
	}
	return r
}

// Redact returns text with the account's id and number replaced.
func (r *Redactor) Redact(text string) string {
	if r == nil {
		return text
	}
	for _, p := range r.patterns {
		// The characters around a match are kept as groups 1 and 2 (RE2
		// has no look-around), so two matches one character apart need
		// a second pass; a third would only follow a pseudonym that
		// happens to spell the number, which is left as it is.
		for range 2 {
			text = p.ReplaceAllString(text, "${1}"+r.pseudonym+"${2}")
		}
	}
	return text
}

// splitNumber returns an E.164 number's country code and national
// significant number ("", "" when it is not one).
func splitNumber(number string) (string, string) {
	if number == "" {
		return "", ""
	}
	n, err := phonenumbers.Parse(number, "ZZ")
	if err != nil {
		return "", ""
	}
	nsn := phonenumbers.GetNationalSignificantNumber(n)
	if len(nsn) < 4 {
		return "", ""
	}
	return strconv.Itoa(int(n.GetCountryCode())), nsn
}

// spaced is a pattern for digits with any separators between them.
func spaced(digits string) string {
	parts := strings.Split(digits, "")
	return strings.Join(parts, numberSep)
}
