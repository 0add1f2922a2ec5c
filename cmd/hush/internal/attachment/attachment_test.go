package attachment_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/hushmsg/hush/cmd/hush/internal/attachment"
)

func assert(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func random(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// seal encrypts plain and returns the blob and digest.
func seal(t testing.TB, plain []byte, key attachment.Key) ([]byte, []byte) {
	t.Helper()
	var blob bytes.Buffer
	digest, err := attachment.Encrypt(&blob, bytes.NewReader(plain), int64(len(plain)), key)
	noErr(t, err)
	return blob.Bytes(), digest
}

func open(blob []byte, key attachment.Key, digest []byte, size int64) ([]byte, error) {
	r, err := attachment.Open(bytes.NewReader(blob), int64(len(blob)), key, digest, size)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	const part = 8 << 20 // the server's part size
	for _, size := range []int{0, 1, 15, 16, 17, 540, 541, 542, 64<<10 - 1, 64 << 10, 64<<10 + 1, part - 1, part, part + 1, 3<<20 + 7} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			plain, key := random(t, size), attachment.NewKey()
			blob, digest := seal(t, plain, key)
			assert(t, int64(len(blob)) == attachment.EncryptedSize(int64(size)), "blob of %d bytes, want %d", len(blob), attachment.EncryptedSize(int64(size)))
			assert(t, len(digest) == attachment.DigestSize, "digest of %d bytes", len(digest))
			sum := sha256.Sum256(blob)
			assert(t, bytes.Equal(sum[:], digest), "digest is not SHA-256 of the blob")
			got, err := open(blob, key, digest, int64(size))
			noErr(t, err)
			assert(t, bytes.Equal(got, plain), "round trip of %d bytes differs", size)
			if size >= 32 {
				assert(t, !bytes.Contains(blob, plain[:32]), "plaintext visible in the blob")
			}
		})
	}
}

func TestSameInputTwiceGivesOtherBlobs(t *testing.T) {
	t.Parallel()
	plain, key := []byte("same plaintext, same key"), attachment.NewKey()
	a, _ := seal(t, plain, key)
	b, _ := seal(t, plain, key)
	assert(t, !bytes.Equal(a, b), "two encryptions are equal: the IV is not fresh")
	assert(t, !bytes.Equal(attachment.NewKey(), attachment.NewKey()), "two keys are equal")
}

func TestTamperingIsRejected(t *testing.T) {
	t.Parallel()
	plain := []byte(strings.Repeat("attack at dawn ", 100))
	key := attachment.NewKey()
	blob, digest := seal(t, plain, key)
	size := int64(len(plain))
	flip := func(i int) []byte {
		b := bytes.Clone(blob)
		b[i] ^= 1
		return b
	}
	otherKey := attachment.NewKey()
	tests := []struct {
		name   string
		blob   []byte
		key    attachment.Key
		digest []byte
		size   int64
		want   error
	}{
		{"iv bit", flip(0), key, digest, size, attachment.ErrMAC},
		{"ciphertext bit", flip(100), key, digest, size, attachment.ErrMAC},
		{"last block bit", flip(len(blob) - 33), key, digest, size, attachment.ErrMAC},
		{"mac bit", flip(len(blob) - 1), key, digest, size, attachment.ErrMAC},
		{"other key", blob, otherKey, digest, size, attachment.ErrMAC},
		{"other digest", blob, key, make([]byte, 32), size, attachment.ErrDigest},
		{"short digest", blob, key, digest[:31], size, attachment.ErrDigest},
		{"truncated", blob[:len(blob)-16], key, digest, size, attachment.ErrBlobSize},
		{"extended", append(bytes.Clone(blob), make([]byte, 16)...), key, digest, size, attachment.ErrBlobSize},
		{"size of another bucket", blob, key, digest, 10 << 20, attachment.ErrBlobSize},
		{"short key", blob, key[:63], digest, size, attachment.ErrBadKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := open(tc.blob, tc.key, tc.digest, tc.size)
			assert(t, errors.Is(err, tc.want), "got %v, want %v", err, tc.want)
		})
	}
}

