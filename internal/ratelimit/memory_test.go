package ratelimit_test

import (
	"testing"

	"github.com/hushmsg/hush/internal/ratelimit"
	"github.com/hushmsg/hush/internal/storetest"
)

func TestMemoryConforms(t *testing.T) { storetest.RateLimits(t, ratelimit.NewMemory()) }
