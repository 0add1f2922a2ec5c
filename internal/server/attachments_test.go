package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hushmsg/hush/attachments"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
	"github.com/hushmsg/hush/internal/testkit/s3test"
)

// blobBackend is one blob store the attachment tests run on.
type blobBackend struct {
	name string
	s3   *s3test.Server
	n    *testkit.Node
	skew atomic.Int64 // how far the attachment service's clock is ahead
}

// objects returns the stored complete objects by attachment id.
func (b *blobBackend) objects(t *testing.T) map[string][]byte {
	t.Helper()
	if b.s3 != nil {
		return b.s3.Objects(t)
	}
	out := map[string][]byte{}
	dir := filepath.Join(b.n.DataDir, server.BlobDir, "blobs")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = data
	}
	return out
}

// uploads counts unfinished uploads in the blob store.
func (b *blobBackend) uploads(t *testing.T) int {
	t.Helper()
	if b.s3 != nil {
		return b.s3.Uploads(t)
	}
	ents, err := os.ReadDir(filepath.Join(b.n.DataDir, server.BlobDir, "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// eachBlobStore runs fn on a node with the filesystem store and on one
// with S3.
func eachBlobStore(t *testing.T, mutate func(*server.Config), fn func(t *testing.T, b *blobBackend)) {
	for _, name := range []string{"fs", "s3"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := &blobBackend{name: name}
			if name == "s3" {
				b.s3 = s3test.Start(t)
			}
			b.n = testkit.Start(t, "", func(c *server.Config) {
				c.Attachments.Clock = func() time.Time { return time.Now().Add(time.Duration(b.skew.Load())) }
				if b.s3 != nil {
					c.Attachments.S3 = b.s3.Config()
				}
				if mutate != nil {
					mutate(c)
				}
			})
			fn(t, b)
		})
	}
}

// blobHTTP does a request to a location (absolute, or relative to the
// node) without device credentials.
func blobHTTP(t *testing.T, n *testkit.Node, method, loc string, headers map[string]string, body []byte) (int, []byte) {
	t.Helper()
	base, _ := url.Parse(n.URL)
	ref, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, base.ResolveReference(ref).String(), r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func putPart(t *testing.T, n *testkit.Node, p api.UploadPart, data []byte) int {
	t.Helper()
	status, body := blobHTTP(t, n, p.Method, p.URL, p.Headers, data)
	if status/100 != 2 && status != http.StatusForbidden && status != http.StatusRequestEntityTooLarge && status != http.StatusBadRequest {
		t.Fatalf("put part %d: %d %s", p.Number, status, body)
	}
	return status
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAttachmentUploadResumeDownload uploads two parts with a break in
// between, resumes, completes, and downloads as another account.
func TestAttachmentUploadResumeDownload(t *testing.T) {
	t.Parallel()
	eachBlobStore(t, nil, func(t *testing.T, b *blobBackend) {
		n := b.n
		alice, bob := n.Register(t), n.Register(t)
		blob := randomBytes(t, 8<<20+1000)
		var up api.Upload
		n.MustDo(t, alice, "POST", "/v1/attachments", api.NewAttachment{Size: int64(len(blob))}, http.StatusCreated, &up)
		equal(t, "parts", len(up.Parts), 2)
		equal(t, "part sizes", fmt.Sprint(up.Parts[0].Size, up.Parts[1].Size), fmt.Sprint(8<<20, 1000))
		equal(t, "id is valid", attachments.ValidID(up.ID), true)
		path := "/v1/attachments/" + up.ID

		// The second part first; then the connection "breaks".
		equal(t, "put part 2", putPart(t, n, up.Parts[1], blob[8<<20:]), http.StatusOK)
		e := n.Expect(t, alice, "POST", path+"/complete", nil, http.StatusConflict, api.CodeUploadIncomplete)
		equal(t, "missing", fmt.Sprint(e.MissingParts), "[1]")
		n.Expect(t, bob, "GET", path+"/upload", nil, http.StatusNotFound, api.CodeNotFound)
		n.Expect(t, bob, "GET", path, nil, http.StatusNotFound, api.CodeNotFound)

		var resumed api.Upload
		n.MustDo(t, alice, "GET", path+"/upload", nil, http.StatusOK, &resumed)
		equal(t, "part 2 uploaded", resumed.Parts[1].Uploaded && resumed.Parts[1].URL == "", true)
		equal(t, "part 1 to do", !resumed.Parts[0].Uploaded && resumed.Parts[0].URL != "", true)
		equal(t, "put part 1", putPart(t, n, resumed.Parts[0], blob[:8<<20]), http.StatusOK)

		var a api.Attachment
		n.MustDo(t, alice, "POST", path+"/complete", nil, http.StatusOK, &a)
		equal(t, "size", a.Size, int64(len(blob)))
		n.Expect(t, alice, "GET", path+"/upload", nil, http.StatusConflict, api.CodeUploadComplete)
		var again api.Attachment
		n.MustDo(t, alice, "POST", path+"/complete", nil, http.StatusOK, &again) // the first answer was lost
		equal(t, "completed again", again.ID == a.ID && again.Size == a.Size, true)
		n.Expect(t, bob, "POST", path+"/complete", nil, http.StatusNotFound, api.CodeNotFound)

		n.MustDo(t, bob, "GET", path, nil, http.StatusOK, &a)
		status, got := blobHTTP(t, n, "GET", a.URL, nil, nil)
		equal(t, "download status", status, http.StatusOK)
		equal(t, "downloaded bytes", bytes.Equal(got, blob), true)
		status, got = blobHTTP(t, n, "GET", a.URL, map[string]string{"Range": "bytes=100-199"}, nil)
		equal(t, "range status", status, http.StatusPartialContent)
		equal(t, "range bytes", bytes.Equal(got, blob[100:200]), true)
		equal(t, "stored object", bytes.Equal(b.objects(t)[up.ID], blob), true)
		equal(t, "unfinished uploads", b.uploads(t), 0)
		equal(t, "records", biStats(t, n)["attachments"], int64(1))
	})
}

// TestAttachmentRefusals: a declared size above the limit, a part above
// its declared size, a forged or expired URL, an unknown id.
func TestAttachmentRefusals(t *testing.T) {
	t.Parallel()
	eachBlobStore(t, func(c *server.Config) { c.Attachments.MaxSize = 20 << 20 }, func(t *testing.T, b *blobBackend) {
		n := b.n
		alice := n.Register(t)
		n.Expect(t, alice, "POST", "/v1/attachments", api.NewAttachment{Size: 20<<20 + 1}, http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge)
		n.Expect(t, alice, "POST", "/v1/attachments", api.NewAttachment{Size: 0}, http.StatusBadRequest, api.CodeBadRequest)
		n.Expect(t, alice, "POST", "/v1/attachments", api.NewAttachment{Size: -5}, http.StatusBadRequest, api.CodeBadRequest)
		n.Expect(t, alice, "POST", "/v1/attachments", []byte(`{"size":"big"}`), http.StatusBadRequest, api.CodeInvalidJSON)
		n.Expect(t, nil, "POST", "/v1/attachments", api.NewAttachment{Size: 10}, http.StatusUnauthorized, api.CodeUnauthorized)
		equal(t, "records after refusals", biStats(t, n)["attachments"], int64(0))

		var up api.Upload
		n.MustDo(t, alice, "POST", "/v1/attachments", api.NewAttachment{Size: 1000}, http.StatusCreated, &up)
		p := up.Parts[0]
		// More bytes than declared: the store refuses the part (S3 by the
		// signed Content-Length, the filesystem store by the signed size).
		status := putPart(t, n, p, randomBytes(t, 1001))
		equal(t, "oversized part refused", status == http.StatusForbidden || status == http.StatusRequestEntityTooLarge, true)
		status = putPart(t, n, p, randomBytes(t, 999))
		equal(t, "undersized part refused", status/100 != 2, true)
		// A forged signature.
		forged := strings.Replace(p.URL, "ig=", "ig=0", 1)
		if b.s3 != nil {
			forged = strings.Replace(p.URL, "X-Amz-Signature=", "X-Amz-Signature=0", 1)
		}
		equal(t, "forged part URL", putPart(t, n, api.UploadPart{Number: 1, Method: "PUT", URL: forged, Headers: p.Headers}, randomBytes(t, 1000)), http.StatusForbidden)
		n.Expect(t, alice, "POST", "/v1/attachments/"+up.ID+"/complete", nil, http.StatusConflict, api.CodeUploadIncomplete)

		blob := randomBytes(t, 1000)
		equal(t, "put", putPart(t, n, p, blob), http.StatusOK)
		var a api.Attachment
		n.MustDo(t, alice, "POST", "/v1/attachments/"+up.ID+"/complete", nil, http.StatusOK, &a)

		// Forged and expired download URLs.
		forged = strings.Replace(a.URL, "sig=", "sig=00", 1)
		expired := ""
		if b.s3 != nil {
			forged = strings.Replace(a.URL, "X-Amz-Signature=", "X-Amz-Signature=0", 1)
			expired = b.s3.ExpiredURL(t, up.ID)
		} else {
			fs, err := attachments.OpenFS(filepath.Join(n.DataDir, server.BlobDir), false)
			if err != nil {
				t.Fatal(err)
			}
			loc, _ := fs.DownloadLocation(context.Background(), up.ID, time.Now().Add(-time.Second))
			expired = loc.URL
		}
		status, _ = blobHTTP(t, n, "GET", forged, nil, nil)
		equal(t, "forged download", status, http.StatusForbidden)
		status, _ = blobHTTP(t, n, "GET", expired, nil, nil)
		equal(t, "expired download", status, http.StatusForbidden)
		status, got := blobHTTP(t, n, "GET", a.URL, nil, nil)
		equal(t, "valid download", status == http.StatusOK && bytes.Equal(got, blob), true)

		n.Expect(t, alice, "GET", "/v1/attachments/AAAAAAAAAAAAAAAAAAAAAA", nil, http.StatusNotFound, api.CodeNotFound)
		n.Expect(t, alice, "GET", "/v1/attachments/not-an-id", nil, http.StatusNotFound, api.CodeNotFound)
		n.Expect(t, alice, "GET", "/v1/attachments/AAAAAAAAAAAAAAAAAAAAAA/upload", nil, http.StatusNotFound, api.CodeNotFound)
		n.Expect(t, alice, "POST", "/v1/attachments/AAAAAAAAAAAAAAAAAAAAAA/complete", nil, http.StatusNotFound, api.CodeNotFound)
		n.Expect(t, alice, "DELETE", "/v1/attachments/AAAAAAAAAAAAAAAAAAAAAA", nil, http.StatusNotFound, api.CodeNotFound)
		if b.s3 == nil {
			status, _ = blobHTTP(t, n, "GET", "/v1/attachments/AAAAAAAAAAAAAAAAAAAAAA/blob?expires=9999999999&sig=00", nil, nil)
			equal(t, "unknown blob with a forged URL", status, http.StatusForbidden)
		}
	})
}

// TestAttachmentLifecycle: expiry deletes objects and records, an
// abandoned upload is dropped, an owner deletes, and an account's
// attachments go with it.
func TestAttachmentLifecycle(t *testing.T) {
	t.Parallel()
	eachBlobStore(t, nil, func(t *testing.T, b *blobBackend) {
		n, skew := b.n, &b.skew
		svc := n.Node.Attachments
		alice, bob := n.Register(t), n.Register(t)
		upload := func(dev *testkit.Device, complete bool) string {
			var up api.Upload
			n.MustDo(t, dev, "POST", "/v1/attachments", api.NewAttachment{Size: 64}, http.StatusCreated, &up)
			equal(t, "put", putPart(t, n, up.Parts[0], randomBytes(t, 64)), http.StatusOK)
			if complete {
				n.MustDo(t, dev, "POST", "/v1/attachments/"+up.ID+"/complete", nil, http.StatusOK, nil)
			}
			return up.ID
		}
		kept, expiring, abandoned := upload(alice, true), upload(alice, true), upload(alice, false)
		equal(t, "objects", len(b.objects(t)), 2)
		equal(t, "uploads", b.uploads(t), 1)

		// A day on: the abandoned upload is gone, the rest stays.
		skew.Store(int64(25 * time.Hour))
		swept, err := svc.Sweep(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "swept after a day", swept, 1)
		equal(t, "uploads", b.uploads(t), 0)
		n.Expect(t, alice, "GET", "/v1/attachments/"+abandoned+"/upload", nil, http.StatusNotFound, api.CodeNotFound)

		// The owner deletes one; another account cannot.
		n.Expect(t, bob, "DELETE", "/v1/attachments/"+kept, nil, http.StatusNotFound, api.CodeNotFound)
		n.MustDo(t, alice, "DELETE", "/v1/attachments/"+kept, nil, http.StatusNoContent, nil)
		n.Expect(t, bob, "GET", "/v1/attachments/"+kept, nil, http.StatusNotFound, api.CodeNotFound)
		equal(t, "objects after delete", len(b.objects(t)), 1)

		// Past the TTL the other expires: not served, then swept.
		skew.Store(int64(31 * 24 * time.Hour))
		n.Expect(t, bob, "GET", "/v1/attachments/"+expiring, nil, http.StatusNotFound, api.CodeNotFound)
		swept, err = svc.Sweep(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "swept after the TTL", swept, 1)
		equal(t, "objects after expiry", len(b.objects(t)), 0)
		equal(t, "records after expiry", biStats(t, n)["attachments"], int64(0))

		// An account's erasure deletes its attachments at once.
		skew.Store(0)
		mine, theirs := upload(bob, true), upload(alice, true)
		deleted, err := svc.DeleteOwned(t.Context(), bob.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "bob's attachments", deleted, int64(1))
		objs := b.objects(t)
		_, hasMine := objs[mine]
		_, hasTheirs := objs[theirs]
		equal(t, "bob's object gone, alice's kept", !hasMine && hasTheirs, true)
		equal(t, "records left", biStats(t, n)["attachments"], int64(1))
	})
}
