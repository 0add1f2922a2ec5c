package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

func TestAttachmentRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := &fake{}
	upload := `{"id":"att1","size":20,"part_size":16,"parts":[{"number":1,"size":16,"method":"PUT","url":"/v1/attachments/att1/parts/1?sig=x"},{"number":2,"size":4,"uploaded":true}],"urls_expire":5,"expires":6}`
	srv := f.start(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /v1/attachments":               reply(201, upload),
		"GET /v1/attachments/att1/upload":    reply(200, upload),
		"POST /v1/attachments/att1/complete": reply(409, `{"error":"upload_incomplete","message":"parts missing","missing_parts":[1,3]}`),
		"POST /v1/attachments/att2/complete": reply(200, `{"id":"att2","size":20,"url":"/v1/attachments/att2/blob?sig=y","url_expires":7,"expires":8}`),
		"GET /v1/attachments/att2":           reply(200, `{"id":"att2","size":20,"url":"https://cdn.example/b","expires":8}`),
		"DELETE /v1/attachments/att2":        reply(204, ``),
	})
	dev := newClient(t, srv.URL, true)

	up, err := dev.CreateUpload(ctx, 20)
	noErr(t, err)
	r := f.last(t)
	assert(t, r.body == `{"size":20}` && r.hasAuth, "create upload sent %+v", r)
	assert(t, up.ID == "att1" && up.PartSize == 16 && len(up.Parts) == 2 && up.Parts[1].Uploaded, "upload %+v", up)
	up, err = dev.ResumeUpload(ctx, "att1")
	noErr(t, err)
	assert(t, up.Parts[0].URL != "" && f.last(t).hasAuth, "resume %+v", up)

	_, err = dev.CompleteUpload(ctx, "att1")
	var ae *client.APIError
	assert(t, errors.As(err, &ae) && ae.Body.Code == api.CodeUploadIncomplete && fmt.Sprint(ae.Body.MissingParts) == "[1 3]",
		"complete with parts missing: %v", err)
	a, err := dev.CompleteUpload(ctx, "att2")
	noErr(t, err)
	assert(t, a.ID == "att2" && a.URLExpires == 7, "complete %+v", a)
	a, err = dev.Attachment(ctx, "att2")
	noErr(t, err)
	assert(t, a.URL == "https://cdn.example/b" && f.last(t).hasAuth, "attachment %+v", a)
	noErr(t, dev.DeleteAttachment(ctx, "att2"))
	assert(t, f.last(t).method == http.MethodDelete, "delete sent %+v", f.last(t))

	_, err = dev.Attachment(ctx, "gone")
	assert(t, client.IsCode(err, api.CodeNotFound), "unknown attachment: %v", err)
	_, err = newClient(t, srv.URL, false).CreateUpload(ctx, 1)
	assert(t, errors.Is(err, client.ErrNoCredentials), "create upload without credentials: %v", err)
}

// blobServer stands for a blob store: PUT stores a part, GET serves the
// stored blob with or without honouring Range.
type blobServer struct {
	mu          sync.Mutex
	parts       map[string][]byte
	headers     http.Header
	auth        bool
	ignoreRange bool
	cut         bool // answer a range one byte short
}

func (b *blobServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.Header.Get("Authorization") != "" {
		b.auth = true
	}
	if r.URL.Query().Get("sig") != "ok" {
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `<Error><Code>AccessDenied</Code></Error>`)
		return
	}
	switch r.Method {
	case http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		b.parts[r.URL.Path] = body
		b.headers = r.Header.Clone()
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		blob := b.parts[r.URL.Path]
		var from, to int
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &from, &to); err != nil || b.ignoreRange {
			_, _ = w.Write(blob)
			return
		}
		part := blob[from : to+1]
		if b.cut {
			part = part[:len(part)-1]
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, to, len(blob)))
		w.Header().Set("Content-Length", strconv.Itoa(len(part)))
		w.WriteHeader(http.StatusPartialContent)
		_, _ = w.Write(part)
	}
}