// A blob whose MAC and digest hold but whose padding the sender made
// wrong: it authenticates (the sender holds the key) and is refused when
// read to the end.
func TestBadPaddingFromTheSender(t *testing.T) {
	t.Parallel()
	key := attachment.NewKey()
	plain := make([]byte, 100)
	// Encrypt 100 bytes, but a pointer claiming 60: bytes 60..99 should be
	// zero padding and are not.
	for i := range plain {
		plain[i] = 'x'
	}
	blob, digest := seal(t, plain, key)
	got, err := open(blob, key, digest, 60)
	assert(t, errors.Is(err, attachment.ErrPadding), "got %v", err)
	assert(t, len(got) <= 60, "read %d bytes past the size", len(got))
	// Claiming more than the plaintext reads the zero padding back: not
	// an attack (the pointer comes from the sender) but still valid.
	got, err = open(blob, key, digest, 120)
	noErr(t, err)
	assert(t, bytes.Equal(got[:100], plain) && bytes.Equal(got[100:], make([]byte, 20)), "size 120 read %q", got)
}

func TestSourceOfTheWrongSize(t *testing.T) {
	t.Parallel()
	key := attachment.NewKey()
	for _, n := range []int{9, 11} {
		_, err := attachment.Encrypt(io.Discard, bytes.NewReader(make([]byte, n)), 10, key)
		assert(t, errors.Is(err, attachment.ErrSourceSize), "%d bytes for 10: %v", n, err)
	}
	_, err := attachment.Encrypt(io.Discard, bytes.NewReader(nil), 0, key[:32])
	assert(t, errors.Is(err, attachment.ErrBadKey), "short key: %v", err)
	_, err = attachment.Encrypt(io.Discard, bytes.NewReader(nil), -1, key)
	assert(t, errors.Is(err, attachment.ErrTooLarge), "negative size: %v", err)
	failing := io.MultiReader(bytes.NewReader(make([]byte, 5)), errReader{})
	_, err = attachment.Encrypt(io.Discard, failing, 10, key)
	assert(t, errors.Is(err, errBroken), "read error: %v", err)
}

var errBroken = errors.New("disk on fire")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

func TestPaddingBuckets(t *testing.T) {
	t.Parallel()
	known := map[int64]int64{0: 541, 1: 541, 541: 541, 542: 568, 1000: 1020, 1 << 20: 1093831, 8 << 20: 8489865, 50 << 20: 54211841, 100 << 20: 107335738}
	for size, want := range known {
		assert(t, attachment.PaddedSize(size) == want, "PaddedSize(%d) = %d, want %d", size, attachment.PaddedSize(size), want)
	}
	prev, buckets := int64(0), 0
	for size := int64(0); size <= 4<<20; size += 1 + size/200 {
		p := attachment.PaddedSize(size)
		assert(t, p >= size && p >= 541, "PaddedSize(%d) = %d", size, p)
		assert(t, size <= 541 || float64(p) <= float64(size)*1.05+1, "PaddedSize(%d) = %d pads more than 5 %%", size, p)
		assert(t, p >= prev, "PaddedSize is not monotonic at %d", size)
		if p != prev {
			buckets++
		}
		prev = p
		e := attachment.EncryptedSize(size)
		assert(t, e == 16+(p/16+1)*16+32, "EncryptedSize(%d) = %d", size, e)
	}
	// 0 to 4 MiB, more than four million sizes, fall into 185 buckets
	// (541 bytes, then one per 5 %).
	assert(t, buckets == 185, "%d buckets up to 4 MiB", buckets)
}

func TestKeyIsRedacted(t *testing.T) {
	t.Parallel()
	key := attachment.NewKey()
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("k", "key", key)
	for _, s := range []string{fmt.Sprintf("%v %s %x %X %q %#v", key, key, key, key, key, key), fmt.Sprint(key), logged.String()} {
		assert(t, !strings.Contains(strings.ToLower(s), fmt.Sprintf("%x", []byte(key)[:8])), "key shown: %s", s)
		assert(t, strings.Contains(s, "REDACTED"), "no redaction in %s", s)
	}
}

// FuzzOpen feeds arbitrary blobs: never a panic, and nothing decrypts
// without the key.
func FuzzOpen(f *testing.F) {
	key := attachment.NewKey()
	blob, digest := seal(f, []byte("hello"), key)
	f.Add(blob, int64(5))
	f.Add(blob[:100], int64(0))
	f.Add([]byte{}, int64(-1))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		got, err := open(b, key, digest, size)
		if err == nil && !bytes.Equal(b, blob) {
			t.Fatalf("a blob other than the sealed one opened to %q", got)
		}
	})
}

func BenchmarkEncrypt(b *testing.B) {
	plain, key := random(b, 8<<20), attachment.NewKey()
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := attachment.Encrypt(io.Discard, bytes.NewReader(plain), int64(len(plain)), key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	plain, key := random(b, 8<<20), attachment.NewKey()
	blob, digest := seal(b, plain, key)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := attachment.Open(bytes.NewReader(blob), int64(len(blob)), key, digest, int64(len(plain)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
