//go:build !unix

package main

// lockHome does not lock where flock is missing: one process per home is
// then up to the user.
func lockHome(string) (func(), error) { return func() {}, nil }
