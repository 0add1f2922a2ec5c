package main

import (
	"bytes"
	"strings"
	"testing"

	pb "github.com/hushmsg/hush/client/content"
	attach "github.com/hushmsg/hush/cmd/hush/internal/attachment"
	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/signal"
)

func TestParseLocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		lat, lon float64
		label    string
		err      string
	}{
		{in: "52.520008,13.404954", lat: 52.520008, lon: 13.404954},
		{in: " -33.86 , 151.21 ,Opera House, Sydney", lat: -33.86, lon: 151.21, label: "Opera House, Sydney"},
		{in: "90,180", lat: 90, lon: 180},
		{in: "-90,-180,", lat: -90, lon: -180},
		{in: "90.0001,0", err: "latitude must be"},
		{in: "0,-180.5", err: "longitude must be"},
		{in: "NaN,0", err: "not a number"},
		{in: "Inf,0", err: "not a number"},
		{in: "1e400,0", err: "not a number"},
		{in: "52.5", err: "LAT,LON"},
		{in: "a,b", err: "not a number"},
		{in: "1,2," + strings.Repeat("x", pb.MaxLabel+1), err: "label longer"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			l, err := parseLocation(tc.in)
			if tc.err != "" {
				assert(t, err != nil && strings.Contains(err.Error(), tc.err), "parseLocation(%q) = %v, want error %q", tc.in, err, tc.err)
				return
			}
			noErr(t, err)
			assert(t, l.Latitude == tc.lat && l.Longitude == tc.lon && l.Label == tc.label, "parseLocation(%q) = %+v", tc.in, l)
		})
	}
	l := &location{Latitude: 1.5, Longitude: -2, Label: "a\x1b[31m"}
	assert(t, l.String() == `location 1.500000, -2.000000 "a\x1b[31m" https://www.openstreetmap.org/?mlat=1.500000&mlon=-2.000000`,
		"String() = %q", l.String())
}

// TestContentRoundTrip: every kind this client sends decodes to what
// it was, through the protobuf Content of client/content.
func TestContentRoundTrip(t *testing.T) {
	t.Parallel()
	att := &attachment{ID: "AAAAAAAAAAAAAAAAAAAAAA", Key: attach.NewKey(), Digest: make([]byte, 32), ContentType: "text/plain", FileName: "a.txt", Size: 3}
	tests := []content{
		{Kind: kindText, Body: "hi", SentAt: 5},
		{Kind: kindText, Body: "in a group", SentAt: 6, Group: "g1"},
		{Kind: kindText, Body: "a copy", SentAt: 7, SyncTo: "bob"},
		{Kind: kindLocation, Location: &location{Latitude: 1.5, Longitude: -2, Label: "x"}, SentAt: 8},
		{Kind: kindFile, Body: "caption", Attachment: att, SentAt: 9},
		{Kind: kindReceipt, Receipt: &receipt{Type: receiptRead, Timestamps: []int64{1, 2}}},
		{Kind: kindReceipt, Receipt: &receipt{Type: receiptDelivered, Timestamps: []int64{3}}},
		{Kind: kindTyping, Typing: &typing{Action: typingStopped}, SentAt: 10, Group: "g1"},
		{Kind: kindSenderKey, SenderKey: []byte{0x33, 1, 2}},
	}
	for _, want := range tests {
		b, err := want.encode()
		noErr(t, err)
		assert(t, len(b)%pb.PadBlock == 0, "%s: not padded", want.Kind)
		got, err := decodeContent(b)
		noErr(t, err)
		assert(t, got.Kind == want.Kind && got.Body == want.Body && got.SentAt == want.SentAt && got.Group == want.Group &&
			got.SyncTo == want.SyncTo && bytes.Equal(got.SenderKey, want.SenderKey), "%s: got %+v, want %+v", want.Kind, got, want)
		switch want.Kind {
		case kindLocation:
			assert(t, *got.Location == *want.Location, "location %+v", got.Location)
		case kindFile:
			assert(t, got.Attachment.ID == att.ID && bytes.Equal(got.Attachment.Key, att.Key) && got.Attachment.FileName == "a.txt", "attachment %+v", got.Attachment)
		case kindReceipt:
			assert(t, got.Receipt.Type == want.Receipt.Type && len(got.Receipt.Timestamps) == len(want.Receipt.Timestamps), "receipt %+v", got.Receipt)
		case kindTyping:
			assert(t, got.Typing.Action == want.Typing.Action, "typing %+v", got.Typing)
		}
	}
}

