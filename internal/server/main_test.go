package server_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// node the tests start must drain completely.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
