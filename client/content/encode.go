package content

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers (docs/content.proto).
const (
	fContentData        = 1
	fContentSync        = 2
	fContentReceipt     = 5
	fContentTyping      = 6
	fContentSenderKey   = 7
	fContentDecryptErr  = 8
	fDataBody           = 1
	fDataAttachments    = 2
	fDataFlags          = 4
	fDataTimestamp      = 7
	fDataGroup          = 15
	fDataLocation       = 100
	fGroupID            = 1
	fGroupRevision      = 2
	fAttContentType     = 2
	fAttKey             = 3
	fAttSize            = 4
	fAttThumbnail       = 5
	fAttDigest          = 6
	fAttFileName        = 7
	fAttFlags           = 8
	fAttCaption         = 11
	fAttCDNKey          = 15
	fLocLatitude        = 1
	fLocLongitude       = 2
	fLocLabel           = 3
	fReceiptType        = 1
	fReceiptTimestamp   = 2
	fTypingTimestamp    = 1
	fTypingAction       = 2
	fTypingGroupID      = 3
	fSyncSent           = 1
	fSentTimestamp      = 2
	fSentMessage        = 3
	fSentDestinationSID = 7
)

// Marshal encodes c and pads it for encryption.
func Marshal(c *Content) []byte {
	b := appendContent(nil, c)
	n := (len(b)/PadBlock + 1) * PadBlock // room for the 0x80 byte
	out := make([]byte, n)
	copy(out, b)
	out[len(b)] = 0x80
	return out
}

// Fields are written only when set, in field-number order, as proto2
// optional fields with presence are; a zero that matters (a receipt of
// type DELIVERY, a STARTED typing action) is written all the same.

func appendString(b []byte, f protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, f, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, f protowire.Number, v []byte) []byte {
	if v == nil {
		return b
	}
	b = protowire.AppendTag(b, f, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendUint(b []byte, f protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendUintAlways(b, f, v)
}

func appendUintAlways(b []byte, f protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, f, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendDouble(b []byte, f protowire.Number, v float64) []byte {
	b = protowire.AppendTag(b, f, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

func appendMessage(b []byte, f protowire.Number, body []byte) []byte {
	b = protowire.AppendTag(b, f, protowire.BytesType)
	return protowire.AppendBytes(b, body)
}

func appendContent(b []byte, c *Content) []byte {
	if c.Data != nil {
		b = appendMessage(b, fContentData, appendData(nil, c.Data))
	}
	if c.Sync != nil {
		b = appendMessage(b, fContentSync, appendSync(nil, c.Sync))
	}
	if c.Receipt != nil {
		var r []byte
		r = appendUintAlways(r, fReceiptType, uint64(c.Receipt.Type))
		for _, t := range c.Receipt.Timestamps {
			r = appendUintAlways(r, fReceiptTimestamp, t)
		}
		b = appendMessage(b, fContentReceipt, r)
	}
	if c.Typing != nil {
		var t []byte
		t = appendUint(t, fTypingTimestamp, c.Typing.Timestamp)
		t = appendUintAlways(t, fTypingAction, uint64(c.Typing.Action))
		t = appendBytes(t, fTypingGroupID, c.Typing.GroupID)
		b = appendMessage(b, fContentTyping, t)
	}
	b = appendBytes(b, fContentSenderKey, c.SenderKeyDistributionMessage)
	b = appendBytes(b, fContentDecryptErr, c.DecryptionErrorMessage)
	return b
}

func appendData(b []byte, d *DataMessage) []byte {
	b = appendString(b, fDataBody, d.Body)
	for i := range d.Attachments {
		b = appendMessage(b, fDataAttachments, appendAttachment(nil, &d.Attachments[i]))
	}
	b = appendUint(b, fDataFlags, uint64(d.Flags))
	b = appendUint(b, fDataTimestamp, d.Timestamp)
	if d.Group != nil {
		var g []byte
		g = appendString(g, fGroupID, d.Group.ID)
		g = appendUint(g, fGroupRevision, uint64(d.Group.Revision))
		b = appendMessage(b, fDataGroup, g)
	}
	if d.Location != nil {
		var l []byte
		l = appendDouble(l, fLocLatitude, d.Location.Latitude)
		l = appendDouble(l, fLocLongitude, d.Location.Longitude)
		l = appendString(l, fLocLabel, d.Location.Label)
		b = appendMessage(b, fDataLocation, l)
	}
	return b
}

func appendAttachment(b []byte, a *AttachmentPointer) []byte {
	b = appendString(b, fAttContentType, a.ContentType)
	b = appendBytes(b, fAttKey, a.Key)
	b = appendUint(b, fAttSize, uint64(a.Size))
	b = appendBytes(b, fAttThumbnail, a.Thumbnail)
	b = appendBytes(b, fAttDigest, a.Digest)
	b = appendString(b, fAttFileName, a.FileName)
	b = appendUint(b, fAttFlags, uint64(a.Flags))
	b = appendString(b, fAttCaption, a.Caption)
	b = appendString(b, fAttCDNKey, a.CDNKey)
	return b
}

func appendSync(b []byte, s *SyncMessage) []byte {
	if s.Sent != nil {
		var m []byte
		m = appendUint(m, fSentTimestamp, s.Sent.Timestamp)
		if s.Sent.Message != nil {
			m = appendMessage(m, fSentMessage, appendData(nil, s.Sent.Message))
		}
		m = appendString(m, fSentDestinationSID, s.Sent.DestinationServiceID)
		b = appendMessage(b, fSyncSent, m)
	}
	return b
}
