package attachments_test

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hushmsg/hush/attachments"
)

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// FuzzValidID: every id hushd makes (16 bytes, base64url) is valid, and
// whatever is valid is safe as a file name and an object key: 22 bytes,
// one path element, nothing but the base64url alphabet.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{
		"AAAAAAAAAAAAAAAAAAAAAA", "____________________-w", "AAAAAAAAAAAAAAAAAAAAA",
		"AAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAA==", "AAAAAAAAAAAAAAAAAAA+/A",
		"../../../../etc/passwd", "..AAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAA\x00A",
		"AAAAAAAAAAAAAAAAAAAA\r\n", "AAAAAAAAAAAAAAAAAAAAA\xff", "",
	} {
		f.Add(s, []byte(s))
	}
	f.Fuzz(func(t *testing.T, s string, raw []byte) {
		if ok := attachments.ValidID(s); ok {
			if len(s) != 22 || filepath.Base(s) != s || s == "." || s == ".." {
				t.Fatalf("ValidID(%q): not one path element of 22 bytes", s)
			}
			for _, c := range []byte(s) {
				if !strings.ContainsRune(idAlphabet, rune(c)) {
					t.Fatalf("ValidID(%q): byte %#x is not base64url", s, c)
				}
			}
		} else if len(s) == 22 && strings.Trim(s, idAlphabet) == "" {
			t.Fatalf("ValidID(%q) = false for 22 base64url characters", s)
		}
		// Any 16 bytes, encoded as newID does, make a valid id.
		var b [16]byte
		copy(b[:], raw)
		if id := base64.RawURLEncoding.EncodeToString(b[:]); !attachments.ValidID(id) {
			t.Fatalf("ValidID(%q) = false for the encoding of %x", id, b)
		}
	})
}
