package main

import (
	"strings"
	"testing"

	"github.com/hushmsg/hush/envelope/wire"
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
		{in: "1,2," + strings.Repeat("x", maxLabel+1), err: "label longer"},
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

func TestDecodeContentChecksKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		json string
		ok   bool
	}{
		{`{"kind":"text","body":"hi"}`, true},
		{`{"kind":"location","location":{"latitude":1,"longitude":2}}`, true},
		{`{"kind":"location"}`, false},
		{`{"kind":"location","location":{"latitude":100,"longitude":2}}`, false},
		{`{"kind":"image","body":"caption"}`, true},
		{`{"kind":"receipt","receipt":{"type":"read","ids":["a","b"]}}`, true},
		{`{"kind":"receipt","receipt":{"type":"seen","ids":["a"]}}`, false},
		{`{"kind":"receipt","receipt":{"type":"read","ids":[]}}`, false},
		{`{"kind":"receipt","receipt":{"type":"read","ids":[""]}}`, false},
		{`{"kind":"receipt"}`, false},
		{`{"kind":"typing","typing":{"action":"started"}}`, true},
		{`{"kind":"typing","typing":{"action":"dancing"}}`, false},
		{`{"kind":"sender_key","group":"g","sender_key":"AQI="}`, true},
		{`{"kind":"sender_key","sender_key":"AQI="}`, false},
		{`{"kind":"group_change","body":"x added y"}`, false},
		{`{"kind":"sticker"}`, true},
	}
	for _, tc := range tests {
		_, err := decodeContent([]byte(tc.json))
		assert(t, (err == nil) == tc.ok, "decodeContent(%s) = %v, want ok %v", tc.json, err, tc.ok)
	}
	ids := make([]string, maxReceiptIDs+1)
	for i := range ids {
		ids[i] = "x"
	}
	c := &content{Kind: kindReceipt, Receipt: &receipt{Type: receiptRead, IDs: ids}}
	assert(t, c.validate() != nil, "a receipt of %d ids passed", len(ids))
}

// TestCheckGroup checks that the server cannot move a message into a
// group, out of one, or between groups.
func TestCheckGroup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		envGroup string
		c        content
		ok       bool
	}{
		{"1:1 text", "", content{Kind: kindText}, true},
		{"group text", "g1", content{Kind: kindText, Group: "g1"}, true},
		{"moved to another group", "g2", content{Kind: kindText, Group: "g1"}, false},
		{"1:1 moved into a group", "g1", content{Kind: kindText}, false},
		{"group message sent 1:1", "", content{Kind: kindText, Group: "g1"}, false},
		{"sender key 1:1", "", content{Kind: kindSenderKey, Group: "g1"}, true},
		{"sender key in a group send", "g1", content{Kind: kindSenderKey, Group: "g1"}, false},
		{"receipt in a group send", "g1", content{Kind: kindReceipt, Group: "g1"}, false},
		{"group typing", "g1", content{Kind: kindTyping, Group: "g1"}, true},
	}
	for _, tc := range tests {
		err := checkGroup(&wire.Envelope{Group: tc.envGroup}, &tc.c)
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
	f.Add([]byte(`{"kind":"location","location":{"latitude":1,"longitude":2,"label":"x"}}`))
	f.Add([]byte(`{"kind":"receipt","receipt":{"type":"read","ids":["a"]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeContent(b)
		if err == nil {
			_ = c.summary()
		}
	})
}
