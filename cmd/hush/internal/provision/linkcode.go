package provision

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// LinkPrefix starts every link code.
const LinkPrefix = "hush-link:"

// maxAddress bounds the address part; the server's addresses are 22
// characters.
const maxAddress = 256

// LinkCode is what a new device shows so that its primary can provision
// it: "hush-link:<address>:<base64url public key>", the key serialized as
// 33 bytes (type 0x05 || curve25519 key) and encoded without padding.
type LinkCode struct {
	Address   string
	PublicKey []byte
}

// String renders the link code.
func (c LinkCode) String() string {
	return LinkPrefix + c.Address + ":" + base64.RawURLEncoding.EncodeToString(c.PublicKey)
}

// ParseLinkCode parses a link code; surrounding white space is ignored.
func ParseLinkCode(s string) (LinkCode, error) {
	bad := func(format string, args ...any) (LinkCode, error) {
		return LinkCode{}, fmt.Errorf("%w: %s", ErrBadLinkCode, fmt.Sprintf(format, args...))
	}
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, LinkPrefix)
	if !ok {
		return bad("it must start with %q", LinkPrefix)
	}
	address, key, ok := strings.Cut(rest, ":")
	if !ok {
		return bad("want %s<address>:<key>", LinkPrefix)
	}
	switch {
	case address == "":
		return bad("empty address")
	case len(address) > maxAddress:
		return bad("address longer than %d characters", maxAddress)
	case strings.ContainsFunc(address, func(r rune) bool { return !isAddressRune(r) }):
		return bad("address holds a character outside A-Z a-z 0-9 - _")
	}
	pub, err := base64.RawURLEncoding.Strict().DecodeString(key)
	if err != nil {
		return bad("key is not unpadded base64url")
	}
	if err := checkPublicKey(pub); err != nil {
		return bad("%v", err)
	}
	return LinkCode{Address: address, PublicKey: pub}, nil
}

func isAddressRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}
