package signal

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// MaxDeviceID is the highest device id; device ids are 1..127.
const MaxDeviceID = 127

// ProtocolAddress names one device of a user: the user's service id
// (an ACI UUID string, or "PNI:" and a UUID) and the device id.
type ProtocolAddress struct {
	Name     string
	DeviceID uint32
}

// String returns "name.device", as libsignal prints addresses.
func (a ProtocolAddress) String() string {
	return a.Name + "." + strconv.FormatUint(uint64(a.DeviceID), 10)
}

// Validate checks that the name is set and the device id is in 1..127.
func (a ProtocolAddress) Validate() error {
	if a.Name == "" {
		return fmt.Errorf("%w: empty address name", ErrInvalidArgument)
	}
	if a.DeviceID < 1 || a.DeviceID > MaxDeviceID {
		return fmt.Errorf("%w: device id %d not in 1..%d", ErrInvalidArgument, a.DeviceID, MaxDeviceID)
	}
	return nil
}

// serviceIDBinary returns the 17-byte fixed-width binary form of a
// service id string (kind byte 0 for ACI, 1 for PNI, then the UUID), or
// false when name is not a service id. Only the hyphenated UUID form is
// accepted, in either case.
func serviceIDBinary(name string) ([17]byte, bool) {
	var out [17]byte
	s := name
	if rest, ok := strings.CutPrefix(name, "PNI:"); ok {
		out[0] = 1
		s = rest
	}
	if len(s) != 36 {
		return out, false
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return out, false
	}
	copy(out[1:], u[:])
	return out, true
}

// addressesBinary is the SignalMessage addresses field: the sender's and
// the recipient's service ids, each followed by its device id byte. It
// is absent (false) unless both names are service ids.
func addressesBinary(sender, recipient ProtocolAddress) ([]byte, bool) {
	s, ok := serviceIDBinary(sender.Name)
	if !ok {
		return nil, false
	}
	r, ok := serviceIDBinary(recipient.Name)
	if !ok {
		return nil, false
	}
	b := make([]byte, 0, 36)
	b = append(b, s[:]...)
	b = append(b, byte(sender.DeviceID))
	b = append(b, r[:]...)
	b = append(b, byte(recipient.DeviceID))
	return b, true
}

// sameAccount reports whether two (identity, address) pairs are the same
// account: the same identity key and the same service id (a session with
// oneself, between one's own devices).
func sameAccount(local IdentityKey, localAddr ProtocolAddress, remote IdentityKey, remoteAddr ProtocolAddress) bool {
	if !local.Equal(remote) {
		return false
	}
	l, ok := serviceIDBinary(localAddr.Name)
	if !ok {
		return false
	}
	r, ok := serviceIDBinary(remoteAddr.Name)
	return ok && l == r
}
