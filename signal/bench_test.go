package signal_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
)

// BenchmarkEncryptDecrypt1KiB: one 1 KiB message encrypted and decrypted
// on an established session, directions alternating so the ratchet turns.
func BenchmarkEncryptDecrypt1KiB(b *testing.B) {
	alice, bob, _ := pair(b, true, false)
	deliver(b, alice, bob, send(b, alice, bob, "one"))
	deliver(b, bob, alice, send(b, bob, alice, "ack"))
	msg := make([]byte, 1024)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(1024)
	i := 0
	for b.Loop() {
		from, to := alice, bob
		if i%2 == 1 {
			from, to = bob, alice
		}
		i++
		_, body, err := from.Cipher.Encrypt(ctx, to.Address, msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := to.Cipher.Decrypt(ctx, from.Address, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionSetup: PQXDH from Bob's bundle, Alice's first message
// and Bob setting up his side by decrypting it.
func BenchmarkSessionSetup(b *testing.B) {
	bob := newDevice(b, bobAddr, 2)
	alice := newDevice(b, aliceAddr, 1)
	bundle, err := bob.Bundle(false, true)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		// Each round starts from empty records.
		alice.Store.SetSessionBytes(bobAddr, nil)
		bob.Store.SetSessionBytes(aliceAddr, nil)
		if err := alice.Cipher.ProcessPreKeyBundle(ctx, bob.Address, bundle); err != nil {
			b.Fatal(err)
		}
		_, body, err := alice.Cipher.Encrypt(ctx, bob.Address, []byte("hello"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bob.Cipher.DecryptPreKey(ctx, alice.Address, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGroupEncrypt1KiB: one 1 KiB sender-key message.
func BenchmarkGroupEncrypt1KiB(b *testing.B) {
	d := newDevice(b, aliceAddr, 1)
	dist := uuid.New()
	ctx := context.Background()
	if _, err := d.Cipher.CreateSenderKeyDistribution(ctx, dist); err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 1024)
	b.ReportAllocs()
	b.SetBytes(1024)
	for b.Loop() {
		if _, err := d.Cipher.GroupEncrypt(ctx, dist, msg); err != nil {
			b.Fatal(err)
		}
	}
}
