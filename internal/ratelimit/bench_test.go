package ratelimit_test

import (
	"testing"

	"github.com/hushmsg/hush/internal/ratelimit"
	"github.com/hushmsg/hush/internal/storetest"
)

func BenchmarkMemory(b *testing.B) { storetest.BenchRateLimit(b, ratelimit.NewMemory()) }