// TestDecodeContentChecksKinds: what a peer sends is checked beyond the
// wire format.
func TestDecodeContentChecksKinds(t *testing.T) {
	t.Parallel()
	data := func(d pb.DataMessage) *pb.Content { return &pb.Content{Data: &d} }
	tests := []struct {
		name string
		c    *pb.Content
		kind string // "" for an error
	}{
		{"text", data(pb.DataMessage{Body: "hi", Timestamp: 1}), kindText},
		{"no timestamp", data(pb.DataMessage{Body: "hi"}), ""},
		{"nothing to show", data(pb.DataMessage{Timestamp: 1}), ""},
		{"group without id", data(pb.DataMessage{Body: "hi", Timestamp: 1, Group: &pb.GroupContext{}}), ""},
		{"image by type", data(pb.DataMessage{Timestamp: 1, Attachments: []pb.AttachmentPointer{{CDNKey: "abc", Key: make([]byte, 64), Digest: make([]byte, 32), ContentType: "image/png"}}}), kindImage},
		{"file by flag", data(pb.DataMessage{Timestamp: 1, Attachments: []pb.AttachmentPointer{{CDNKey: "abc", Key: make([]byte, 64), Digest: make([]byte, 32), ContentType: "image/png", Flags: pb.FlagAsFile}}}), kindFile},
		{"attachment without id", data(pb.DataMessage{Timestamp: 1, Attachments: []pb.AttachmentPointer{{Key: make([]byte, 64), Digest: make([]byte, 32)}}}), ""},
		{"receipt", &pb.Content{Receipt: &pb.ReceiptMessage{Type: pb.ReceiptRead, Timestamps: []uint64{1}}}, kindReceipt},
		{"receipt of nothing", &pb.Content{Receipt: &pb.ReceiptMessage{Type: pb.ReceiptRead}}, ""},
		{"receipt of zero", &pb.Content{Receipt: &pb.ReceiptMessage{Timestamps: []uint64{0}}}, ""},
		{"viewed receipt", &pb.Content{Receipt: &pb.ReceiptMessage{Type: pb.ReceiptViewed, Timestamps: []uint64{1}}}, kindUnknown},
		{"typing", &pb.Content{Typing: &pb.TypingMessage{Timestamp: 1, Action: pb.TypingStarted}}, kindTyping},
		{"sender key", &pb.Content{SenderKeyDistributionMessage: []byte{1}}, kindSenderKey},
		{"sync without destination", &pb.Content{Sync: &pb.SyncMessage{Sent: &pb.SyncSent{Message: &pb.DataMessage{Body: "x", Timestamp: 1}}}}, ""},
		{"decryption error encrypted", &pb.Content{DecryptionErrorMessage: []byte{1}}, ""},
		{"two kinds", &pb.Content{Data: &pb.DataMessage{Body: "x", Timestamp: 1}, SenderKeyDistributionMessage: []byte{1}}, ""},
		{"empty", &pb.Content{}, kindUnknown},
	}
	for _, tc := range tests {
		c, err := decodeContent(pb.Marshal(tc.c))
		if tc.kind == "" {
			assert(t, err != nil, "%s: decoded as %+v", tc.name, c)
			continue
		}
		assert(t, err == nil && c.Kind == tc.kind, "%s: %+v, %v, want kind %s", tc.name, c, err, tc.kind)
	}
	_, err := decodeContent([]byte(`{"kind":"text","body":"x"}`))
	assert(t, err != nil, "a JSON content of the earlier format decoded")
}

// TestCheckGroup checks that the server cannot move a message into a
// group, out of one, or between groups.
func TestCheckGroup(t *testing.T) {
	t.Parallel()
	sk, pk := int(signal.TypeSenderKey), int(signal.TypeWhisper)
	tests := []struct {
		name     string
		envGroup string
		typ      int
		c        content
		ok       bool
	}{
		{"1:1 text", "", pk, content{Kind: kindText}, true},
		{"group text", "g1", sk, content{Kind: kindText, Group: "g1"}, true},
		{"moved to another group", "g2", sk, content{Kind: kindText, Group: "g1"}, false},
		{"1:1 moved into a group", "g1", sk, content{Kind: kindText}, false},
		{"group message sent 1:1", "", pk, content{Kind: kindText, Group: "g1"}, false},
		{"group message on a session", "g1", pk, content{Kind: kindText, Group: "g1"}, false},
		{"sender key 1:1", "", pk, content{Kind: kindSenderKey}, true},
		{"sender key in a group send", "g1", sk, content{Kind: kindSenderKey, Group: "g1"}, false},
		{"receipt in a group send", "g1", sk, content{Kind: kindReceipt, Group: "g1"}, false},
		{"group typing", "g1", sk, content{Kind: kindTyping, Group: "g1"}, true},
	}
	for _, tc := range tests {
		err := checkGroup(&wire.Envelope{Group: tc.envGroup, Type: tc.typ}, &tc.c)
		assert(t, (err == nil) == tc.ok, "%s: %v, want ok %v", tc.name, err, tc.ok)
	}
}

func TestParseGroupChange(t *testing.T) {
	t.Parallel()
	good := []byte(`{"group_id":"g1","version":2,"action":"added","actor":"a","accounts":["b"]}`)
	tests := []struct {
		name string
		env  wire.Envelope
		ok   bool
	}{
		{"from the server", wire.Envelope{Type: wire.EnvelopeGroupChange, Group: "g1", Content: good}, true},
		{"claims a sender", wire.Envelope{Type: wire.EnvelopeGroupChange, SourceAccount: "mallory", Content: good}, false},
		{"claims a device", wire.Envelope{Type: wire.EnvelopeGroupChange, SourceDevice: 1, Content: good}, false},
		{"another group", wire.Envelope{Type: wire.EnvelopeGroupChange, Group: "g2", Content: good}, false},
		{"not JSON", wire.Envelope{Type: wire.EnvelopeGroupChange, Content: []byte("x")}, false},
		{"no group", wire.Envelope{Type: wire.EnvelopeGroupChange, Content: []byte(`{"action":"added"}`)}, false},
	}
	for _, tc := range tests {
		_, err := parseGroupChange(&tc.env)
		assert(t, (err == nil) == tc.ok, "%s: %v, want ok %v", tc.name, err, tc.ok)
	}
}

func FuzzDecodeContent(f *testing.F) {
	for _, c := range []*pb.Content{
		{Data: &pb.DataMessage{Body: "x", Timestamp: 1, Location: &pb.Location{Latitude: 1, Longitude: 2, Label: "x"}}},
		{Receipt: &pb.ReceiptMessage{Type: pb.ReceiptRead, Timestamps: []uint64{1}}},
		{Sync: &pb.SyncMessage{Sent: &pb.SyncSent{Timestamp: 1, Message: &pb.DataMessage{Body: "x", Timestamp: 1}, DestinationServiceID: "b"}}},
	} {
		f.Add(pb.Marshal(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeContent(b)
		if err == nil {
			_ = c.summary()
		}
	})
}
