package signal

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Protocol buffers are encoded and decoded by hand with protowire, field
// by field as libsignal's wire.proto and storage.proto lay them out.
// Decoding follows the usual rules: unknown fields are skipped, a known
// field with another wire type is an error, a repeated scalar field keeps
// its last value.

var errProto = errors.New("malformed protobuf")

// pbField is one decoded protobuf field.
type pbField struct {
	num protowire.Number
	typ protowire.Type
	v   uint64 // varint, fixed32 and fixed64 values
	b   []byte // bytes values (aliases the input)
}

// nextField decodes the field at the start of b and returns it with the
// number of bytes it took.
func nextField(b []byte) (pbField, int, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return pbField{}, 0, fmt.Errorf("%w: %w", errProto, protowire.ParseError(n))
	}
	f := pbField{num: num, typ: typ}
	var m int
	switch typ {
	case protowire.VarintType:
		f.v, m = protowire.ConsumeVarint(b[n:])
	case protowire.Fixed32Type:
		var v uint32
		v, m = protowire.ConsumeFixed32(b[n:])
		f.v = uint64(v)
	case protowire.Fixed64Type:
		f.v, m = protowire.ConsumeFixed64(b[n:])
	case protowire.BytesType:
		f.b, m = protowire.ConsumeBytes(b[n:])
	default:
		m = protowire.ConsumeFieldValue(num, typ, b[n:])
	}
	if m < 0 {
		return pbField{}, 0, fmt.Errorf("%w: %w", errProto, protowire.ParseError(m))
	}
	return f, n + m, nil
}

// walkFields calls fn for every field of b whose number is in want with
// the wire type want gives; unknown fields are skipped.
func walkFields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error, want map[protowire.Number]protowire.Type) error {
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return err
		}
		b = b[n:]
		t, ok := want[f.num]
		if !ok {
			continue
		}
		if t != f.typ {
			return fmt.Errorf("%w: field %d has wire type %d", errProto, f.num, f.typ)
		}
		if err := fn(f.num, f.typ, f.b, f.v); err != nil {
			return err
		}
	}
	return nil
}

// wrongType reports a known field with an unexpected wire type.
func wrongType(f pbField, want protowire.Type) error {
	if f.typ == want {
		return nil
	}
	return fmt.Errorf("%w: field %d has wire type %d", errProto, f.num, f.typ)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// proto3 fields are written only when not the default.

func appendBytes3(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return appendBytesField(b, num, v)
}

func appendVarint3(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendVarintField(b, num, v)
}

// clone copies a byte slice decoded from (and aliasing) an input buffer.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
