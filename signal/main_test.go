package signal_test

import (
	"encoding/json"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func timeNow() time.Time { return time.Now() }
