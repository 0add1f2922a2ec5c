// Package ratelimit bounds how often a thing may happen per key (a phone
// number, an account, a client address prefix), as token buckets.
//
// Shared buckets (Buckets, Shared) live in a Store that every node of a
// deployment uses, so that a limit holds across all nodes: each check is
// one atomic statement on the store (the generic cell rate algorithm, one
// number per bucket). Keyed buckets live in this process's memory, for
// limits that are per connection or on a hot path where a store round
// trip per check would cost too much; those hold per node.
//
// It never keeps a key as given: shared buckets are named by an HMAC of
// the limit's name and the key under a random secret kept in the store,
// and are deleted once they have refilled; in-memory buckets are named by
// a hash and dropped when idle.
package ratelimit
