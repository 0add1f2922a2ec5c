package server_test

// Bad input on every endpoint: a clear 4xx with a stable error code, never a
// 5xx, and no state changed. Each case snapshots the store's row counts
// before and after; the cases of a route then check what that route could
// have changed (key counts, the directory, device lists, mailboxes).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/gdpr"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

// biUnknownAccount is a well-formed account id that no account has.
const biUnknownAccount = "00000000-0000-4000-8000-000000000000"

// biTestNumber matches the test kit's numbers.
var biTestNumber = regexp.MustCompile(`^\+1555[0-9]{7}$`)

// biNoCT sends a body without a Content-Type header.
const biNoCT = "-"

// biOpenLimits lifts the rate limits so that no case is answered 429 only
// because many cases come from one address.
func biOpenLimits(c *server.Config) {
	c.Devices.VerifyPerAddr.Burst = 100000
	c.Devices.CodePerAddress.Burst = 100000
	c.Devices.DirectoryLimit.Burst = 100000
	c.Devices.DirectoryDaily.Burst = 0
	c.Keys.BundleLimit.Burst = 100000
	c.Groups.CreateLimit.Burst = 0
	c.Groups.AddLimit.Burst = 0
}

// biCase is one request and the error it must get.
type biCase struct {
	name   string
	as     *testkit.Device // nil: no credential
	method string
	path   string
	body   any    // nil; []byte or string sent as is; anything else as JSON
	ctype  string // "": application/json when there is a body; biNoCT: none
	status int
	code   string
}

// biDo sends a request; setup may add headers and credentials.
func biDo(t *testing.T, n *testkit.Node, method, path string, body any, ctype string, setup func(*http.Request)) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, n.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if r != nil {
		switch ctype {
		case "":
			req.Header.Set("Content-Type", "application/json")
		case biNoCT:
		default:
			req.Header.Set("Content-Type", ctype)
		}
	}
	if setup != nil {
		setup(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

// biAs authenticates a request as dev (nil: not at all).
func biAs(dev *testkit.Device) func(*http.Request) {
	return func(r *http.Request) {
		if dev != nil {
			r.SetBasicAuth(dev.User(), dev.Password)
		}
	}
}

// biCheck asserts an error answer: the status, a JSON body with the code,
// and never a 5xx.
func biCheck(t *testing.T, status int, hdr http.Header, body []byte, wantStatus int, wantCode string) api.Error {
	t.Helper()
	if status >= 500 {
		t.Errorf("server error %d: %s", status, biShort(body))
	}
	var e api.Error
	if err := json.Unmarshal(body, &e); err != nil {
		t.Errorf("error body is not JSON (Content-Type %q): %q", hdr.Get("Content-Type"), biShort(body))
	} else if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if status != wantStatus || e.Code != wantCode {
		t.Errorf("got %d %q, want %d %q (%s)", status, e.Code, wantStatus, wantCode, biShort(body))
	} else if e.Message == "" {
		t.Errorf("error %q without a message", e.Code)
	}
	return e
}

// biRead returns ws's next frame, failing t (not the test that opened ws).
func biRead(t *testing.T, ws *testkit.Socket) *wire.Frame {
	t.Helper()
	f, err := ws.ReadErr(30 * time.Second)
	if err != nil {
		t.Fatalf("read frame: %v (close status %v)", err, websocket.CloseStatus(err))
	}
	return f
}

// biWrite sends a raw text frame on ws, failing t.
func biWrite(t *testing.T, ws *testkit.Socket, frame []byte) {
	t.Helper()
	if err := ws.C.Write(t.Context(), websocket.MessageText, frame); err != nil {
		t.Fatalf("write frame: %v", err)
	}
}

func biShort(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// biStats counts the store's rows.
func biStats(t *testing.T, n *testkit.Node) map[string]int64 {
	t.Helper()
	st, err := n.Node.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// biRun runs cases one after the other on n; each must get its error and
// leave every row count as it was. after, when set, checks more after each.
func biRun(t *testing.T, n *testkit.Node, cases []biCase, after func(t *testing.T)) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := biStats(t, n)
			status, hdr, body := biDo(t, n, c.method, c.path, c.body, c.ctype, biAs(c.as))
			biCheck(t, status, hdr, body, c.status, c.code)
			if got := biStats(t, n); !maps.Equal(got, before) {
				t.Errorf("rows changed by a rejected request: %v, were %v", got, before)
			}
			if after != nil {
				after(t)
			}
		})
	}
}

// biBodyCases are the malformed bodies every JSON route must refuse before
// looking inside: valid is a good body, badBytes puts malformed base64 in a
// bytes field (nil: the body has none), wrongType a wrong JSON type.
func biBodyCases(t *testing.T, as *testkit.Device, method, path string, valid any, badBytes, wrongType func(m map[string]any)) []biCase {
	t.Helper()
	good, err := json.Marshal(valid)
	if err != nil {
		t.Fatal(err)
	}
	c := func(name string, body any, ctype string, status int, code string) biCase {
		return biCase{name: name, as: as, method: method, path: path, body: body, ctype: ctype, status: status, code: code}
	}
	cases := []biCase{
		c("empty body", "", "", http.StatusBadRequest, api.CodeInvalidJSON),
		c("only whitespace", " \n\t", "", http.StatusBadRequest, api.CodeInvalidJSON),
		c("truncated JSON", good[:len(good)/2], "", http.StatusBadRequest, api.CodeInvalidJSON),
		c("truncated after the object", good[:len(good)-1], "", http.StatusBadRequest, api.CodeInvalidJSON),
		c("not JSON", "number=+15550000001", "", http.StatusBadRequest, api.CodeInvalidJSON),
		c("array not object", "["+string(good)+"]", "", http.StatusBadRequest, api.CodeInvalidJSON),
		c("string not object", `"hello"`, "", http.StatusBadRequest, api.CodeInvalidJSON),
		c("trailing data", string(good)+"{}", "", http.StatusBadRequest, api.CodeInvalidJSON),
		c("trailing garbage", string(good)+"x", "", http.StatusBadRequest, api.CodeInvalidJSON),
		c("wrong JSON type", biEdit(t, valid, wrongType), "", http.StatusBadRequest, api.CodeInvalidJSON),
		c("Content-Type text/plain", good, "text/plain", http.StatusUnsupportedMediaType, api.CodeUnsupportedMedia),
		c("Content-Type form", good, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, api.CodeUnsupportedMedia),
		c("Content-Type malformed", good, "application/json; charset", http.StatusUnsupportedMediaType, api.CodeUnsupportedMedia),
		c("Content-Type json-seq", good, "application/json-seq", http.StatusUnsupportedMediaType, api.CodeUnsupportedMedia),
		c("body over 1 MiB", `{"pad":"`+strings.Repeat("a", 1<<20)+`"}`, "", http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge),
	}
	if badBytes != nil {
		cases = append(cases,
			c("invalid base64", biEdit(t, valid, func(m map[string]any) { badBytes(m); biSetBytes(m, "!!!!") }), "", http.StatusBadRequest, api.CodeInvalidJSON),
			c("unpadded base64", biEdit(t, valid, func(m map[string]any) { badBytes(m); biSetBytes(m, "AAE") }), "", http.StatusBadRequest, api.CodeInvalidJSON),
			c("URL-safe base64", biEdit(t, valid, func(m map[string]any) { badBytes(m); biSetBytes(m, "-_-_") }), "", http.StatusBadRequest, api.CodeInvalidJSON),
			c("bytes field as object", biEdit(t, valid, func(m map[string]any) { badBytes(m); biSetBytes(m, map[string]any{"b": "AA=="}) }), "", http.StatusBadRequest, api.CodeInvalidJSON),
			c("bytes field as number", biEdit(t, valid, func(m map[string]any) { badBytes(m); biSetBytes(m, 33) }), "", http.StatusBadRequest, api.CodeInvalidJSON),
		)
	}
	return cases
}

// biBytesSlot is where badBytes points biSetBytes to.
const biBytesSlot = "\x00slot"

