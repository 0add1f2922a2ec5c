package bus

// NATSBuffer is natsBuffer, for the slow-consumer test.
const NATSBuffer = natsBuffer

// Flush waits until the server has processed what b sent (its
// subscriptions among them).
func (b *NATS) Flush() error { return b.nc.Flush() }

// Dropped reports whether NATS dropped messages that b has not resynced for.
func (b *NATS) Dropped() bool { return b.dropped.Load() }
