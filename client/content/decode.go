package content

import (
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Unmarshal strips the padding of a decrypted plaintext and decodes the
// Content in it.
func Unmarshal(plain []byte) (*Content, error) {
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 0x80 {
		return nil, fmt.Errorf("%w: no padding marker", ErrInvalid)
	}
	c := new(Content)
	err := fields(plain[:i], func(f protowire.Number, v value) error {
		var err error
		switch f {
		case fContentData:
			c.Data, err = decodeData(v)
		case fContentSync:
			c.Sync, err = decodeSync(v)
		case fContentReceipt:
			c.Receipt, err = decodeReceipt(v)
		case fContentTyping:
			c.Typing, err = decodeTyping(v)
		case fContentSenderKey:
			c.SenderKeyDistributionMessage, err = v.bytesMax("sender key distribution message", MaxSenderKey)
		case fContentDecryptErr:
			c.DecryptionErrorMessage, err = v.bytesMax("decryption error message", MaxDecryptError)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// value is one field's payload as read off the wire.
type value struct {
	typ protowire.Type
	num uint64 // varint and fixed64 fields
	buf []byte // length-delimited fields
	f   protowire.Number
}

// fields calls fn for each field of a message; unknown fields reach fn too
// and are ignored there.
func fields(b []byte, fn func(protowire.Number, value) error) error {
	for len(b) > 0 {
		f, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrInvalid, protowire.ParseError(n))
		}
		b = b[n:]
		v := value{typ: typ, f: f}
		switch typ {
		case protowire.VarintType:
			v.num, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			v.num, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v.num = uint64(x)
		case protowire.BytesType:
			v.buf, n = protowire.ConsumeBytes(b)
		default: // groups are not part of the format
			return fmt.Errorf("%w: field %d has wire type %d", ErrInvalid, f, typ)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %v", ErrInvalid, f, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(f, v); err != nil {
			return err
		}
	}
	return nil
}

func (v value) want(t protowire.Type, what string) error {
	if v.typ != t {
		return fmt.Errorf("%w: %s (field %d) has wire type %d", ErrInvalid, what, v.f, v.typ)
	}
	return nil
}

func (v value) uint64(what string) (uint64, error) {
	return v.num, v.want(protowire.VarintType, what)
}

func (v value) uint32(what string) (uint32, error) {
	if err := v.want(protowire.VarintType, what); err != nil {
		return 0, err
	}
	if v.num > math.MaxUint32 {
		return 0, fmt.Errorf("%w: %s out of range", ErrInvalid, what)
	}
	return uint32(v.num), nil
}

func (v value) bytesMax(what string, max int) ([]byte, error) {
	if err := v.want(protowire.BytesType, what); err != nil {
		return nil, err
	}
	if len(v.buf) > max {
		return nil, fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, what, max)
	}
	return append([]byte{}, v.buf...), nil
}

func (v value) stringMax(what string, max int) (string, error) {
	if err := v.want(protowire.BytesType, what); err != nil {
		return "", err
	}
	if len(v.buf) > max {
		return "", fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, what, max)
	}
	if !utf8.Valid(v.buf) {
		return "", fmt.Errorf("%w: %s is not UTF-8", ErrInvalid, what)
	}
	return string(v.buf), nil
}

func (v value) double(what string) (float64, error) {
	if err := v.want(protowire.Fixed64Type, what); err != nil {
		return 0, err
	}
	return math.Float64frombits(v.num), nil
}

func (v value) message(what string) ([]byte, error) {
	return v.buf, v.want(protowire.BytesType, what)
}

func decodeData(v value) (*DataMessage, error) {
	b, err := v.message("data message")
	if err != nil {
		return nil, err
	}
	d := new(DataMessage)
	err = fields(b, func(f protowire.Number, v value) error {
		var err error
		switch f {
		case fDataBody:
			d.Body, err = v.stringMax("body", MaxBody)
		case fDataAttachments:
			if len(d.Attachments) == MaxAttachments {
				return fmt.Errorf("%w: more than %d attachments", ErrInvalid, MaxAttachments)
			}
			var a *AttachmentPointer
			if a, err = decodeAttachment(v); err == nil {
				d.Attachments = append(d.Attachments, *a)
			}
		case fDataFlags:
			d.Flags, err = v.uint32("flags")
		case fDataTimestamp:
			d.Timestamp, err = v.uint64("timestamp")
		case fDataGroup:
			d.Group, err = decodeGroup(v)
		case fDataLocation:
			d.Location, err = decodeLocation(v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

func decodeGroup(v value) (*GroupContext, error) {
	b, err := v.message("group")
	if err != nil {
		return nil, err
	}
	g := new(GroupContext)
	err = fields(b, func(f protowire.Number, v value) error {
		var err error
		switch f {
		case fGroupID:
			g.ID, err = v.stringMax("group id", MaxGroupID)
		case fGroupRevision:
			g.Revision, err = v.uint32("group revision")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

func decodeLocation(v value) (*Location, error) {
	b, err := v.message("location")
	if err != nil {
		return nil, err
	}
	l := new(Location)
	err = fields(b, func(f protowire.Number, v value) error {
		var err error
		switch f {
		case fLocLatitude:
			l.Latitude, err = v.double("latitude")
		case fLocLongitude:
			l.Longitude, err = v.double("longitude")
		case fLocLabel:
			l.Label, err = v.stringMax("location label", MaxLabel)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if math.IsNaN(l.Latitude) || l.Latitude < -90 || l.Latitude > 90 ||
		math.IsNaN(l.Longitude) || l.Longitude < -180 || l.Longitude > 180 {
		return nil, fmt.Errorf("%w: location out of range", ErrInvalid)
	}
	return l, nil
}

func decodeAttachment(v value) (*AttachmentPointer, error) {
	b, err := v.message("attachment")
	if err != nil {
		return nil, err
	}
	a := new(AttachmentPointer)
	err = fields(b, func(f protowire.Number, v value) error {
		var err error
		switch f {
		case fAttContentType:
			a.ContentType, err = v.stringMax("content type", MaxContentType)
		case fAttKey:
			a.Key, err = v.bytesMax("attachment key", AttachmentKey)
		case fAttSize:
			a.Size, err = v.uint32("attachment size")
		case fAttThumbnail:
			a.Thumbnail, err = v.bytesMax("thumbnail", MaxThumbnail)
		case fAttDigest:
			a.Digest, err = v.bytesMax("digest", DigestSize)
		case fAttFileName:
			a.FileName, err = v.stringMax("file name", MaxFileName)
		case fAttFlags:
			a.Flags, err = v.uint32("attachment flags")
		case fAttCaption:
			a.Caption, err = v.stringMax("caption", MaxBody)
		case fAttCDNKey:
			a.CDNKey, err = v.stringMax("attachment id", MaxCDNKey)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if a.Key != nil && len(a.Key) != AttachmentKey || a.Digest != nil && len(a.Digest) != DigestSize {
		return nil, fmt.Errorf("%w: attachment key or digest of the wrong size", ErrInvalid)
	}
	return a, nil
}

func decodeReceipt(v value) (*ReceiptMessage, error) {
	b, err := v.message("receipt")
	if err != nil {
		return nil, err
	}
	r := new(ReceiptMessage)
	err = fields(b, func(f protowire.Number, v value) error {
		var err error
		switch f {
		case fReceiptType:
			r.Type, err = v.uint32("receipt type")
		case fReceiptTimestamp:
			if len(r.Timestamps) == MaxReceiptTimes {
				return fmt.Errorf("%w: more than %d receipt timestamps", ErrInvalid, MaxReceiptTimes)
			}
			var t uint64
			if t, err = v.uint64("receipt timestamp"); err == nil {
				r.Timestamps = append(r.Timestamps, t)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if r.Type > ReceiptViewed {
		return nil, fmt.Errorf("%w: unknown receipt type %d", ErrInvalid, r.Type)
	}
	return r, nil
}

func decodeTyping(v value) (*TypingMessage, error) {
	b, err := v.message("typing")
	if err != nil {
		return nil, err
	}
	t := new(TypingMessage)
	err = fields(b, func(f protowire.Number, v value) error {
		var err error
		switch f {
		case fTypingTimestamp:
			t.Timestamp, err = v.uint64("typing timestamp")
		case fTypingAction:
			t.Action, err = v.uint32("typing action")
		case fTypingGroupID:
			t.GroupID, err = v.bytesMax("typing group id", MaxGroupID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if t.Action > TypingStopped {
		return nil, fmt.Errorf("%w: unknown typing action %d", ErrInvalid, t.Action)
	}
	return t, nil
}

func decodeSync(v value) (*SyncMessage, error) {
	b, err := v.message("sync message")
	if err != nil {
		return nil, err
	}
	s := new(SyncMessage)
	err = fields(b, func(f protowire.Number, v value) error {
		if f != fSyncSent {
			return nil
		}
		b, err := v.message("sent")
		if err != nil {
			return err
		}
		sent := new(SyncSent)
		s.Sent = sent
		return fields(b, func(f protowire.Number, v value) error {
			var err error
			switch f {
			case fSentTimestamp:
				sent.Timestamp, err = v.uint64("sent timestamp")
			case fSentMessage:
				sent.Message, err = decodeData(v)
			case fSentDestinationSID:
				sent.DestinationServiceID, err = v.stringMax("destination", MaxGroupID)
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}
