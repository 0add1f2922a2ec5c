// Package auth carries the authenticated device of a request through its
// context. The devices package authenticates; every other package reads the
// result here, so none of them depends on how credentials work.
package auth

import "context"

// Device names one authenticated device.
type Device struct {
	AccountID string
	DeviceID  uint32
}

// Primary reports whether the device is its account's primary (device 1).
func (d Device) Primary() bool { return d.DeviceID == PrimaryDeviceID }

// PrimaryDeviceID is the id of the device that registered the account.
const PrimaryDeviceID = 1

type ctxKey struct{}

// With returns ctx carrying d.
func With(ctx context.Context, d Device) context.Context { return context.WithValue(ctx, ctxKey{}, d) }

// From returns the authenticated device of ctx, if any.
func From(ctx context.Context) (Device, bool) {
	d, ok := ctx.Value(ctxKey{}).(Device)
	return d, ok
}
