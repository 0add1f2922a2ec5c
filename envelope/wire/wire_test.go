package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
)

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"not json", `{`},
		{"no type", `{}`},
		{"unknown type", `{"type":"nope"}`},
		{"ack without id", `{"type":"ack"}`},
		{"ack with an empty list", `{"type":"ack","ids":[]}`},
		{"send without body", `{"type":"send","request_id":"1"}`},
		{"send without request id", `{"type":"send","send":{}}`},
		{"envelope without id", `{"type":"envelope","envelope":{}}`},
		{"bad base64", `{"type":"provisioning_message","body":"!!"}`},
		{"type of wrong kind", `{"type":5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if f, err := wire.Decode([]byte(tt.in)); err == nil {
				t.Fatalf("Decode(%s) = %+v, want an error", tt.in, f)
			}
		})
	}
	if _, err := wire.Decode([]byte(`{"type":"nope"}`)); !errors.Is(err, wire.ErrUnknownType) {
		t.Fatalf("unknown type: err = %v, want ErrUnknownType", err)
	}
}

// An ack names one envelope (id), several (ids), or both; at most
// MaxAckIDs in the list.
func TestAckIDs(t *testing.T) {
	for in, want := range map[string]int{
		`{"type":"ack","id":"a"}`:                 1,
		`{"type":"ack","ids":["a","b"]}`:          2,
		`{"type":"ack","id":"a","ids":["b","c"]}`: 3,
	} {
		f, err := wire.Decode([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := f.AckIDs(); len(got) != want || got[0] != "a" {
			t.Fatalf("%s: ids %q", in, got)
		}
	}
	ids := make([]string, wire.MaxAckIDs+1)
	for i := range ids {
		ids[i] = "x"
	}
	b, _ := json.Marshal(&wire.Frame{Type: wire.TypeAck, IDs: ids})
	if _, err := wire.Decode(b); err == nil {
		t.Fatalf("an ack of %d ids was taken", len(ids))
	}
	b, _ = json.Marshal(&wire.Frame{Type: wire.TypeAck, IDs: ids[1:]})
	if _, err := wire.Decode(b); err != nil {
		t.Fatalf("an ack of %d ids: %v", len(ids)-1, err)
	}
}

func TestRoundTrip(t *testing.T) {
	in := &wire.Frame{Type: wire.TypeEnvelope, Envelope: &wire.Envelope{ID: "x", SourceAccount: "a", SourceDevice: 2, Type: 3, Content: []byte{0, 1, 2}, ServerTimestamp: 7}}
	b, err := wire.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := wire.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Envelope.Content, in.Envelope.Content) || out.Envelope.SourceDevice != 2 {
		t.Fatalf("round trip changed the envelope: %+v", out.Envelope)
	}
}

func BenchmarkEncodeEnvelope(b *testing.B) {
	f := &wire.Frame{Type: wire.TypeEnvelope, Envelope: &wire.Envelope{ID: "2f1c1f0e-8f5e-4c44-9a8e-0d5f7c8f9a1b", SourceAccount: "8b0f1c1f-8f5e-4c44-9a8e-0d5f7c8f9a1b", SourceDevice: 1, Type: 2, Content: make([]byte, 1024), ServerTimestamp: 1764000000000}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.Encode(f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSend(b *testing.B) {
	in, _ := wire.Encode(&wire.Frame{Type: wire.TypeSend, RequestID: "r1", Send: &api.Send{
		Destination: "8b0f1c1f-8f5e-4c44-9a8e-0d5f7c8f9a1b",
		Messages:    []api.OutgoingMessage{{DeviceID: 1, RegistrationID: 1, Type: 2, Content: make([]byte, 256)}}}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeIsStrict: names match exactly as the protocol spells them, a
// name may not repeat, and strings are valid UTF-8.
func TestDecodeIsStrict(t *testing.T) {
	for _, in := range []string{
		`{"Type":"ack","id":"x"}`,
		`{"type":"ack","ID":"x"}`,
		`{"type":"ack","id":"x","type":"send"}`,
		"{\"type\":\"ack\",\"id\":\"\xff\"}",
	} {
		if f, err := wire.Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%q) = %+v, want an error", in, f)
		}
	}
	if _, err := wire.Decode([]byte(`{"type":"ack","id":"x","later_field":1}`)); err != nil {
		t.Errorf("a field this version does not know: %v", err)
	}
}

func BenchmarkDecodeAck(b *testing.B) {
	in := []byte(`{"type":"ack","id":"2f1c1f0e-8f5e-4c44-9a8e-0d5f7c8f9a1b"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecode: any input either fails cleanly or gives a frame that encodes
// and decodes to the same type.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"ack","id":"x"}`))
	f.Add([]byte(`{"type":"send","request_id":"1","send":{"destination":"d","messages":[{"device_id":1,"content":"AA=="}]}}`))
	f.Add([]byte(`{"type":"envelope","envelope":{"id":"1","content":"AAEC"}}`))
	f.Add([]byte(`{"type":"keys_low","prekeys":3}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, err := wire.Decode(in)
		if err != nil {
			return
		}
		b, err := wire.Encode(fr)
		if err != nil {
			t.Fatalf("encode decoded frame: %v", err)
		}
		again, err := wire.Decode(b)
		if err != nil {
			t.Fatalf("re-decode %s: %v", b, err)
		}
		if again.Type != fr.Type {
			t.Fatalf("type changed: %q -> %q", fr.Type, again.Type)
		}
		var e api.Error
		_ = json.Unmarshal(in, &e)
	})
}
