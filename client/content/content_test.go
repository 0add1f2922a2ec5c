package content

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hushmsg/hush/internal/oracle"
)

func samples() []*Content {
	key := bytes.Repeat([]byte{7}, AttachmentKey)
	digest := bytes.Repeat([]byte{9}, DigestSize)
	return []*Content{
		{Data: &DataMessage{Body: "hello, wörld", Timestamp: 1796442658008}},
		{Data: &DataMessage{Body: "in a group", Timestamp: 2, Group: &GroupContext{ID: "g-123", Revision: 4}}},
		{Data: &DataMessage{Timestamp: 3, Location: &Location{Latitude: 52.52, Longitude: -13.405, Label: "Berlin"}}},
		{Data: &DataMessage{Timestamp: 4, Attachments: []AttachmentPointer{{
			ContentType: "image/png", Key: key, Size: 12345, Thumbnail: []byte{0xff, 0xd8}, Digest: digest,
			FileName: "a.png", Flags: FlagAsFile, Caption: "look", CDNKey: "AAAAAAAAAAAAAAAAAAAAAA",
		}}}},
		{Receipt: &ReceiptMessage{Type: ReceiptDelivery, Timestamps: []uint64{1, 2, 1796442658008}}},
		{Receipt: &ReceiptMessage{Type: ReceiptRead, Timestamps: []uint64{5}}},
		{Typing: &TypingMessage{Timestamp: 9, Action: TypingStarted, GroupID: []byte("g-1")}},
		{SenderKeyDistributionMessage: []byte{1, 2, 3}},
		{DecryptionErrorMessage: []byte{4, 5}},
		{Sync: &SyncMessage{Sent: &SyncSent{Timestamp: 10, DestinationServiceID: "acct",
			Message: &DataMessage{Body: "copy", Timestamp: 10}}}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range samples() {
		b := Marshal(c)
		if len(b)%PadBlock != 0 {
			t.Fatalf("padded length %d is not a multiple of %d", len(b), PadBlock)
		}
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(%+v)): %v", c, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip: got %+v, want %+v", got, c)
		}
	}
}

// TestMatchesTheTestClient checks the codec against the one the official
// library's test client uses (integration/oracle/content.cjs): each
// decodes what the other encodes.
func TestMatchesTheTestClient(t *testing.T) {
	var in struct {
		Decode []string `json:"decode"`
		Encode []any    `json:"encode"`
	}
	for _, c := range samples() {
		in.Decode = append(in.Decode, base64.StdEncoding.EncodeToString(Marshal(c)))
	}
	in.Encode = []any{
		map[string]any{"dataMessage": map[string]any{"body": "from node", "timestamp": 42, "group": map[string]any{"id": "g", "revision": 1}}},
		map[string]any{"receiptMessage": map[string]any{"type": 1, "timestamps": []int{7, 8}}},
		map[string]any{"typingMessage": map[string]any{"timestamp": 5, "action": 1}},
	}
	stdin, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Decoded []map[string]any `json:"decoded"`
		Encoded []string         `json:"encoded"`
	}
	if err := json.Unmarshal(oracle.Run(t, stdin, filepath.Join("testdata", "codec.cjs")), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Decoded) != len(samples()) {
		t.Fatalf("node decoded %d, want %d", len(out.Decoded), len(samples()))
	}
	body := out.Decoded[0]["dataMessage"].(map[string]any)["body"]
	if body != "hello, wörld" {
		t.Fatalf("node decoded body %q", body)
	}
	att := out.Decoded[3]["dataMessage"].(map[string]any)["attachments"].([]any)[0].(map[string]any)
	if att["cdnKey"] != "AAAAAAAAAAAAAAAAAAAAAA" || att["size"] != float64(12345) || att["flags"] != float64(FlagAsFile) {
		t.Fatalf("node decoded attachment %v", att)
	}
	if r := out.Decoded[4]["receiptMessage"].(map[string]any); r["type"] != float64(0) || len(r["timestamps"].([]any)) != 3 {
		t.Fatalf("node decoded receipt %v", r)
	}
	want := []*Content{
		{Data: &DataMessage{Body: "from node", Timestamp: 42, Group: &GroupContext{ID: "g", Revision: 1}}},
		{Receipt: &ReceiptMessage{Type: ReceiptRead, Timestamps: []uint64{7, 8}}},
		{Typing: &TypingMessage{Timestamp: 5, Action: TypingStopped}},
	}
	for i, s := range out.Encoded {
		b, _ := base64.StdEncoding.DecodeString(s)
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal(node's %d): %v", i, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("node's %d decoded as %+v, want %+v", i, got, want[i])
		}
		if !bytes.Equal(b, Marshal(want[i])) {
			t.Fatalf("node's %d encodes differently from Go's", i)
		}
	}
}

func TestRejectsBadInput(t *testing.T) {
	good := Marshal(samples()[0])
	pad := func(b []byte) []byte { return append(append([]byte{}, b...), 0x80) }
	cases := map[string][]byte{
		"empty":               nil,
		"no marker":           bytes.Repeat([]byte{0}, 160),
		"truncated":           good[:5],
		"wrong wire type":     pad([]byte{0x08, 0x01}),                   // data message as a varint
		"truncated length":    pad([]byte{0x0a, 0x10, 0x0a}),             // claims 16 bytes
		"body not UTF-8":      pad([]byte{0x0a, 0x03, 0x0a, 0x01, 0xff}), // body "\xff"
		"group wire type":     pad([]byte{0x0b}),                         // start group
		"receipt type":        pad([]byte{0x2a, 0x02, 0x08, 0x07}),
		"typing action":       pad([]byte{0x32, 0x02, 0x10, 0x05}),
		"bad latitude":        pad(append([]byte{0x0a, 0x0b, 0xa2, 0x06, 0x09, 0x09}, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f)),
		"attachment key size": pad([]byte{0x0a, 0x05, 0x12, 0x03, 0x1a, 0x01, 0x00}),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Unmarshal(b); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Unmarshal = %v, want ErrInvalid", err)
			}
		})
	}
	// Unknown fields are skipped.
	unknown := pad([]byte{0x0a, 0x03, 0xb8, 0x3e, 0x01}) // a data message with field 999 = 1
	if _, err := Unmarshal(unknown); err != nil {
		t.Fatalf("unknown field: %v", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, c := range samples() {
		f.Add(Marshal(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Unmarshal(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again, err := Unmarshal(Marshal(c))
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("re-decode: %v, %+v != %+v", err, again, c)
		}
	})
}

func BenchmarkMarshalUnmarshal(b *testing.B) {
	c := samples()[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(Marshal(c)); err != nil {
			b.Fatal(err)
		}
	}
}
