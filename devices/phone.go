package devices

import (
	"net/http"
	"regexp"

	"github.com/nyaruka/phonenumbers"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/httpx"
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// CheckNumber accepts a phone number in canonical E.164 form ("+" and
// digits only) that libphonenumber holds valid, or one of the operator's
// test numbers.
func CheckNumber(number string, testNumbers map[string]string) error {
	if !e164.MatchString(number) {
		return httpx.Errorf(http.StatusBadRequest, api.CodeInvalidNumber, "phone number must be E.164, like +14155552671")
	}
	if _, ok := testNumbers[number]; ok {
		return nil
	}
	n, err := phonenumbers.Parse(number, "ZZ")
	if err != nil || !phonenumbers.IsValidNumber(n) || phonenumbers.Format(n, phonenumbers.E164) != number {
		return httpx.Errorf(http.StatusBadRequest, api.CodeInvalidNumber, "not a valid phone number")
	}
	return nil
}

// maskNumber keeps a number's last two digits for logs.
func maskNumber(number string) string {
	if len(number) < 4 {
		return "***"
	}
	return "+***" + number[len(number)-2:]
}

// NormalizeNumber turns a phone number written for people ("+1 (415)
// 555-2671", "+44 7911 123456") into the canonical E.164 form CheckNumber
// accepts, and checks it as CheckNumber does. Only spaces, hyphens, dots,
// slashes and parentheses are dropped, and only from a number that starts
// with "+": a national number cannot be placed without its country.
func NormalizeNumber(number string, testNumbers map[string]string) (string, error) {
	b := make([]byte, 0, len(number))
	for i := 0; i < len(number); i++ {
		switch c := number[i]; c {
		case ' ', '-', '.', '/', '(', ')':
		default:
			b = append(b, c)
		}
	}
	canonical := string(b)
	if err := CheckNumber(canonical, testNumbers); err != nil {
		return "", err
	}
	return canonical, nil
}