func TestPutPartAndDownload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &blobServer{parts: map[string][]byte{}}
	srv := httptest.NewServer(store)
	t.Cleanup(srv.Close)
	blob := []byte("0123456789abcdefghij")

	// A base URL with a path prefix keeps it for a location relative to
	// the server, as for every route.
	for _, base := range []string{srv.URL, srv.URL + "/prefix/"} {
		dev := newClient(t, base, true)
		prefix := strings.TrimPrefix(base, srv.URL)
		prefix = strings.TrimSuffix(prefix, "/")
		part := api.UploadPart{Number: 1, Size: int64(len(blob)), Method: http.MethodPut,
			URL: "/v1/attachments/a/parts/1?sig=ok", Headers: map[string]string{"X-Amz-Meta-Test": "v"}}
		noErr(t, dev.PutPart(ctx, part, bytes.NewReader(append(blob, "more than the part"...))))
		store.mu.Lock()
		got, hdr, auth := store.parts[prefix+"/v1/attachments/a/parts/1"], store.headers, store.auth
		store.mu.Unlock()
		assert(t, bytes.Equal(got, blob), "%s: stored %q", base, got)
		assert(t, hdr.Get("X-Amz-Meta-Test") == "v", "%s: part headers not sent: %v", base, hdr)
		assert(t, !auth, "%s: device credentials sent to the blob store", base)

		for _, tc := range []struct{ off, n int64 }{{0, 20}, {0, 7}, {7, 13}, {19, 1}} {
			body, err := dev.Download(ctx, "/v1/attachments/a/parts/1?sig=ok", tc.off, tc.n)
			noErr(t, err)
			b, err := io.ReadAll(body)
			noErr(t, err)
			noErr(t, body.Close())
			assert(t, string(b) == string(blob[tc.off:tc.off+tc.n]), "%s: range %+v read %q", base, tc, b)
		}
	}

	dev := newClient(t, srv.URL, true)
	// An absolute location is used as it is; a refusal keeps its status
	// and never shows the signed query.
	err := dev.PutPart(ctx, api.UploadPart{Number: 2, Size: 1, URL: srv.URL + "/elsewhere?sig=secret-sig"}, strings.NewReader("x"))
	var ae *client.APIError
	assert(t, errors.As(err, &ae) && ae.Status == http.StatusForbidden, "forged location: %v", err)
	assert(t, !strings.Contains(err.Error(), "secret-sig") && strings.Contains(err.Error(), "part 2"), "error %q", err)
	_, err = dev.Download(ctx, srv.URL+"/v1/attachments/a/parts/1?sig=secret-sig", 0, 1)
	assert(t, errors.As(err, &ae) && ae.Status == http.StatusForbidden && !strings.Contains(err.Error(), "secret-sig"), "download refused: %v", err)
	err = dev.PutPart(ctx, api.UploadPart{Number: 1, Size: 1, URL: "ftp://x/y"}, strings.NewReader("x"))
	assert(t, err != nil, "ftp location accepted")
	_, err = newClient(t, "http://127.0.0.1:1", true).Download(ctx, "/blob?sig=secret-sig", 0, 1)
	assert(t, err != nil && !strings.Contains(err.Error(), "secret-sig"), "unreachable store: %v", err)

	// A store that ignores Range is read from the start and skipped to
	// the offset; a short range is an error.
	store.mu.Lock()
	store.ignoreRange = true
	store.mu.Unlock()
	body, err := dev.Download(ctx, "/v1/attachments/a/parts/1?sig=ok", 5, 4)
	noErr(t, err)
	b, err := io.ReadAll(body)
	noErr(t, err)
	_ = body.Close()
	assert(t, string(b) == "5678", "range from a store ignoring Range: %q", b)
	store.mu.Lock()
	store.ignoreRange, store.cut = false, true
	store.mu.Unlock()
	body, err = dev.Download(ctx, "/v1/attachments/a/parts/1?sig=ok", 2, 4)
	noErr(t, err)
	_, err = io.ReadAll(body)
	_ = body.Close()
	assert(t, err != nil, "a short range read without an error")
}
