package spqr

import "log/slog"

// The types holding key material log as redacted, with at most the
// non-secret position of the ratchet.

func (s *pqState) LogValue() slog.Value {
	if s.v1 == nil {
		return slog.StringValue("spqr state: version 0")
	}
	return s.v1.LogValue()
}

func (b *braid) LogValue() slog.Value {
	return slog.GroupValue(slog.String("state", b.kind.String()), slog.Uint64("epoch", b.epoch),
		slog.String("keys", "REDACTED"))
}

func (c *chain) LogValue() slog.Value {
	return slog.GroupValue(slog.Uint64("epoch", c.currentEpoch), slog.String("keys", "REDACTED"))
}

func (authenticator) LogValue() slog.Value { return slog.StringValue("REDACTED") }

func (kemKeys) LogValue() slog.Value { return slog.StringValue("REDACTED") }

func (k stateKind) String() string {
	names := [...]string{"none", "keysUnsampled", "keysSampled", "headerSent", "ct1Received",
		"ekSentCt1Received", "noHeaderReceived", "headerReceived", "ct1Sampled",
		"ekReceivedCt1Sampled", "ct1Acknowledged", "ct2Sampled"}
	if k >= 0 && int(k) < len(names) {
		return names[k]
	}
	return "unknown"
}