// biSetBytes fills the field that badBytes marked with biBytesSlot.
func biSetBytes(m map[string]any, v any) {
	var walk func(x any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, e := range x {
				if e == biBytesSlot {
					x[k] = v
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(m)
}

// biEdit renders v as JSON after edit changed its generic form, to put
// wrong types or malformed values where the Go types cannot.
func biEdit(t *testing.T, v any, edit func(m map[string]any)) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// biObj returns the object at key of m.
func biObj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

// biElem returns the i-th object of the array at key of m.
func biElem(m map[string]any, key string, i int) map[string]any {
	return m[key].([]any)[i].(map[string]any)
}

// biKey returns a key-shaped blob: type byte typ and n bytes in all.
func biKey(typ byte, n int) []byte {
	b := bytes.Repeat([]byte{0x5a}, n)
	if n > 0 {
		b[0] = typ
	}
	return b
}

// biSigned returns a prekey of any shape, signed by id so that only its
// shape is wrong.
func biSigned(id testkit.Identity, pub []byte) api.SignedPreKey {
	return api.SignedPreKey{KeyID: 77, PublicKey: pub, Signature: id.Sign(pub)}
}

// biFlip returns k with a bit of its signature flipped.
func biFlip(k api.SignedPreKey) api.SignedPreKey {
	k.Signature = slices.Clone(k.Signature)
	k.Signature[10] ^= 0x40
	return k
}

// biDeviceIDs returns the ids and names of an account's devices, the part
// of the list that a request can change.
func biDeviceIDs(t *testing.T, n *testkit.Node, dev *testkit.Device) string {
	t.Helper()
	var list api.DeviceList
	n.MustDo(t, dev, "GET", "/v1/devices", nil, http.StatusOK, &list)
	var s []string
	for _, d := range list.Devices {
		s = append(s, fmt.Sprintf("%d:%q@%d", d.DeviceID, d.Name, d.Created))
	}
	return strings.Join(s, " ")
}

// biQueueEmpty connects dev and reads its frames up to queue_empty, failing
// on any envelope: nothing was delivered to dev.
func biQueueEmpty(t *testing.T, n *testkit.Node, dev *testkit.Device) *testkit.Socket {
	t.Helper()
	ws := n.Connect(t, dev)
	for {
		f := ws.Read()
		switch f.Type {
		case wire.TypeQueueEmpty:
			return ws
		case wire.TypeKeysLow:
		case wire.TypeEnvelope:
			t.Fatalf("device %s got envelope %s (%q) from a rejected send", dev.User(), f.Envelope.ID, f.Envelope.Content)
		default:
			t.Fatalf("device %s: unexpected %s frame before queue_empty", dev.User(), f.Type)
		}
	}
}

// biKeyCount returns dev's one-time key counts.
func biKeyCount(t *testing.T, n *testkit.Node, dev *testkit.Device) api.KeyCount {
	t.Helper()
	var c api.KeyCount
	n.MustDo(t, dev, "GET", "/v1/keys/count", nil, http.StatusOK, &c)
	return c
}

// biOddNumbers are strings that look like a phone number to a person but
// are not canonical E.164; each is built from a valid test number.
func biOddNumbers(number string) []struct{ name, number string } {
	digits := strings.TrimPrefix(number, "+")
	mapDigits := func(zero rune) string {
		var b strings.Builder
		for _, r := range digits {
			b.WriteRune(zero + (r - '0'))
		}
		return b.String()
	}
	return []struct{ name, number string }{
		{"empty", ""},
		{"no plus", digits},
		{"00 prefix", "00" + digits},
		{"leading zero", "+0" + digits[1:]},
		{"too short", "+12345"},
		{"too long", "+1" + strings.Repeat("5", 15)},
		{"spaces", "+1 " + digits[1:4] + " " + digits[4:]},
		{"dashes", "+1-" + digits[1:4] + "-" + digits[4:]},
		{"letters", "+1555CALLNOW"},
		{"Arabic-Indic digits", "+" + mapDigits('\u0660')},
		{"Eastern Arabic-Indic digits", "+" + mapDigits('\u06f0')},
		{"full-width digits", "+" + mapDigits('\uff10')},
		{"full-width plus", "\uff0b" + digits},
		{"RTL mark before", "\u200f" + number},
		{"LTR mark inside", "+1\u200e" + digits[1:]},
		{"zero-width space inside", "+1555\u200b" + digits[4:]},
		{"NUL inside", "+1555\x00" + digits[4:]},
		{"NUL after", number + "\x00"},
		{"trailing newline", number + "\n"},
		{"leading space", " " + number},
		{"double plus", "+" + number},
		{"slash inside", "+1555/" + digits[4:]},
		{"unknown country code", "+999123456789"},
		{"invalid for its country", "+15551234"},
	}
}

func TestBadInputRegistration(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", biOpenLimits)
	alice := n.Register(t)
	id, other := testkit.NewIdentity(t), testkit.NewIdentity(t)

	var tried []string // test numbers the cases tried to register
	verify := func(mut func(v *api.Verify)) api.Verify {
		v := api.Verify{Number: testkit.TestNumber(), Code: testkit.TestCode, IdentityKey: id.Public(), DeviceKeys: id.DeviceKeys(t, 7)}
		if mut != nil {
			mut(&v)
		}
		tried = append(tried, v.Number)
		return v
	}
	edited := func(edit func(m map[string]any)) []byte { return biEdit(t, verify(nil), edit) }

	const codePath, verifyPath = "/v1/registration/code", "/v1/registration/verify"
	var cases []biCase
	for _, c := range biBodyCases(t, nil, "POST", codePath, api.RequestCode{Number: testkit.TestNumber()}, nil,
		func(m map[string]any) { m["number"] = 15550000001 }) {
		c.name = "code/" + c.name
		cases = append(cases, c)
	}
	for _, c := range biBodyCases(t, nil, "POST", verifyPath, verify(nil),
		func(m map[string]any) { m["identity_key"] = biBytesSlot },
		func(m map[string]any) { m["registration_id"] = "7" }) {
		c.name = "verify/" + c.name
		cases = append(cases, c)
	}
	add := func(name string, body any, status int, code string) {
		cases = append(cases, biCase{name: "verify/" + name, method: "POST", path: verifyPath, body: body, status: status, code: code})
	}
	cases = append(cases,
		biCase{name: "code/null", method: "POST", path: codePath, body: "null", status: http.StatusBadRequest, code: api.CodeInvalidNumber},
		biCase{name: "code/no number", method: "POST", path: codePath, body: "{}", status: http.StatusBadRequest, code: api.CodeInvalidNumber},
	)
	for _, odd := range biOddNumbers(testkit.TestNumber()) {
		cases = append(cases, biCase{name: "code/number " + odd.name, method: "POST", path: codePath,
			body: api.RequestCode{Number: odd.number}, status: http.StatusBadRequest, code: api.CodeInvalidNumber})
		add("number "+odd.name, verify(func(v *api.Verify) { v.Number = odd.number }), http.StatusBadRequest, api.CodeInvalidNumber)
	}

	// Numbers out of range or of the wrong kind.
	add("registration_id 0", verify(func(v *api.Verify) { v.RegistrationID = 0 }), http.StatusBadRequest, api.CodeBadRequest)
	add("registration_id 16381", verify(func(v *api.Verify) { v.RegistrationID = 16381 }), http.StatusBadRequest, api.CodeBadRequest)
	add("registration_id max uint32", verify(func(v *api.Verify) { v.RegistrationID = 1<<32 - 1 }), http.StatusBadRequest, api.CodeBadRequest)
	for name, raw := range map[string]string{"negative": "-1", "2^32": "4294967296", "2^32+7": "4294967303", "fraction": "1.5", "exponent": "1e400", "null string": `"null"`} {
		add("registration_id "+name, edited(func(m map[string]any) { m["registration_id"] = json.RawMessage(raw) }), http.StatusBadRequest, api.CodeInvalidJSON)
	}
	add("key_id negative", edited(func(m map[string]any) { biObj(m, "signed_prekey")["key_id"] = -1 }), http.StatusBadRequest, api.CodeInvalidJSON)
	add("key_id 2^32", edited(func(m map[string]any) { biObj(m, "signed_prekey")["key_id"] = json.Number("4294967296") }), http.StatusBadRequest, api.CodeInvalidJSON)
	add("signed_prekey not an object", edited(func(m map[string]any) { m["signed_prekey"] = "key" }), http.StatusBadRequest, api.CodeInvalidJSON)
	add("name not a string", edited(func(m map[string]any) { m["name"] = []any{"a"} }), http.StatusBadRequest, api.CodeInvalidJSON)

	// Keys of the wrong length or type byte.
	for name, ik := range map[string][]byte{
		"missing": nil, "32 bytes": id.Public()[1:], "34 bytes": append(id.Public(), 0),
		"type 0x08": append([]byte{0x08}, id.Public()[1:]...), "type 0x00": append([]byte{0x00}, id.Public()[1:]...),
	} {
		add("identity_key "+name, verify(func(v *api.Verify) { v.IdentityKey = ik }), http.StatusBadRequest, api.CodeInvalidKey)
	}
	pq := id.SignedPQ(t, 3)
	for name, k := range map[string]api.SignedPreKey{
		"missing":      {},
		"32 bytes":     biSigned(id, biKey(0x05, 32)),
		"34 bytes":     biSigned(id, biKey(0x05, 34)),
		"type 0x08":    biSigned(id, biKey(0x08, 33)),
		"a PQ key":     pq,
		"no signature": {KeyID: 1, PublicKey: id.SignedEC(t, 1).PublicKey},
		"signature 65": func() api.SignedPreKey { k := id.SignedEC(t, 1); k.Signature = append(k.Signature, 0); return k }(),
		"signature 63": func() api.SignedPreKey { k := id.SignedEC(t, 1); k.Signature = k.Signature[:63]; return k }(),
	} {
		add("signed_prekey "+name, verify(func(v *api.Verify) { v.SignedPreKey = k }), http.StatusBadRequest, api.CodeInvalidKey)
	}
	for name, k := range map[string]api.SignedPreKey{
		"missing":      {},
		"1568 bytes":   biSigned(id, pq.PublicKey[:1568]),
		"1570 bytes":   biSigned(id, append(slices.Clone(pq.PublicKey), 0)),
		"type 0x05":    biSigned(id, append([]byte{0x05}, pq.PublicKey[1:]...)),
		"an EC key":    id.SignedEC(t, 1),
		"no signature": {KeyID: 1, PublicKey: pq.PublicKey},
	} {
		add("pq_last_resort_prekey "+name, verify(func(v *api.Verify) { v.PQLastResortPreKey = k }), http.StatusBadRequest, api.CodeInvalidKey)
	}

	// Signatures that do not verify.
	add("signed_prekey signed by another identity", verify(func(v *api.Verify) { v.SignedPreKey = other.SignedEC(t, 1) }), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("signed_prekey signature flipped", verify(func(v *api.Verify) { v.SignedPreKey = biFlip(v.SignedPreKey) }), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("signed_prekey signature of another key", verify(func(v *api.Verify) { v.SignedPreKey.Signature = id.SignedEC(t, 1).Signature }), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("signed_prekey signature all zero", verify(func(v *api.Verify) { v.SignedPreKey.Signature = make([]byte, 64) }), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("pq_last_resort signed by another identity", verify(func(v *api.Verify) { v.PQLastResortPreKey = other.SignedPQ(t, 1) }), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("pq_last_resort signature flipped", verify(func(v *api.Verify) { v.PQLastResortPreKey = biFlip(v.PQLastResortPreKey) }), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("keys signed by another identity than identity_key", verify(func(v *api.Verify) { v.IdentityKey = other.Public() }), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("identity_key not a point the signature verifies for", verify(func(v *api.Verify) { v.IdentityKey = biKey(0x05, 33) }), http.StatusUnprocessableEntity, api.CodeBadSignature)

	// Names.
	add("name of 257 bytes", verify(func(v *api.Verify) { v.Name = strings.Repeat("n", 257) }), http.StatusBadRequest, api.CodeBadRequest)
	add("name of 86 three-byte runes", verify(func(v *api.Verify) { v.Name = strings.Repeat("€", 86) }), http.StatusBadRequest, api.CodeBadRequest)

	// Codes.
	add("wrong code", verify(func(v *api.Verify) { v.Code = "000000" }), http.StatusForbidden, api.CodeInvalidCode)
	add("empty code", verify(func(v *api.Verify) { v.Code = "" }), http.StatusForbidden, api.CodeInvalidCode)
	add("code in Arabic-Indic digits", verify(func(v *api.Verify) { v.Code = "\u0661\u0662\u0663\u0664\u0665\u0666" }), http.StatusForbidden, api.CodeInvalidCode)
	add("code with NUL", verify(func(v *api.Verify) { v.Code = testkit.TestCode + "\x00" }), http.StatusForbidden, api.CodeInvalidCode)
	add("code with a space", verify(func(v *api.Verify) { v.Code = " " + testkit.TestCode }), http.StatusForbidden, api.CodeInvalidCode)
	add("code never requested for a real number", verify(func(v *api.Verify) { v.Number = "+14155552671" }), http.StatusForbidden, api.CodeInvalidCode)

	// Re-registering alice's number with bad keys must leave her account alone.
	add("re-registration with a bad signature", verify(func(v *api.Verify) { v.Number = alice.Number; v.SignedPreKey = other.SignedEC(t, 1) }),
		http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("re-registration with a wrong code", verify(func(v *api.Verify) { v.Number = alice.Number; v.Code = "654321" }),
		http.StatusForbidden, api.CodeInvalidCode)
	add("re-registration with registration_id 0", verify(func(v *api.Verify) { v.Number = alice.Number; v.RegistrationID = 0 }),
		http.StatusBadRequest, api.CodeBadRequest)

	aliceDevices := biDeviceIDs(t, n, alice)
	biRun(t, n, cases, nil)

	t.Run("directory still without the numbers", func(t *testing.T) {
		for _, number := range tried {
			if number == alice.Number || !biTestNumber.MatchString(number) {
				continue
			}
			n.Expect(t, alice, "GET", "/v1/directory/"+url.PathEscape(number), nil, http.StatusNotFound, api.CodeNotFound)
		}
	})
	t.Run("alice unchanged", func(t *testing.T) {
		var dir api.Directory
		n.MustDo(t, alice, "GET", "/v1/directory/"+alice.Number, nil, http.StatusOK, &dir)
		equal(t, "alice's number", dir.AccountID, alice.AccountID)
		equal(t, "alice's devices", biDeviceIDs(t, n, alice), aliceDevices)
		var b api.Bundle
		n.MustDo(t, alice, "GET", "/v1/keys/"+alice.AccountID+"/1", nil, http.StatusOK, &b)
		equal(t, "alice's identity key", string(b.IdentityKey), string(alice.Identity.Public()))
	})
	t.Run("control: a good registration passes", func(t *testing.T) {
		n.MustDo(t, nil, "POST", codePath, api.RequestCode{Number: testkit.TestNumber()}, http.StatusAccepted, nil)
		n.MustDo(t, nil, "POST", verifyPath, verify(nil), http.StatusOK, nil)
	})
}

func TestBadInputDevices(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", biOpenLimits)
	alice := n.Register(t)
	n.Link(t, alice, 2)
	bob := n.Register(t)
	other := testkit.NewIdentity(t)
	var pc api.ProvisioningCode
	n.MustDo(t, alice, "POST", "/v1/devices/provisioning_code", nil, http.StatusOK, &pc)

	const linkPath = "/v1/devices/link"
	link := func(mut func(l *api.Link)) api.Link {
		l := api.Link{AccountID: alice.AccountID, ProvisioningCode: pc.Code, DeviceKeys: alice.Identity.DeviceKeys(t, 9)}
		if mut != nil {
			mut(&l)
		}
		return l
	}
	var cases []biCase
	for _, c := range biBodyCases(t, nil, "POST", linkPath, link(nil),
		func(m map[string]any) { biObj(m, "signed_prekey")["public_key"] = biBytesSlot },
		func(m map[string]any) { m["account_id"] = 5 }) {
		c.name = "link/" + c.name
		cases = append(cases, c)
	}
	add := func(name string, body any, status int, code string) {
		cases = append(cases, biCase{name: "link/" + name, method: "POST", path: linkPath, body: body, status: status, code: code})
	}
	for name, acct := range map[string]string{
		"empty": "", "not a UUID": "alice", "upper-case": strings.ToUpper(alice.AccountID),
		"without dashes": strings.ReplaceAll(alice.AccountID, "-", ""), "in braces": "{" + alice.AccountID + "}",
		"URN": "urn:uuid:" + alice.AccountID, "with a space": " " + alice.AccountID, "with NUL": alice.AccountID + "\x00",
		"RTL mark": "\u200f" + alice.AccountID,
	} {
		add("account_id "+name, link(func(l *api.Link) { l.AccountID = acct }), http.StatusBadRequest, api.CodeBadRequest)
	}
	// Keys alice signed do not verify for an account that does not exist,
	// as keys an outsider signs do not for one that does.
	add("unknown account", link(func(l *api.Link) { l.AccountID = biUnknownAccount }), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("wrong code", link(func(l *api.Link) { l.ProvisioningCode = pc.Code[:len(pc.Code)-1] + "x" }), http.StatusForbidden, api.CodeInvalidCode)
	add("empty code", link(func(l *api.Link) { l.ProvisioningCode = "" }), http.StatusForbidden, api.CodeInvalidCode)
	add("code of another account", link(func(l *api.Link) { l.AccountID = bob.AccountID; l.DeviceKeys = bob.Identity.DeviceKeys(t, 9) }),
		http.StatusForbidden, api.CodeInvalidCode)
	add("registration_id 0", link(func(l *api.Link) { l.RegistrationID = 0 }), http.StatusBadRequest, api.CodeBadRequest)
	add("registration_id 16381", link(func(l *api.Link) { l.RegistrationID = 16381 }), http.StatusBadRequest, api.CodeBadRequest)
	add("registration_id negative", biEdit(t, link(nil), func(m map[string]any) { m["registration_id"] = -1 }), http.StatusBadRequest, api.CodeInvalidJSON)
	add("registration_id 2^32+9", biEdit(t, link(nil), func(m map[string]any) { m["registration_id"] = json.Number("4294967305") }), http.StatusBadRequest, api.CodeInvalidJSON)
	add("signed_prekey type 0x08", link(func(l *api.Link) { l.SignedPreKey = biSigned(alice.Identity, biKey(0x08, 33)) }), http.StatusBadRequest, api.CodeInvalidKey)
	add("signed_prekey 32 bytes", link(func(l *api.Link) { l.SignedPreKey = biSigned(alice.Identity, biKey(0x05, 32)) }), http.StatusBadRequest, api.CodeInvalidKey)
	add("pq_last_resort 1568 bytes", link(func(l *api.Link) {
		l.PQLastResortPreKey = biSigned(alice.Identity, l.PQLastResortPreKey.PublicKey[:1568])
	}), http.StatusBadRequest, api.CodeInvalidKey)
	add("pq_last_resort type 0x05", link(func(l *api.Link) {
		l.PQLastResortPreKey = biSigned(alice.Identity, append([]byte{0x05}, l.PQLastResortPreKey.PublicKey[1:]...))
	}), http.StatusBadRequest, api.CodeInvalidKey)
	add("pq_last_resort signature 63", link(func(l *api.Link) { l.PQLastResortPreKey.Signature = l.PQLastResortPreKey.Signature[:63] }), http.StatusBadRequest, api.CodeInvalidKey)
	add("signed_prekey by another identity", link(func(l *api.Link) { l.SignedPreKey = other.SignedEC(t, 1) }), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("pq_last_resort signature flipped", link(func(l *api.Link) { l.PQLastResortPreKey = biFlip(l.PQLastResortPreKey) }), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("name of 257 bytes", link(func(l *api.Link) { l.Name = strings.Repeat("x", 257) }), http.StatusBadRequest, api.CodeBadRequest)
	add("name with NUL", link(func(l *api.Link) { l.Name = "a\x00b" }), http.StatusBadRequest, api.CodeBadRequest)
	add("name with a control character", link(func(l *api.Link) { l.Name = "a\x1bb" }), http.StatusBadRequest, api.CodeBadRequest)
	add("name of 65 four-byte runes", link(func(l *api.Link) { l.Name = strings.Repeat("𝄞", 65) }), http.StatusBadRequest, api.CodeBadRequest)

	del := func(name, id string, status int, code string) {
		cases = append(cases, biCase{name: "remove/" + name, as: alice, method: "DELETE", path: "/v1/devices/" + id, status: status, code: code})
	}
	for name, id := range map[string]string{
		"0": "0", "negative": "-2", "not a number": "abc", "fraction": "2.0", "2^32+2": "4294967298", "plus sign": "%2B2",
		"leading space": "%202", "hex": "0x2", "Arabic-Indic 2": url.PathEscape("\u0662"), "full-width 2": url.PathEscape("\uff12"),
		"NUL": "%00", "star": "*",
	} {
		del(name, id, http.StatusBadRequest, api.CodeBadRequest)
	}
	del("primary", "1", http.StatusForbidden, api.CodeForbidden)
	del("unknown", "9", http.StatusNotFound, api.CodeNotFound)
	del("above the device id range", "4294967295", http.StatusBadRequest, api.CodeBadRequest)
	del("unknown, top of the range", "2147483647", http.StatusNotFound, api.CodeNotFound)
	cases = append(cases,
		biCase{name: "list/wrong method", as: alice, method: "POST", path: "/v1/devices", status: http.StatusMethodNotAllowed, code: api.CodeMethodNotAllowed},
		biCase{name: "provisioning_code/wrong method", as: alice, method: "GET", path: "/v1/devices/provisioning_code", status: http.StatusMethodNotAllowed, code: api.CodeMethodNotAllowed},
		biCase{name: "remove/no id", as: alice, method: "DELETE", path: "/v1/devices/", status: http.StatusNotFound, code: api.CodeNotFound},
		biCase{name: "unknown route", as: alice, method: "GET", path: "/v1/nothing", status: http.StatusNotFound, code: api.CodeNotFound},
	)

	aliceDevices, bobDevices := biDeviceIDs(t, n, alice), biDeviceIDs(t, n, bob)
	biRun(t, n, cases, func(t *testing.T) {
		t.Helper()
		equal(t, "alice's devices", biDeviceIDs(t, n, alice), aliceDevices)
		equal(t, "bob's devices", biDeviceIDs(t, n, bob), bobDevices)
	})

	t.Run("control: the code still links, odd names kept as they are", func(t *testing.T) {
		l := link(nil)
		l.Name = "\u200f\u0661\uff0b \u202e" + strings.Repeat("é", 120)
		var creds api.Credentials
		n.MustDo(t, nil, "POST", linkPath, l, http.StatusOK, &creds)
		equal(t, "new device id", creds.DeviceID, uint32(3))
		var list api.DeviceList
		n.MustDo(t, alice, "GET", "/v1/devices", nil, http.StatusOK, &list)
		names := map[uint32]string{}
		for _, d := range list.Devices {
			names[d.DeviceID] = d.Name
		}
		equal(t, "stored name", names[3], l.Name)
	})
}

func TestBadInputProvisioning(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", biOpenLimits)
	alice := n.Register(t)
	prov, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(n.URL, "http")+"/v1/provisioning", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prov.CloseNow()
	read := func(t *testing.T) *wire.Frame {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, b, err := prov.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f, err := wire.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := read(t)
	equal(t, "first frame", f.Type, wire.TypeProvisioningAddress)
	path := "/v1/provisioning/" + f.Address

	cases := biBodyCases(t, alice, "PUT", path, api.ProvisioningMessage{Body: []byte("sealed")},
		func(m map[string]any) { m["body"] = biBytesSlot },
		func(m map[string]any) { m["body"] = map[string]any{} })
	add := func(name, path string, body any, status int, code string) {
		cases = append(cases, biCase{name: name, as: alice, method: "PUT", path: path, body: body, status: status, code: code})
	}
	add("no body field", path, "{}", http.StatusBadRequest, api.CodeBadRequest)
	add("null body", path, `{"body":null}`, http.StatusBadRequest, api.CodeBadRequest)
	add("empty body field", path, `{"body":""}`, http.StatusBadRequest, api.CodeBadRequest)
	add("message over 64 KiB", path, api.ProvisioningMessage{Body: make([]byte, 64<<10+1)}, http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge)
	add("message of 96 KiB", path, api.ProvisioningMessage{Body: make([]byte, 96<<10)}, http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge)
	add("unknown address", "/v1/provisioning/nope", api.ProvisioningMessage{Body: []byte("x")}, http.StatusNotFound, api.CodeNotFound)
	add("address with NUL", "/v1/provisioning/%00", api.ProvisioningMessage{Body: []byte("x")}, http.StatusNotFound, api.CodeNotFound)
	add("address in upper case", "/v1/provisioning/"+strings.ToUpper(f.Address), api.ProvisioningMessage{Body: []byte("x")}, http.StatusNotFound, api.CodeNotFound)
	add("address with a suffix", path+"x", api.ProvisioningMessage{Body: []byte("x")}, http.StatusNotFound, api.CodeNotFound)
	add("address as a subpath", path+"/x", api.ProvisioningMessage{Body: []byte("x")}, http.StatusNotFound, api.CodeNotFound)
	cases = append(cases, biCase{name: "wrong method", as: alice, method: "POST", path: path, body: api.ProvisioningMessage{Body: []byte("x")},
		status: http.StatusMethodNotAllowed, code: api.CodeMethodNotAllowed})
	biRun(t, n, cases, nil)

	t.Run("control: the address still takes one message", func(t *testing.T) {
		n.MustDo(t, alice, "PUT", path, api.ProvisioningMessage{Body: []byte("sealed")}, http.StatusNoContent, nil)
		f := read(t)
		equal(t, "frame after the rejected requests", f.Type, wire.TypeProvisioningMessage)
		equal(t, "body", string(f.Body), "sealed")
		n.Expect(t, alice, "PUT", path, api.ProvisioningMessage{Body: []byte("again")}, http.StatusNotFound, api.CodeNotFound)
	})
}

func TestBadInputKeys(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", biOpenLimits)
	alice, bob := n.Register(t), n.Register(t)
	id, other := alice.Identity, testkit.NewIdentity(t)
	var start []api.PreKey
	for i := range 5 {
		start = append(start, api.PreKey{KeyID: uint32(i + 1), PublicKey: testkit.ECKey(t)})
	}
	n.MustDo(t, alice, "PUT", "/v1/keys", api.SetKeys{PreKeys: start}, http.StatusNoContent, nil)
	wantCount := api.KeyCount{PreKeys: 5}
	equal(t, "count before", biKeyCount(t, n, alice), wantCount)

	prekeys := func(from, count int) []api.PreKey {
		var ks []api.PreKey
		for i := range count {
			ks = append(ks, api.PreKey{KeyID: uint32(from + i), PublicKey: testkit.ECKey(t)})
		}
		return ks
	}
	pqPrekeys := func(from, count int) []api.SignedPreKey {
		var ks []api.SignedPreKey
		for i := range count {
			ks = append(ks, id.SignedPQ(t, uint32(from+i)))
		}
		return ks
	}
	goodSigned, goodPQ := id.SignedEC(t, 77), id.SignedPQ(t, 77)
	valid := api.SetKeys{SignedPreKey: &goodSigned, PQLastResortPreKey: &goodPQ, PreKeys: prekeys(100, 3), PQPreKeys: pqPrekeys(100, 2)}
	upload := func(mut func(s *api.SetKeys)) api.SetKeys {
		s := valid
		s.PreKeys, s.PQPreKeys = slices.Clone(s.PreKeys), slices.Clone(s.PQPreKeys)
		if mut != nil {
			mut(&s)
		}
		return s
	}
	ptr := func(k api.SignedPreKey) *api.SignedPreKey { return &k }

	var cases []biCase
	for _, c := range biBodyCases(t, alice, "PUT", "/v1/keys", valid,
		func(m map[string]any) { biElem(m, "prekeys", 0)["public_key"] = biBytesSlot },
		func(m map[string]any) { m["prekeys"] = map[string]any{} }) {
		c.name = "upload/" + c.name
		cases = append(cases, c)
	}
	add := func(name string, body any, status int, code string) {
		cases = append(cases, biCase{name: "upload/" + name, as: alice, method: "PUT", path: "/v1/keys", body: body, status: status, code: code})
	}
	for name, edit := range map[string]func(m map[string]any){
		"key_id negative":        func(m map[string]any) { biElem(m, "prekeys", 0)["key_id"] = -1 },
		"key_id 2^32":            func(m map[string]any) { biElem(m, "prekeys", 0)["key_id"] = json.Number("4294967296") },
		"key_id string":          func(m map[string]any) { biElem(m, "prekeys", 0)["key_id"] = "1" },
		"key_id fraction":        func(m map[string]any) { biObj(m, "signed_prekey")["key_id"] = 1.5 },
		"signed_prekey an array": func(m map[string]any) { m["signed_prekey"] = []any{} },
		"pq_prekeys an object":   func(m map[string]any) { m["pq_prekeys"] = map[string]any{"0": nil} },
		"prekey a string":        func(m map[string]any) { m["prekeys"] = []any{"key"} },
		"signature a number":     func(m map[string]any) { biElem(m, "pq_prekeys", 1)["signature"] = 64 },
	} {
		add(name, biEdit(t, valid, edit), http.StatusBadRequest, api.CodeInvalidJSON)
	}
	add("101 prekeys", upload(func(s *api.SetKeys) { s.PreKeys = prekeys(200, 101) }), http.StatusBadRequest, api.CodeTooManyKeys)
	add("101 pq prekeys", upload(func(s *api.SetKeys) { s.PQPreKeys = pqPrekeys(200, 101) }), http.StatusBadRequest, api.CodeTooManyKeys)
	for name, pub := range map[string][]byte{
		"empty": nil, "32 bytes": testkit.ECKey(t)[1:], "34 bytes": append(testkit.ECKey(t), 1),
		"type 0x08": biKey(0x08, 33), "type 0x00": biKey(0x00, 33), "a PQ key": goodPQ.PublicKey,
	} {
		add("prekey "+name, upload(func(s *api.SetKeys) { s.PreKeys[2].PublicKey = pub }), http.StatusBadRequest, api.CodeInvalidKey)
	}
	for name, k := range map[string]api.SignedPreKey{
		"type 0x08": biSigned(id, biKey(0x08, 33)), "32 bytes": biSigned(id, biKey(0x05, 32)), "a PQ key": goodPQ,
		"empty key": {KeyID: 77, Signature: goodSigned.Signature}, "signature 63": {KeyID: 77, PublicKey: goodSigned.PublicKey, Signature: goodSigned.Signature[:63]},
		"no signature": {KeyID: 77, PublicKey: goodSigned.PublicKey},
	} {
		add("signed_prekey "+name, upload(func(s *api.SetKeys) { s.SignedPreKey = ptr(k) }), http.StatusBadRequest, api.CodeInvalidKey)
	}
	for name, k := range map[string]api.SignedPreKey{
		"1568 bytes": biSigned(id, goodPQ.PublicKey[:1568]), "1570 bytes": biSigned(id, append(slices.Clone(goodPQ.PublicKey), 0)),
		"type 0x05": biSigned(id, append([]byte{0x05}, goodPQ.PublicKey[1:]...)), "an EC key": goodSigned,
		"signature 65": {KeyID: 77, PublicKey: goodPQ.PublicKey, Signature: append(slices.Clone(goodPQ.Signature), 0)},
	} {
		add("pq_last_resort "+name, upload(func(s *api.SetKeys) { s.PQLastResortPreKey = ptr(k) }), http.StatusBadRequest, api.CodeInvalidKey)
		add("pq_prekey "+name, upload(func(s *api.SetKeys) { s.PQPreKeys[1] = k }), http.StatusBadRequest, api.CodeInvalidKey)
	}
	add("signed_prekey by another identity", upload(func(s *api.SetKeys) { s.SignedPreKey = ptr(other.SignedEC(t, 77)) }), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("signed_prekey signature flipped", upload(func(s *api.SetKeys) { s.SignedPreKey = ptr(biFlip(goodSigned)) }), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("signed_prekey signature of the PQ key", upload(func(s *api.SetKeys) {
		s.SignedPreKey = &api.SignedPreKey{KeyID: 77, PublicKey: goodSigned.PublicKey, Signature: goodPQ.Signature}
	}), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("pq_last_resort by another identity", upload(func(s *api.SetKeys) { s.PQLastResortPreKey = ptr(other.SignedPQ(t, 77)) }), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("one bad pq prekey of 100", upload(func(s *api.SetKeys) {
		s.PQPreKeys = pqPrekeys(300, 100)
		s.PQPreKeys[99] = biFlip(s.PQPreKeys[99])
	}), http.StatusUnprocessableEntity, api.CodeBadSignature)
	add("100 good prekeys and a bad signed prekey", upload(func(s *api.SetKeys) {
		s.PreKeys = prekeys(400, 100)
		s.SignedPreKey = ptr(other.SignedEC(t, 77))
	}), http.StatusUnprocessableEntity, api.CodeBadSignature)

	bundle := func(name, acct, dev string, status int, code string) {
		cases = append(cases, biCase{name: "bundle/" + name, as: bob, method: "GET", path: "/v1/keys/" + acct + "/" + dev, status: status, code: code})
	}
	for name, acct := range map[string]string{
		"not a UUID": "alice", "upper-case": strings.ToUpper(alice.AccountID), "without dashes": strings.ReplaceAll(alice.AccountID, "-", ""),
		"in braces": url.PathEscape("{" + alice.AccountID + "}"), "NUL": "%00", "with a suffix": alice.AccountID + "0",
		"RTL mark": url.PathEscape("\u200f" + alice.AccountID), "star": "*",
	} {
		bundle("account "+name, acct, "1", http.StatusBadRequest, api.CodeBadRequest)
	}
	for name, dev := range map[string]string{
		"0": "0", "negative": "-1", "not a number": "x", "fraction": "1.5", "2^32+1": "4294967297", "two stars": "**",
		"star and digit": "*1", "leading space": "%201", "Arabic-Indic 1": url.PathEscape("\u0661"), "NUL": "%00",
	} {
		bundle("device "+name, alice.AccountID, dev, http.StatusBadRequest, api.CodeBadRequest)
	}
	bundle("unknown account", biUnknownAccount, "1", http.StatusNotFound, api.CodeNotFound)
	bundle("unknown account, all devices", biUnknownAccount, "*", http.StatusNotFound, api.CodeNotFound)
	bundle("unknown device", alice.AccountID, "9", http.StatusNotFound, api.CodeNotFound)
	bundle("device above the id range", alice.AccountID, "4294967295", http.StatusBadRequest, api.CodeBadRequest)
	bundle("unknown device, top of the range", alice.AccountID, "2147483647", http.StatusNotFound, api.CodeNotFound)
	cases = append(cases,
		biCase{name: "bundle/no device", as: bob, method: "GET", path: "/v1/keys/" + alice.AccountID, status: http.StatusNotFound, code: api.CodeNotFound},
		biCase{name: "bundle/wrong method", as: bob, method: "PUT", path: "/v1/keys/" + alice.AccountID + "/1", body: valid, status: http.StatusMethodNotAllowed, code: api.CodeMethodNotAllowed},
		biCase{name: "count/wrong method", as: alice, method: "POST", path: "/v1/keys/count", status: http.StatusMethodNotAllowed, code: api.CodeMethodNotAllowed},
		biCase{name: "upload/wrong method", as: alice, method: "POST", path: "/v1/keys", body: valid, status: http.StatusMethodNotAllowed, code: api.CodeMethodNotAllowed},
	)

	biRun(t, n, cases, func(t *testing.T) {
		t.Helper()
		equal(t, "alice's one-time keys", biKeyCount(t, n, alice), wantCount)
	})

	t.Run("signed keys unchanged", func(t *testing.T) {
		var b api.Bundle
		n.MustDo(t, bob, "GET", "/v1/keys/"+alice.AccountID+"/1", nil, http.StatusOK, &b)
		d := b.Devices[0]
		equal(t, "signed prekey id", d.SignedPreKey.KeyID, uint32(1))
		equal(t, "PQ key is the last resort", d.PQLastResort, true)
		equal(t, "last-resort key id", d.PQPreKey.KeyID, uint32(1))
		equal(t, "claimed the first one-time key", d.PreKey != nil && d.PreKey.KeyID == 1, true)
		equal(t, "one-time keys left", biKeyCount(t, n, alice), api.KeyCount{PreKeys: 4})
	})
	t.Run("control: the good upload passes", func(t *testing.T) {
		n.MustDo(t, alice, "PUT", "/v1/keys", valid, http.StatusNoContent, nil)
		equal(t, "one-time keys", biKeyCount(t, n, alice), api.KeyCount{PreKeys: 7, PQPreKeys: 2})
	})
}

func TestBadInputDirectory(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", biOpenLimits)
	alice, bob := n.Register(t), n.Register(t)
	var cases []biCase
	for _, odd := range biOddNumbers(bob.Number) {
		if odd.number == "" {
			continue // no route: below
		}
		cases = append(cases, biCase{name: odd.name, as: alice, method: "GET", path: "/v1/directory/" + url.PathEscape(odd.number),
			status: http.StatusBadRequest, code: api.CodeInvalidNumber})
	}
	cases = append(cases,
		biCase{name: "empty number", as: alice, method: "GET", path: "/v1/directory/", status: http.StatusNotFound, code: api.CodeNotFound},
		biCase{name: "unregistered test number", as: alice, method: "GET", path: "/v1/directory/" + testkit.TestNumber(), status: http.StatusNotFound, code: api.CodeNotFound},
		biCase{name: "unregistered real number", as: alice, method: "GET", path: "/v1/directory/+14155552671", status: http.StatusNotFound, code: api.CodeNotFound},
		biCase{name: "account id for a number", as: alice, method: "GET", path: "/v1/directory/" + bob.AccountID, status: http.StatusBadRequest, code: api.CodeInvalidNumber},
		biCase{name: "wrong method", as: alice, method: "POST", path: "/v1/directory/" + bob.Number, body: "{}", status: http.StatusMethodNotAllowed, code: api.CodeMethodNotAllowed},
	)
	biRun(t, n, cases, nil)

	t.Run("control: the canonical number is found", func(t *testing.T) {
		var dir api.Directory
		n.MustDo(t, alice, "GET", "/v1/directory/"+url.PathEscape(bob.Number), nil, http.StatusOK, &dir)
		equal(t, "bob's account", dir.AccountID, bob.AccountID)
	})
}

// biAttachmentID has an attachment id's shape and names none.
const biAttachmentID = "AAAAAAAAAAAAAAAAAAAAAA"

func TestBadInputAttachments(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { biOpenLimits(c); c.Attachments.MaxSize = 10 << 20 })
	alice, bob := n.Register(t), n.Register(t)
	var up api.Upload
	n.MustDo(t, alice, "POST", "/v1/attachments", api.NewAttachment{Size: 100}, http.StatusCreated, &up)
	mine := "/v1/attachments/" + up.ID
	cases := biBodyCases(t, alice, "POST", "/v1/attachments", api.NewAttachment{Size: 100}, nil, func(m map[string]any) { m["size"] = "100" })
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"size zero", api.NewAttachment{}, http.StatusBadRequest, api.CodeBadRequest},
		{"size negative", api.NewAttachment{Size: -1}, http.StatusBadRequest, api.CodeBadRequest},
		{"size above the limit", api.NewAttachment{Size: 10<<20 + 1}, http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge},
		{"size huge", `{"size": 9223372036854775807}`, http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge},
		{"size overflowing", `{"size": 92233720368547758070}`, http.StatusBadRequest, api.CodeInvalidJSON},
		{"size fractional", `{"size": 1.5}`, http.StatusBadRequest, api.CodeInvalidJSON},
	} {
		cases = append(cases, biCase{name: "create/" + c.name, as: alice, method: "POST", path: "/v1/attachments", body: c.body, status: c.status, code: c.code})
	}
	for _, id := range []string{"x", "AAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAA+", "..%2F..%2Fhush.db", "%00AAAAAAAAAAAAAAAAAAAA", biAttachmentID} {
		p := "/v1/attachments/" + id
		cases = append(cases,
			biCase{name: "get/" + id, as: alice, method: "GET", path: p, status: http.StatusNotFound, code: api.CodeNotFound},
			biCase{name: "resume/" + id, as: alice, method: "GET", path: p + "/upload", status: http.StatusNotFound, code: api.CodeNotFound},
			biCase{name: "complete/" + id, as: alice, method: "POST", path: p + "/complete", status: http.StatusNotFound, code: api.CodeNotFound},
			biCase{name: "delete/" + id, as: alice, method: "DELETE", path: p, status: http.StatusNotFound, code: api.CodeNotFound},
			biCase{name: "blob/" + id, method: "GET", path: p + "/blob?expires=1&sig=00", status: http.StatusForbidden, code: api.CodeForbidden},
			biCase{name: "part/" + id, method: "PUT", path: p + "/parts/1?size=1&expires=1&sig=00", body: "x", ctype: biNoCT, status: http.StatusForbidden, code: api.CodeForbidden},
		)
	}
	cases = append(cases,
		biCase{name: "another account's upload/resume", as: bob, method: "GET", path: mine + "/upload", status: http.StatusNotFound, code: api.CodeNotFound},
		biCase{name: "another account's upload/complete", as: bob, method: "POST", path: mine + "/complete", status: http.StatusNotFound, code: api.CodeNotFound},
		biCase{name: "another account's upload/delete", as: bob, method: "DELETE", path: mine, status: http.StatusNotFound, code: api.CodeNotFound},
		biCase{name: "unfinished upload/get", as: bob, method: "GET", path: mine, status: http.StatusNotFound, code: api.CodeNotFound},
		biCase{name: "complete before any part", as: alice, method: "POST", path: mine + "/complete", status: http.StatusConflict, code: api.CodeUploadIncomplete},
		biCase{name: "part without a signature", method: "PUT", path: mine + "/parts/1", body: "x", ctype: biNoCT, status: http.StatusForbidden, code: api.CodeForbidden},
		biCase{name: "part with another part's signature", method: "PUT", path: strings.Replace(up.Parts[0].URL, "/parts/1", "/parts/2", 1), body: strings.Repeat("x", 100), ctype: biNoCT, status: http.StatusForbidden, code: api.CodeForbidden},
		biCase{name: "part with another size", method: "PUT", path: strings.Replace(up.Parts[0].URL, "size=100", "size=101", 1), body: strings.Repeat("x", 101), ctype: biNoCT, status: http.StatusForbidden, code: api.CodeForbidden},
		biCase{name: "part above its size", method: "PUT", path: up.Parts[0].URL, body: strings.Repeat("x", 101), ctype: biNoCT, status: http.StatusRequestEntityTooLarge, code: api.CodePayloadTooLarge},
		biCase{name: "part below its size", method: "PUT", path: up.Parts[0].URL, body: strings.Repeat("x", 99), ctype: biNoCT, status: http.StatusBadRequest, code: api.CodeSizeMismatch},
		biCase{name: "create/wrong method", as: alice, method: "PUT", path: "/v1/attachments", body: api.NewAttachment{Size: 1}, status: http.StatusMethodNotAllowed, code: api.CodeMethodNotAllowed},
	)
	biRun(t, n, cases, nil)

	t.Run("control: the signed part is stored and the upload completes", func(t *testing.T) {
		status, body := blobHTTP(t, n, "PUT", up.Parts[0].URL, nil, bytes.Repeat([]byte("x"), 100))
		equal(t, "put "+string(body), status, http.StatusOK)
		n.MustDo(t, alice, "POST", mine+"/complete", nil, http.StatusOK, nil)
	})
}

// TestBadInputPush runs on the default providers: Web Push only, public
// endpoints only.
func TestBadInputPush(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", biOpenLimits)
	alice := n.Register(t)
	key := make([]byte, 65)
	key[0] = 4 // not on the curve
	wp := func(endpoint string, p256dh, auth []byte) api.PushRegistration {
		return api.PushRegistration{Kind: api.PushWebPush, Endpoint: endpoint, P256DH: p256dh, Auth: auth}
	}
	good := wp("https://push.example.org/p/1", testkit.NewWebPushKey(t), make([]byte, 16))
	cases := biBodyCases(t, alice, "PUT", "/v1/push", good, func(m map[string]any) { m["auth"] = "!!" }, func(m map[string]any) { m["kind"] = 5 })
	for _, c := range []struct {
		name string
		body api.PushRegistration
		code string
	}{
		{"no kind", api.PushRegistration{}, api.CodeBadRequest},
		{"unknown kind", api.PushRegistration{Kind: "sms", Token: "x"}, api.CodeBadRequest},
		{"apns not configured", api.PushRegistration{Kind: api.PushAPNs, Token: "a1b2c3d4e5f60718293a4b5c6d7e8f90"}, api.CodePushUnavailable},
		{"apns token not hex", api.PushRegistration{Kind: api.PushAPNs, Token: "zz"}, api.CodeBadRequest},
		{"fcm not configured", api.PushRegistration{Kind: api.PushFCM, Token: "t"}, api.CodePushUnavailable},
		{"fcm token with spaces", api.PushRegistration{Kind: api.PushFCM, Token: "a b"}, api.CodeBadRequest},
		{"wns not configured", api.PushRegistration{Kind: api.PushWNS, ChannelURI: "https://db5.notify.windows.com/?token=x"}, api.CodePushUnavailable},
		{"wns channel not a URL", api.PushRegistration{Kind: api.PushWNS, ChannelURI: "not a url"}, api.CodeBadRequest},
		{"webpush endpoint on loopback", wp("https://127.0.0.1/p/1", good.P256DH, good.Auth), api.CodeEndpointRefused},
		{"webpush endpoint localhost", wp("https://localhost/p/1", good.P256DH, good.Auth), api.CodeEndpointRefused},
		{"webpush endpoint private", wp("https://10.1.2.3/p/1", good.P256DH, good.Auth), api.CodeEndpointRefused},
		{"webpush endpoint http", wp("http://push.example.org/p/1", good.P256DH, good.Auth), api.CodeEndpointRefused},
		{"webpush endpoint with user", wp("https://u:p@push.example.org/p/1", good.P256DH, good.Auth), api.CodeBadRequest},
		{"webpush endpoint relative", wp("/p/1", good.P256DH, good.Auth), api.CodeBadRequest},
		{"webpush key off the curve", wp(good.Endpoint, key, good.Auth), api.CodeInvalidKey},
		{"webpush key short", wp(good.Endpoint, good.P256DH[:33], good.Auth), api.CodeInvalidKey},
		{"webpush auth short", wp(good.Endpoint, good.P256DH, good.Auth[:15]), api.CodeInvalidKey},
		{"webpush with a token too", api.PushRegistration{Kind: api.PushWebPush, Endpoint: good.Endpoint, P256DH: good.P256DH, Auth: good.Auth, Token: "x"}, api.CodeBadRequest},
	} {
		cases = append(cases, biCase{name: c.name, as: alice, method: "PUT", path: "/v1/push", body: c.body, status: http.StatusBadRequest, code: c.code})
	}
	biRun(t, n, cases, nil)

	t.Run("control: a public endpoint registers", func(t *testing.T) {
		n.MustDo(t, alice, "PUT", "/v1/push", good, http.StatusNoContent, nil)
		equal(t, "registrations", biStats(t, n)["push_registrations"], int64(1))
	})
}

func TestBadInputMessages(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", biOpenLimits)
	alice := n.Register(t)
	alice2 := n.Link(t, alice, 2)
	bob := n.Register(t)
	bob2 := n.Link(t, bob, 7)
	carol := n.Register(t)
	ct := []byte("opaque")

	valid := testkit.Send(bob.AccountID, ct, bob, bob2, alice2)
	send := func(mut func(s *api.Send)) api.Send {
		s := valid
		s.Messages = slices.Clone(valid.Messages)
		if mut != nil {
			mut(&s)
		}
		return s
	}
	cases := biBodyCases(t, alice, "POST", "/v1/messages", valid,
		func(m map[string]any) { biElem(m, "messages", 1)["content"] = biBytesSlot },
		func(m map[string]any) { m["messages"] = map[string]any{} })
	// The generic over-limit body is 1 MiB; a send may be much larger, so
	// that case is replaced by one over the send limit.
	cases = slices.DeleteFunc(cases, func(c biCase) bool { return c.status == http.StatusRequestEntityTooLarge })
	add := func(name string, body any, status int, code string) {
		cases = append(cases, biCase{name: name, as: alice, method: "POST", path: "/v1/messages", body: body, status: status, code: code})
	}
	add("body over the send limit", `{"destination":"`+bob.AccountID+`","pad":"`+strings.Repeat("a", 22<<20)+`"}`,
		http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge)
	for name, edit := range map[string]func(m map[string]any){
		"destination a number":  func(m map[string]any) { m["destination"] = 5 },
		"ephemeral a string":    func(m map[string]any) { m["ephemeral"] = "yes" },
		"device_id negative":    func(m map[string]any) { biElem(m, "messages", 0)["device_id"] = -1 },
		"device_id 2^32+1":      func(m map[string]any) { biElem(m, "messages", 0)["device_id"] = json.Number("4294967297") },
		"device_id a string":    func(m map[string]any) { biElem(m, "messages", 0)["device_id"] = "1" },
		"registration_id float": func(m map[string]any) { biElem(m, "messages", 1)["registration_id"] = 7.5 },
		"type 1e400":            func(m map[string]any) { biElem(m, "messages", 0)["type"] = json.RawMessage("1e400") },
		"message a string":      func(m map[string]any) { m["messages"] = []any{"hello"} },
	} {
		add(name, biEdit(t, valid, edit), http.StatusBadRequest, api.CodeInvalidJSON)
	}
	for name, dest := range map[string]string{
		"empty": "", "not a UUID": "bob", "upper-case": strings.ToUpper(bob.AccountID), "in braces": "{" + bob.AccountID + "}",
		"without dashes": strings.ReplaceAll(bob.AccountID, "-", ""), "with NUL": bob.AccountID + "\x00", "a number": bob.Number,
	} {
		add("destination "+name, send(func(s *api.Send) { s.Destination = dest }), http.StatusBadRequest, api.CodeBadRequest)
	}
	add("unknown destination", testkit.Send(biUnknownAccount, ct, &testkit.Device{Credentials: api.Credentials{AccountID: biUnknownAccount, DeviceID: 1}, RegistrationID: 1}, alice2),
		http.StatusNotFound, api.CodeNotFound)
	add("no messages", send(func(s *api.Send) { s.Messages = []api.OutgoingMessage{} }), http.StatusConflict, api.CodeMismatchedDevices)
	add("messages null", send(func(s *api.Send) { s.Messages = nil }), http.StatusConflict, api.CodeMismatchedDevices)
	add("ephemeral with no messages", send(func(s *api.Send) { s.Messages = nil; s.Ephemeral = true }), http.StatusConflict, api.CodeMismatchedDevices)
	add("65 messages", send(func(s *api.Send) {
		for i := range 62 {
			s.Messages = append(s.Messages, api.OutgoingMessage{DeviceID: uint32(10 + i), RegistrationID: 1, Type: 3, Content: ct})
		}
	}), http.StatusBadRequest, api.CodeBadRequest)
	add("empty content", send(func(s *api.Send) { s.Messages[1].Content = []byte{} }), http.StatusBadRequest, api.CodeBadRequest)
	add("no content", send(func(s *api.Send) { s.Messages[2].Content = nil }), http.StatusBadRequest, api.CodeBadRequest)
	add("ephemeral with empty content", send(func(s *api.Send) { s.Ephemeral = true; s.Messages[0].Content = nil }), http.StatusBadRequest, api.CodeBadRequest)
	add("content over 256 KiB", send(func(s *api.Send) { s.Messages[1].Content = make([]byte, 256<<10+1) }), http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge)
	add("ephemeral content over 256 KiB", send(func(s *api.Send) { s.Ephemeral = true; s.Messages[0].Content = make([]byte, 256<<10+1) }),
		http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge)
	add("device_id 0", send(func(s *api.Send) { s.Messages[0].DeviceID = 0 }), http.StatusBadRequest, api.CodeBadRequest)
	add("type 0", send(func(s *api.Send) { s.Messages[0].Type = 0 }), http.StatusBadRequest, api.CodeBadRequest)
	add("type 256", send(func(s *api.Send) { s.Messages[0].Type = 256 }), http.StatusBadRequest, api.CodeBadRequest)
	add("type negative", send(func(s *api.Send) { s.Messages[0].Type = -3 }), http.StatusBadRequest, api.CodeBadRequest)
	add("account_id of a third account", send(func(s *api.Send) { s.Messages[0].AccountID = carol.AccountID }), http.StatusBadRequest, api.CodeBadRequest)
	add("account_id malformed", send(func(s *api.Send) { s.Messages[2].AccountID = "alice" }), http.StatusBadRequest, api.CodeBadRequest)
	add("account_id upper-case", send(func(s *api.Send) { s.Messages[2].AccountID = strings.ToUpper(alice.AccountID) }), http.StatusBadRequest, api.CodeBadRequest)
	add("duplicate destination device", send(func(s *api.Send) { s.Messages = append(s.Messages, s.Messages[0]) }), http.StatusBadRequest, api.CodeBadRequest)
	add("duplicate own device", send(func(s *api.Send) { s.Messages = append(s.Messages, s.Messages[2]) }), http.StatusBadRequest, api.CodeBadRequest)
	add("duplicate by implicit and explicit account", send(func(s *api.Send) {
		m := s.Messages[1]
		m.AccountID = ""
		s.Messages = append(s.Messages, m)
	}), http.StatusBadRequest, api.CodeBadRequest)
	add("duplicate with different content", send(func(s *api.Send) {
		m := s.Messages[0]
		m.Content = []byte("other")
		s.Messages = append(s.Messages, m)
	}), http.StatusBadRequest, api.CodeBadRequest)
	add("missing a destination device", send(func(s *api.Send) { s.Messages = slices.Delete(s.Messages, 1, 2) }), http.StatusConflict, api.CodeMismatchedDevices)
	add("missing an own device", send(func(s *api.Send) { s.Messages = s.Messages[:2] }), http.StatusConflict, api.CodeMismatchedDevices)
	add("unknown device", send(func(s *api.Send) {
		s.Messages = append(s.Messages, api.OutgoingMessage{DeviceID: 9, RegistrationID: 1, Type: 3, Content: ct})
	}), http.StatusConflict, api.CodeMismatchedDevices)
	add("own sending device", send(func(s *api.Send) {
		s.Messages = append(s.Messages, api.OutgoingMessage{AccountID: alice.AccountID, DeviceID: 1, RegistrationID: 1, Type: 3, Content: ct})
	}), http.StatusConflict, api.CodeMismatchedDevices)
	add("ephemeral missing a device", send(func(s *api.Send) { s.Ephemeral = true; s.Messages = s.Messages[:1] }), http.StatusConflict, api.CodeMismatchedDevices)
	add("stale registration id", send(func(s *api.Send) { s.Messages[1].RegistrationID = 8 }), http.StatusGone, api.CodeStaleDevices)
	add("registration id 0", send(func(s *api.Send) { s.Messages[0].RegistrationID = 0 }), http.StatusGone, api.CodeStaleDevices)
	cases = append(cases, biCase{name: "wrong method", as: alice, method: "GET", path: "/v1/messages", status: http.StatusMethodNotAllowed, code: api.CodeMethodNotAllowed})

	biRun(t, n, cases, nil)

	t.Run("nothing delivered", func(t *testing.T) {
		equal(t, "envelopes stored", biStats(t, n)["envelopes"], int64(0))
		for _, d := range []*testkit.Device{bob, bob2, alice2, carol} {
			ws := biQueueEmpty(t, n, d)
			ws.C.CloseNow()
		}
	})
	t.Run("control: the good send passes", func(t *testing.T) {
		ws := biQueueEmpty(t, n, bob)
		var res api.SendResult
		n.MustDo(t, alice, "POST", "/v1/messages", valid, http.StatusOK, &res)
		f := ws.Read()
		equal(t, "frame", f.Type, wire.TypeEnvelope)
		equal(t, "envelope", f.Envelope.ID, res.ID)
	})
}

func TestBadInputWebSocketHandshake(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", biOpenLimits)
	bob := n.Register(t)
	upgrade := func(version, key string) func(*http.Request) {
		return func(r *http.Request) {
			biAs(bob)(r)
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
			if version != "" {
				r.Header.Set("Sec-WebSocket-Version", version)
			}
			if key != "" {
				r.Header.Set("Sec-WebSocket-Key", key)
			}
		}
	}
	goodKey := base64.StdEncoding.EncodeToString(make([]byte, 16))
	cases := []struct {
		name, method, path string
		setup              func(*http.Request)
		status             int
		code               string
	}{
		{"message socket without upgrade", "GET", "/v1/websocket", biAs(bob), http.StatusUpgradeRequired, api.CodeBadRequest},
		{"provisioning socket without upgrade", "GET", "/v1/provisioning", nil, http.StatusUpgradeRequired, api.CodeBadRequest},
		{"message socket, version 12", "GET", "/v1/websocket", upgrade("12", goodKey), http.StatusBadRequest, api.CodeBadRequest},
		{"message socket, no key", "GET", "/v1/websocket", upgrade("13", ""), http.StatusBadRequest, api.CodeBadRequest},
		{"message socket, short key", "GET", "/v1/websocket", upgrade("13", "AAAA"), http.StatusBadRequest, api.CodeBadRequest},
		{"provisioning socket, version 12", "GET", "/v1/provisioning", upgrade("12", goodKey), http.StatusBadRequest, api.CodeBadRequest},
		{"message socket, POST", "POST", "/v1/websocket", biAs(bob), http.StatusMethodNotAllowed, api.CodeMethodNotAllowed},
		{"provisioning socket, DELETE", "DELETE", "/v1/provisioning", nil, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, hdr, body := biDo(t, n, c.method, c.path, nil, "", c.setup)
			biCheck(t, status, hdr, body, c.status, c.code)
		})
	}
	t.Run("control: the socket opens", func(t *testing.T) {
		biQueueEmpty(t, n, bob).C.CloseNow()
	})
}

func TestBadInputWebSocketFrames(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", biOpenLimits)
	alice, bob := n.Register(t), n.Register(t)
	wb := biQueueEmpty(t, n, bob)
	var res api.SendResult
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("hello"), bob), http.StatusOK, &res)
	f := wb.Read()
	equal(t, "frame", f.Type, wire.TypeEnvelope)
	equal(t, "envelope id", f.Envelope.ID, res.ID)

	frame := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	sendFrame := func(id string, s api.Send) string {
		return frame(wire.Frame{Type: wire.TypeSend, RequestID: id, Send: &s})
	}
	good := testkit.Send(alice.AccountID, []byte("reply"), alice)
	bad := func(mut func(s *api.Send)) api.Send {
		s := good
		s.Messages = slices.Clone(good.Messages)
		mut(&s)
		return s
	}
	editSend := func(edit func(m map[string]any)) string {
		return string(biEdit(t, wire.Frame{Type: wire.TypeSend, RequestID: "r", Send: &good}, edit))
	}
	cases := []struct {
		name   string
		frame  string
		typ    string // the answer's type
		status int    // send_result only
		code   string
	}{
		{"not JSON", "hello", wire.TypeError, 0, api.CodeBadRequest},
		{"empty", "", wire.TypeError, 0, api.CodeBadRequest},
		{"truncated", `{"type":"ack","id":"`, wire.TypeError, 0, api.CodeBadRequest},
		{"array", `[{"type":"ack","id":"` + res.ID + `"}]`, wire.TypeError, 0, api.CodeBadRequest},
		{"two frames in one message", `{"type":"ack","id":"` + res.ID + `"}{"type":"ack","id":"` + res.ID + `"}`, wire.TypeError, 0, api.CodeBadRequest},
		{"no type", `{"id":"` + res.ID + `"}`, wire.TypeError, 0, api.CodeBadRequest},
		{"type not a string", `{"type":5}`, wire.TypeError, 0, api.CodeBadRequest},
		{"unknown type", `{"type":"bogus"}`, wire.TypeError, 0, api.CodeBadRequest},
		{"type in upper case", `{"type":"ACK","id":"` + res.ID + `"}`, wire.TypeError, 0, api.CodeBadRequest},
		{"type with NUL", `{"type":"ack\u0000","id":"` + res.ID + `"}`, wire.TypeError, 0, api.CodeBadRequest},
		{"server frame queue_empty", `{"type":"queue_empty"}`, wire.TypeError, 0, api.CodeBadRequest},
		{"server frame envelope", frame(wire.Frame{Type: wire.TypeEnvelope, Envelope: &wire.Envelope{ID: res.ID, Content: []byte("x")}}), wire.TypeError, 0, api.CodeBadRequest},
		{"server frame send_result", `{"type":"send_result","request_id":"r"}`, wire.TypeError, 0, api.CodeBadRequest},
		{"ack without id", `{"type":"ack"}`, wire.TypeError, 0, api.CodeBadRequest},
		{"ack id not a string", `{"type":"ack","id":5}`, wire.TypeError, 0, api.CodeBadRequest},
		{"ack id not a UUID", `{"type":"ack","id":"not-a-uuid"}`, wire.TypeError, 0, api.CodeBadRequest},
		{"ack id with a suffix", `{"type":"ack","id":"` + res.ID + `0"}`, wire.TypeError, 0, api.CodeBadRequest},
		{"ack id truncated", `{"type":"ack","id":"` + res.ID[:35] + `"}`, wire.TypeError, 0, api.CodeBadRequest},
		{"ack id NUL", `{"type":"ack","id":"\u0000"}`, wire.TypeError, 0, api.CodeBadRequest},
		{"send without request_id", sendFrame("", good), wire.TypeError, 0, api.CodeBadRequest},
		{"send without body", `{"type":"send","request_id":"r"}`, wire.TypeError, 0, api.CodeBadRequest},
		{"send body null", `{"type":"send","request_id":"r","send":null}`, wire.TypeError, 0, api.CodeBadRequest},
		{"send body not an object", `{"type":"send","request_id":"r","send":5}`, wire.TypeError, 0, api.CodeBadRequest},
		{"send invalid base64", editSend(func(m map[string]any) { biElem(biObj(m, "send"), "messages", 0)["content"] = "!!!!" }), wire.TypeError, 0, api.CodeBadRequest},
		{"send device_id negative", editSend(func(m map[string]any) { biElem(biObj(m, "send"), "messages", 0)["device_id"] = -1 }), wire.TypeError, 0, api.CodeBadRequest},
		{"send malformed destination", sendFrame("r1", bad(func(s *api.Send) { s.Destination = "alice" })), wire.TypeSendResult, http.StatusBadRequest, api.CodeBadRequest},
		{"send unknown destination", sendFrame("r2", bad(func(s *api.Send) { s.Destination = biUnknownAccount; s.Messages[0].AccountID = "" })), wire.TypeSendResult, http.StatusNotFound, api.CodeNotFound},
		{"send no messages", sendFrame("r3", bad(func(s *api.Send) { s.Messages = nil })), wire.TypeSendResult, http.StatusConflict, api.CodeMismatchedDevices},
		{"send empty content", sendFrame("r4", bad(func(s *api.Send) { s.Messages[0].Content = nil })), wire.TypeSendResult, http.StatusBadRequest, api.CodeBadRequest},
		{"send content over 256 KiB", sendFrame("r5", bad(func(s *api.Send) { s.Messages[0].Content = make([]byte, 256<<10+1) })), wire.TypeSendResult, http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge},
		{"send duplicate device", sendFrame("r6", bad(func(s *api.Send) { s.Messages = append(s.Messages, s.Messages[0]) })), wire.TypeSendResult, http.StatusBadRequest, api.CodeBadRequest},
		{"send unknown device", sendFrame("r7", bad(func(s *api.Send) { s.Messages[0].DeviceID = 2 })), wire.TypeSendResult, http.StatusConflict, api.CodeMismatchedDevices},
		{"send stale registration id", sendFrame("r8", bad(func(s *api.Send) { s.Messages[0].RegistrationID = 99 })), wire.TypeSendResult, http.StatusGone, api.CodeStaleDevices},
		{"send type 0", sendFrame("r9", bad(func(s *api.Send) { s.Messages[0].Type = 0 })), wire.TypeSendResult, http.StatusBadRequest, api.CodeBadRequest},
		{"send request_id with odd runes", sendFrame("\u200f\x00\u0661", bad(func(s *api.Send) { s.Destination = "not-an-id" })), wire.TypeSendResult, http.StatusBadRequest, api.CodeBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := biStats(t, n)
			biWrite(t, wb, []byte(c.frame))
			f, err := wb.ReadErr(30 * time.Second)
			if err != nil {
				t.Fatalf("no answer (socket closed with %v): %v", websocket.CloseStatus(err), err)
			}
			if f.Type != c.typ || f.Error == nil {
				t.Fatalf("answer %+v, want a %s frame with an error", f, c.typ)
			}
			equal(t, "error code", f.Error.Code, c.code)
			if f.Error.Message == "" {
				t.Error("error without a message")
			}
			if c.typ == wire.TypeSendResult {
				var want wire.Frame
				if err := json.Unmarshal([]byte(c.frame), &want); err != nil {
					t.Fatal(err)
				}
				equal(t, "request id", f.RequestID, want.RequestID)
				equal(t, "status", f.Status, c.status)
				if f.Result != nil {
					t.Errorf("a failed send has a result: %+v", f.Result)
				}
			}
			if f.Status >= 500 || (f.Status != 0 && f.Status < 400) {
				t.Errorf("status %d, want a 4xx", f.Status)
			}
			if got := biStats(t, n); !maps.Equal(got, before) {
				t.Errorf("rows changed by a rejected frame: %v, were %v", got, before)
			}
		})
	}

	t.Run("an ack of an unknown id is answered by nothing", func(t *testing.T) {
		biWrite(t, wb, []byte(frame(wire.Frame{Type: wire.TypeAck, ID: biUnknownAccount})))
		biWrite(t, wb, []byte(sendFrame("probe", bad(func(s *api.Send) { s.Messages = nil }))))
		f := biRead(t, wb)
		equal(t, "next answer", f.Type+" "+f.RequestID, wire.TypeSendResult+" probe")
	})
	t.Run("the socket still takes a good ack and send", func(t *testing.T) {
		equal(t, "bob's envelope still stored", biStats(t, n)["envelopes"], int64(1))
		biWrite(t, wb, []byte(frame(wire.Frame{Type: wire.TypeAck, ID: res.ID})))
		biWrite(t, wb, []byte(sendFrame("ok", good)))
		f := biRead(t, wb)
		equal(t, "answer", f.Type+" "+f.RequestID, wire.TypeSendResult+" ok")
		equal(t, "status", f.Status, http.StatusOK)
		if f.Result == nil || f.Result.ID == "" {
			t.Fatalf("no result in %+v", f)
		}
		// Acks commit in groups, asynchronously: bob's copy goes, alice's stays.
		testkit.WaitFor(t, "the ack to delete bob's copy", func() bool { return biStats(t, n)["envelopes"] == 1 })
		wa := n.Connect(t, alice)
		for {
			g := wa.Read()
			if g.Type == wire.TypeEnvelope {
				equal(t, "alice got", g.Envelope.ID+" "+string(g.Envelope.Content), f.Result.ID+" reply")
				break
			}
			if g.Type == wire.TypeQueueEmpty {
				t.Fatal("alice got nothing")
			}
		}
		wb.C.CloseNow()
		biQueueEmpty(t, n, bob).C.CloseNow() // the ack held: nothing comes again
	})
}

func TestBadInputOversizeFrame(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", biOpenLimits)
	bob := n.Register(t)
	ws := biQueueEmpty(t, n, bob)
	big := `{"type":"ack","id":"` + strings.Repeat("a", wire.MaxFrameSize) + `"}`
	// The server may close before it has read everything; the write's
	// error does not matter, the close code does.
	_ = ws.C.Write(t.Context(), websocket.MessageText, []byte(big))
	equal(t, "close code", ws.CloseStatus(), websocket.StatusMessageTooBig)
	biQueueEmpty(t, n, bob).C.CloseNow()
}

// biCred is one way of presenting a credential that is not a device's.
type biCred struct {
	name string
	set  func(*http.Request)
}

func biBasic(user, password string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

func biAuthHeader(v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", v) }
}

// biUnauthenticated are the public routes that take no device credential:
// the blob routes take a signed URL instead (TestAttachmentRefusals forges
// and expires them); registration and linking take a code.
var biUnauthenticated = []string{"GET /healthz", "GET /readyz", "POST /v1/registration/code", "POST /v1/registration/verify",
	"GET /v1/provisioning", "POST /v1/devices/link", "PUT /v1/attachments/{id}/parts/{n}", "GET /v1/attachments/{id}/blob"}

// biAllCovered fails for every authenticated route of n's public router
// that is not in covered: a new route needs an entry in each table.
func biAllCovered(t *testing.T, n *testkit.Node, covered []string) {
	t.Helper()
	for _, p := range n.Node.Router.Patterns() {
		if !slices.Contains(biUnauthenticated, p) && !slices.Contains(covered, p) {
			t.Errorf("route %s is not in the table", p)
		}
	}
}

func TestBadInputUnauthorized(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", biOpenLimits)
	alice := n.Register(t)
	alice2 := n.Link(t, alice, 2)
	alice3 := n.Link(t, alice, 3)
	n.MustDo(t, alice, "DELETE", "/v1/devices/3", nil, http.StatusNoContent, nil)
	bob := n.Register(t)
	n.MustDo(t, bob, "PUT", "/v1/keys", api.SetKeys{PreKeys: []api.PreKey{{KeyID: 1, PublicKey: testkit.ECKey(t)}}}, http.StatusNoContent, nil)
	var g api.Group
	n.MustDo(t, alice, "POST", "/v1/groups", api.CreateGroup{Members: []string{bob.AccountID}}, http.StatusCreated, &g)
	gp := "/v1/groups/" + g.GroupID

	admin, _, err := n.Node.GDPR.CreateToken(t.Context(), "cli", "officer", gdpr.RoleCompliance)
	if err != nil {
		t.Fatal(err)
	}
	creds := []biCred{
		{"no credential", nil},
		{"admin token as bearer", biAuthHeader("Bearer " + admin)},
		{"admin token as basic password", biBasic(alice.User(), admin)},
		{"wrong password", biBasic(alice.User(), "wrong")},
		{"empty password", biBasic(alice.User(), "")},
		{"password of another device", biBasic(alice.User(), alice2.Password)},
		{"password of another account", biBasic(alice.User(), bob.Password)},
		{"password with a suffix", biBasic(alice.User(), alice.Password+"x")},
		{"password truncated", biBasic(alice.User(), alice.Password[:len(alice.Password)-1])},
		{"user without device", biBasic(alice.AccountID, alice.Password)},
		{"user with device 0", biBasic(alice.AccountID+".0", alice.Password)},
		{"user with device x", biBasic(alice.AccountID+".x", alice.Password)},
		{"user with device -1", biBasic(alice.AccountID+".-1", alice.Password)},
		{"user with device 2^32+1", biBasic(alice.AccountID+".4294967297", alice.Password)},
		{"user with two dots", biBasic(alice.AccountID+".1.1", alice.Password)},
		{"user with a trailing dot", biBasic(alice.AccountID+".", alice.Password)},
		{"user in upper case", biBasic(strings.ToUpper(alice.AccountID)+".1", alice.Password)},
		{"user without dashes", biBasic(strings.ReplaceAll(alice.AccountID, "-", "")+".1", alice.Password)},
		{"user with an RTL mark", biBasic("\u200f"+alice.User(), alice.Password)},
		{"user with Arabic-Indic device", biBasic(alice.AccountID+".\u0661", alice.Password)},
		{"empty user", biBasic("", alice.Password)},
		{"unknown account", biBasic(biUnknownAccount+".1", alice.Password)},
		{"unknown device", biBasic(alice.AccountID+".9", alice.Password)},
		{"removed device", biBasic(alice3.User(), alice3.Password)},
		{"bearer scheme", biAuthHeader("Bearer " + alice.Password)},
		{"basic, not base64", biAuthHeader("Basic !!!")},
		{"basic without colon", biAuthHeader("Basic " + base64.StdEncoding.EncodeToString([]byte(alice.User()+alice.Password)))},
		{"basic, empty", biAuthHeader("Basic ")},
	}
	routes := []struct {
		pattern string
		path    string
		body    any
	}{
		{"POST /v1/devices/provisioning_code", "/v1/devices/provisioning_code", nil},
		{"PUT /v1/provisioning/{address}", "/v1/provisioning/nope", api.ProvisioningMessage{Body: []byte("x")}},
		{"GET /v1/devices", "/v1/devices", nil},
		{"DELETE /v1/devices/{device_id}", "/v1/devices/2", nil},
		{"PUT /v1/keys", "/v1/keys", api.SetKeys{PreKeys: []api.PreKey{{KeyID: 1, PublicKey: testkit.ECKey(t)}}}},
		{"GET /v1/keys/count", "/v1/keys/count", nil},
		{"GET /v1/keys/{account_id}/{device_id}", "/v1/keys/" + bob.AccountID + "/*", nil},
		{"GET /v1/directory/{number}", "/v1/directory/" + bob.Number, nil},
		{"POST /v1/messages", "/v1/messages", testkit.Send(bob.AccountID, []byte("x"), bob, alice2)},
		{"GET /v1/websocket", "/v1/websocket", nil},
		{"POST /v1/groups", "/v1/groups", api.CreateGroup{Members: []string{bob.AccountID}}},
		{"GET /v1/groups", "/v1/groups", nil},
		{"GET /v1/groups/{id}", gp, nil},
		{"POST /v1/groups/{id}/members", gp + "/members", api.AddMembers{Members: []string{bob.AccountID}}},
		{"DELETE /v1/groups/{id}/members/{account}", gp + "/members/" + bob.AccountID, nil},
		{"POST /v1/groups/{id}/admins", gp + "/admins", api.Promote{AccountID: bob.AccountID}},
		{"POST /v1/groups/{id}/messages", gp + "/messages", groupSend([]byte("x"), alice2, bob)},
		{"GET /v1/account/privacy", "/v1/account/privacy", nil},
		{"PUT /v1/account/privacy", "/v1/account/privacy", api.Privacy{LastSeen: api.VisibleEveryone}},
		{"PUT /v1/account/registration-lock", "/v1/account/registration-lock", api.SetRegistrationLock{Token: make([]byte, 32), Salt: make([]byte, 32)}},
		{"DELETE /v1/account/registration-lock", "/v1/account/registration-lock", nil},
		{"GET /v1/accounts/{id}/last_seen", "/v1/accounts/" + bob.AccountID + "/last_seen", nil},
		{"POST /v1/attachments", "/v1/attachments", api.NewAttachment{Size: 10}},
		{"GET /v1/attachments/{id}", "/v1/attachments/" + biAttachmentID, nil},
		{"DELETE /v1/attachments/{id}", "/v1/attachments/" + biAttachmentID, nil},
		{"GET /v1/attachments/{id}/upload", "/v1/attachments/" + biAttachmentID + "/upload", nil},
		{"POST /v1/attachments/{id}/complete", "/v1/attachments/" + biAttachmentID + "/complete", nil},
		{"PUT /v1/push", "/v1/push", api.PushRegistration{Kind: api.PushFCM, Token: "t"}},
		{"GET /v1/push", "/v1/push", nil},
		{"DELETE /v1/push", "/v1/push", nil},
		{"GET /v1/push/vapid", "/v1/push/vapid", nil},
		{"GET /v1/account/export", "/v1/account/export", nil},
		{"DELETE /v1/account", "/v1/account", nil},
	}
	t.Run("every authenticated route is here", func(t *testing.T) {
		var covered []string
		for _, r := range routes {
			covered = append(covered, r.pattern)
		}
		biAllCovered(t, n, covered)
	})
	for _, r := range routes {
		method, _, _ := strings.Cut(r.pattern, " ")
		for _, c := range creds {
			t.Run(r.pattern+"/"+c.name, func(t *testing.T) {
				before := biStats(t, n)
				status, hdr, body := biDo(t, n, method, r.path, r.body, "", c.set)
				biCheck(t, status, hdr, body, http.StatusUnauthorized, api.CodeUnauthorized)
				if got := biStats(t, n); !maps.Equal(got, before) {
					t.Errorf("rows changed by an unauthenticated request: %v, were %v", got, before)
				}
			})
		}
	}
	for _, c := range creds {
		t.Run("WebSocket handshake/"+c.name, func(t *testing.T) {
			h := http.Header{}
			if c.set != nil {
				req, _ := http.NewRequest("GET", n.URL, nil)
				c.set(req)
				h = req.Header
			}
			ws, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(n.URL, "http")+"/v1/websocket", &websocket.DialOptions{HTTPHeader: h})
			if err == nil {
				ws.CloseNow()
				t.Fatal("the socket opened")
			}
			if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("handshake: %v (response %v)", err, resp)
			}
		})
	}
	t.Run("devices unchanged", func(t *testing.T) {
		var list api.DeviceList
		n.MustDo(t, alice2, "GET", "/v1/devices", nil, http.StatusOK, &list)
		equal(t, "devices", len(list.Devices), 2)
	})
}

func TestBadInputForbidden(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", biOpenLimits)
	alice := n.Register(t)
	alice2 := n.Link(t, alice, 2)
	alice3 := n.Link(t, alice, 3)
	bob := n.Register(t)
	var bobs []*testkit.Device
	for i := range 3 {
		bobs = append(bobs, n.Link(t, bob, uint32(20+i)))
	}
	equal(t, "bob's last device", bobs[2].DeviceID, uint32(4))

	cases := []biCase{
		{name: "secondary asks for a provisioning code", as: alice2, method: "POST", path: "/v1/devices/provisioning_code", status: http.StatusForbidden, code: api.CodeForbidden},
		{name: "secondary removes another secondary", as: alice2, method: "DELETE", path: "/v1/devices/3", status: http.StatusForbidden, code: api.CodeForbidden},
		{name: "secondary removes the primary", as: alice3, method: "DELETE", path: "/v1/devices/1", status: http.StatusForbidden, code: api.CodeForbidden},
		{name: "secondary removes an unknown device", as: alice2, method: "DELETE", path: "/v1/devices/9", status: http.StatusForbidden, code: api.CodeForbidden},
		{name: "primary removes itself", as: alice, method: "DELETE", path: "/v1/devices/1", status: http.StatusForbidden, code: api.CodeForbidden},
		{name: "primary removes an unknown device", as: alice, method: "DELETE", path: "/v1/devices/9", status: http.StatusNotFound, code: api.CodeNotFound},
		{name: "primary removes a device id only another account has", as: alice, method: "DELETE", path: "/v1/devices/4", status: http.StatusNotFound, code: api.CodeNotFound},
		{name: "other account's primary removes the primary", as: bob, method: "DELETE", path: "/v1/devices/1", status: http.StatusForbidden, code: api.CodeForbidden},
	}
	aliceDevices, bobDevices := biDeviceIDs(t, n, alice), biDeviceIDs(t, n, bob)
	biRun(t, n, cases, func(t *testing.T) {
		t.Helper()
		equal(t, "alice's devices", biDeviceIDs(t, n, alice), aliceDevices)
		equal(t, "bob's devices", biDeviceIDs(t, n, bob), bobDevices)
	})
	t.Run("every device still authenticates", func(t *testing.T) {
		for _, d := range append([]*testkit.Device{alice, alice2, alice3, bob}, bobs...) {
			n.MustDo(t, d, "GET", "/v1/keys/count", nil, http.StatusOK, nil)
		}
	})
	t.Run("a removed device is not found again", func(t *testing.T) {
		n.MustDo(t, alice, "DELETE", "/v1/devices/3", nil, http.StatusNoContent, nil)
		n.Expect(t, alice, "DELETE", "/v1/devices/3", nil, http.StatusNotFound, api.CodeNotFound)
		n.Expect(t, alice3, "DELETE", "/v1/devices/3", nil, http.StatusUnauthorized, api.CodeUnauthorized)
		equal(t, "bob's devices", biDeviceIDs(t, n, bob), bobDevices)
	})
}
