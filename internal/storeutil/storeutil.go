// Package storeutil holds the few things every store backend shares and
// that belong to no domain: a not-found error every domain recognises, and
// the coarse day of a time.
package storeutil

import (
	"time"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/envelope"
	"github.com/hushmsg/hush/keys"
)

// ErrNoAccount matches devices.ErrNotFound, keys.ErrNotFound and
// envelope.ErrNotFound, for store methods that serve several domains.
var ErrNoAccount error = noAccount{}

type noAccount struct{}

func (noAccount) Error() string { return "account not found" }
func (noAccount) Is(target error) bool {
	return target == devices.ErrNotFound || target == keys.ErrNotFound || target == envelope.ErrNotFound
}

// DayOf returns the Unix time of the start of t's UTC day.
func DayOf(t time.Time) int64 { return t.UTC().Truncate(24 * time.Hour).Unix() }
