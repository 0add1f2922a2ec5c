package attachments_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hushmsg/hush/attachments"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/httpx"
)

// fsRig is an FS with a known signing key, one complete blob and one
// open upload, behind the router hushd mounts it on.
type fsRig struct {
	h        http.Handler
	logged   *bytes.Buffer
	key      []byte
	blob     []byte
	get, put attachments.Location // signed, valid until 2100
	gone     attachments.Location // signed, for an upload never begun
	expired  attachments.Location
	secrets  []string // what no refusal may contain
}

const (
	rigBlob   = "AAAAAAAAAAAAAAAAAAAAAA" // complete, served
	rigUpload = "BBBBBBBBBBBBBBBBBBBBBB" // upload begun, part 1 of 5 bytes signed
	rigPart   = "hello"
)

func newFSRig(t testing.TB) *fsRig {
	t.Helper()
	dir := t.TempDir()
	rig := &fsRig{key: bytes.Repeat([]byte{0x5a}, 32), blob: []byte("ciphertext of an attachment"), logged: new(bytes.Buffer)}
	if err := os.WriteFile(filepath.Join(dir, "url-signing.key"), rig.key, 0o600); err != nil {
		t.Fatal(err)
	}
	fs, err := attachments.OpenFS(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fs.BlobPath(rigBlob), rig.blob, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := fs.Begin(ctx, rigUpload); err != nil {
		t.Fatal(err)
	}
	until := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	if rig.get, err = fs.DownloadLocation(ctx, rigBlob, until); err != nil {
		t.Fatal(err)
	}
	if rig.put, err = fs.PartLocation(ctx, rigUpload, rigUpload, 1, int64(len(rigPart)), until); err != nil {
		t.Fatal(err)
	}
	if rig.gone, err = fs.PartLocation(ctx, rigBlob, rigBlob, 1, int64(len(rigPart)), until); err != nil {
		t.Fatal(err)
	}
	if rig.expired, err = fs.DownloadLocation(ctx, rigBlob, time.Unix(1_000_000_000, 0)); err != nil {
		t.Fatal(err)
	}
	rig.secrets = []string{hex.EncodeToString(rig.key), string(rig.key), string(rig.blob)}
	for _, l := range []attachments.Location{rig.get, rig.put, rig.gone, rig.expired} {
		rig.secrets = append(rig.secrets, query(t, l.URL).Get("sig"))
	}
	r := httpx.NewRouter(slog.New(slog.NewTextHandler(rig.logged, nil)))
	fs.Routes(r)
	rig.h = r
	return rig
}

func query(t testing.TB, raw string) url.Values {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req.URL.Query()
}

// signed reports whether r carries exactly the fields of loc and its
// signature, and names its path.
func signed(r *http.Request, loc attachments.Location) bool {
	want, _ := http.NewRequest(loc.Method, loc.URL, nil)
	got, wq := r.URL.Query(), want.URL.Query()
	gs, err1 := hex.DecodeString(got.Get("sig"))
	ws, err2 := hex.DecodeString(wq.Get("sig"))
	return r.URL.Path == want.URL.Path && err1 == nil && err2 == nil && bytes.Equal(gs, ws) &&
		got.Get("expires") == wq.Get("expires") && got.Get("size") == wq.Get("size")
}

var fuzzMethods = []string{http.MethodGet, http.MethodPut, http.MethodHead, http.MethodPost, http.MethodDelete}

// FuzzFSRoutes: whatever request line, headers and body reach the signed
// URL routes, the answer is never a 5xx; a 2xx needs a URL hushd signed
// (or, for the public route, the blob's own id) and a part of the
// signed size; the URLs hushd signs work; and no refusal holds the key,
// a signature or the blob.
func FuzzFSRoutes(f *testing.F) {
	rig := newFSRig(f)
	f.Add(uint8(0), rig.get.URL, "", []byte(nil))
	f.Add(uint8(1), rig.put.URL, "", []byte(rigPart))
	f.Add(uint8(1), rig.put.URL, "", []byte(rigPart+"!"))
	f.Add(uint8(1), rig.put.URL, "", []byte(rigPart[1:]))
	f.Add(uint8(1), rig.gone.URL, "", []byte(rigPart))
	f.Add(uint8(1), strings.Replace(rig.put.URL, "size=5", "size=6", 1), "", []byte(rigPart+"!"))
	f.Add(uint8(1), strings.Replace(rig.put.URL, "parts/1", "parts/2", 1), "", []byte(rigPart))
	f.Add(uint8(1), strings.Replace(rig.put.URL, rigUpload, rigBlob, 1), "", []byte(rigPart))
	f.Add(uint8(1), rig.put.URL, "Transfer-Encoding: chunked\r\n", []byte("5\r\nhello\r\n0\r\n\r\n"))
	f.Add(uint8(2), rig.get.URL, "Range: bytes=3-7\r\n", []byte(nil))
	f.Add(uint8(0), rig.get.URL, "If-Modified-Since: Mon, 01 Jan 2999 00:00:00 GMT\r\n", []byte(nil))
	f.Add(uint8(0), rig.expired.URL, "", []byte(nil))
	f.Add(uint8(0), strings.Replace(rig.get.URL, "/blob", "/blob/", 1), "", []byte(nil))
	f.Add(uint8(0), rig.get.URL+"&sig=00", "", []byte(nil))
	f.Add(uint8(0), strings.ToUpper(rig.get.URL), "", []byte(nil))
	f.Add(uint8(0), "/v1/attachments/"+rigBlob+"/blob?expires=9999999999&sig=", "", []byte(nil))
	f.Add(uint8(0), "/v1/attachments/..%2F..%2Furl-signing.key/blob?expires=1&sig=zz", "", []byte(nil))
	f.Add(uint8(0), "/v1/attachments/"+rigBlob+"/blob?expires=-1&expires=1&sig=%zz", "", []byte(nil))
	f.Add(uint8(0), "/attachments/"+rigBlob, "", []byte(nil))
	f.Add(uint8(0), "/attachments/"+rigUpload, "", []byte(nil))
	f.Add(uint8(0), "/attachments/..%2Furl-signing.key", "", []byte(nil))
	f.Add(uint8(3), "/attachments/"+rigBlob, "", []byte("x"))
	f.Add(uint8(4), "//v1/attachments/./"+rigBlob+"/blob", "", []byte(nil))
	f.Fuzz(func(t *testing.T, m uint8, target, headers string, body []byte) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		// Parse the request as the server does; what does not parse never
		// reaches a handler.
		raw := method + " " + target + " HTTP/1.1\r\nHost: hush.test\r\n" + headers
		if !strings.Contains(strings.ToLower(headers), "transfer-encoding") {
			raw += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw + "\r\n" + string(body))))
		if err != nil {
			return
		}
		rig.logged.Reset()
		w := httptest.NewRecorder()
		rig.h.ServeHTTP(w, req)
		res := w.Result()
		got, _ := io.ReadAll(res.Body)

		if res.StatusCode >= 500 || rig.logged.Len() > 0 {
			t.Fatalf("%s %q: %d %s; logged %s", method, target, res.StatusCode, got, rig.logged)
		}
		read := method == http.MethodGet || method == http.MethodHead
		public := read && req.URL.Path == "/attachments/"+rigBlob
		download := read && signed(req, rig.get)
		upload := method == http.MethodPut && signed(req, rig.put)
		if res.StatusCode < 300 {
			switch {
			case public, download:
			case upload:
				if req.ContentLength != int64(len(rigPart)) {
					t.Fatalf("%s %q: part of %d bytes (%d) accepted", method, target, req.ContentLength, res.StatusCode)
				}
			default:
				t.Fatalf("%s %q with headers %q: %d for a URL hushd did not sign", method, target, headers, res.StatusCode)
			}
		}
		// Without headers of the client's own, what hushd signed works.
		if req.Header.Get("Range") == "" && req.Header.Get("If-Modified-Since") == "" && req.Header.Get("If-None-Match") == "" &&
			req.Header.Get("If-Range") == "" && req.Header.Get("If-Match") == "" && req.Header.Get("If-Unmodified-Since") == "" {
			switch {
			case (public || download) && (res.StatusCode != http.StatusOK || method == http.MethodGet && !bytes.Equal(got, rig.blob)):
				t.Fatalf("%s %q: %d %q, want the blob", method, target, res.StatusCode, got)
			case upload && req.ContentLength == int64(len(rigPart)) && len(req.TransferEncoding) == 0 && string(body) == rigPart && res.StatusCode != http.StatusOK:
				t.Fatalf("%s %q: %d %s for the signed part", method, target, res.StatusCode, got)
			}
		}
		if res.StatusCode >= 300 {
			// http.ServeContent answers 304, 412 and 416 itself.
			var e api.Error
			if !public && !download && (json.Unmarshal(got, &e) != nil || e.Code == "") {
				t.Fatalf("%s %q: %d with body %q, not an API error", method, target, res.StatusCode, got)
			}
			for _, s := range rig.secrets {
				if s != "" && !strings.Contains(raw, s) && bytes.Contains(got, []byte(s)) {
					t.Fatalf("%s %q: refusal %q holds %q", method, target, got, s)
				}
			}
		}
	})
}
