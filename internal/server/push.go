package server

import (
	"context"

	"github.com/hushmsg/hush/push"
)

// ProvidersConfig holds the push services' credentials and endpoints.
type ProvidersConfig struct{}

// openProviders makes the push providers the configuration enables, and
// returns the Web Push application server key ("" without Web Push).
func openProviders(_ context.Context, _ Config) ([]push.Provider, string, error) {
	return nil, "", nil
}
