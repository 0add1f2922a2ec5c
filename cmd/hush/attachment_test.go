package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/hushmsg/hush/client/content"
	attach "github.com/hushmsg/hush/cmd/hush/internal/attachment"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

func TestSafeFileName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 200) + ".tar.gz" // 400 bytes of name
	tests := []struct {
		name, kind, ct, want string
	}{
		{"photo.png", kindImage, "image/png", "photo.png"},
		{"../../etc/passwd", kindFile, "", "passwd"},
		{`..\..\windows\system32\evil.dll`, kindFile, "", "evil.dll"},
		{".bashrc", kindFile, "", "bashrc"},
		{"...", kindFile, "text/plain; charset=utf-8", "file.txt"},
		{"..", kindImage, "image/jpeg", "image.jpg"},
		{"", kindVideo, "video/mp4", "video.mp4"},
		{"", kindFile, "application/x-unknown", "file"},
		{"a/", kindFile, "", "file"},
		{"report\x00.pdf", kindFile, "", "report_.pdf"},
		{"bell\a\x1b[31m.txt", kindFile, "", "bell__[31m.txt"},
		{"cv\u202Efdp.exe", kindFile, "", "cv_fdp.exe"}, // right-to-left override
		{"inv\xffalid.bin", kindFile, "", "inv_alid.bin"},
		{`what?*:"<>|.txt`, kindFile, "", "what_______.txt"},
		{"trailing. . ", kindFile, "", "trailing"},
		{" spaced name.jpg", kindImage, "", "spaced name.jpg"},
	}
	for _, tc := range tests {
		got := safeFileName(tc.name, tc.kind, tc.ct)
		assert(t, got == tc.want, "safeFileName(%q) = %q, want %q", tc.name, got, tc.want)
	}
	got := safeFileName(long, kindFile, "")
	assert(t, len(got) <= maxFileName && strings.HasSuffix(got, ".gz") && strings.HasPrefix(got, "éé"), "long name became %q (%d bytes)", got, len(got))
	assert(t, strings.ToValidUTF8(got, "") == got, "long name cut inside a character: %q", got)
}

func TestCreateUniqueNeverOverwrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	noErr(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("old"), 0o600))
	noErr(t, os.Symlink(filepath.Join(dir, "target"), filepath.Join(dir, "a (1).txt")))
	var paths []string
	for range 3 {
		f, path, err := createUnique(dir, "a.txt")
		noErr(t, err)
		_, _ = f.WriteString("new")
		noErr(t, f.Close())
		paths = append(paths, filepath.Base(path))
	}
	assert(t, strings.Join(paths, "|") == "a (2).txt|a (3).txt|a (4).txt", "created %q", paths)
	old, _ := os.ReadFile(filepath.Join(dir, "a.txt"))
	assert(t, string(old) == "old", "a.txt overwritten: %q", old)
	_, err := os.Stat(filepath.Join(dir, "target"))
	assert(t, errors.Is(err, os.ErrNotExist), "a link was followed")
	f, path, err := createUnique(dir, "noext")
	noErr(t, err)
	f.Close()
	f, path2, err := createUnique(dir, "noext")
	noErr(t, err)
	f.Close()
	assert(t, filepath.Base(path) == "noext" && filepath.Base(path2) == "noext (1)", "%s, %s", path, path2)
}

// testImage is a w×h gradient, half transparent on the right.
func testImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if x > w/2 {
				a = 0
			}
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(x * 255 / w), G: uint8(y * 255 / h), B: 80, A: a})
		}
	}
	return img
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	noErr(t, png.Encode(&b, img))
	return b.Bytes()
}

func TestThumbnail(t *testing.T) {
	t.Parallel()
	var gifBuf, jpgBuf bytes.Buffer
	noErr(t, gif.Encode(&gifBuf, testImage(50, 200), nil))
	noErr(t, jpeg.Encode(&jpgBuf, testImage(1000, 10), nil))
	tests := []struct {
		name string
		data []byte
		w, h int
	}{
		{"png 640x480", encodePNG(t, testImage(640, 480)), 64, 48},
		{"png 3x2", encodePNG(t, testImage(3, 2)), 3, 2},
		{"gif 50x200", gifBuf.Bytes(), 16, 64},
		{"jpeg 1000x10", jpgBuf.Bytes(), 64, 1},
	}
	for _, tc := range tests {
		th, err := thumbnail(bytes.NewReader(tc.data))
		noErr(t, err)
		img, format, err := image.Decode(bytes.NewReader(th))
		noErr(t, err)
		assert(t, format == "jpeg", "%s: thumbnail is %s", tc.name, format)
		b := img.Bounds()
		assert(t, b.Dx() == tc.w && b.Dy() == tc.h, "%s: thumbnail %dx%d, want %dx%d", tc.name, b.Dx(), b.Dy(), tc.w, tc.h)
		assert(t, len(th) <= maxThumbnail, "%s: thumbnail of %d bytes", tc.name, len(th))
	}
	// The transparent right half is drawn on white.
	th, err := thumbnail(bytes.NewReader(encodePNG(t, testImage(640, 480))))
	noErr(t, err)
	img, _ := jpeg.Decode(bytes.NewReader(th))
	r, g, b, _ := img.At(60, 24).RGBA()
	assert(t, r > 0xe000 && g > 0xe000 && b > 0xe000, "transparent part is not white: %x %x %x", r, g, b)

	_, err = thumbnail(strings.NewReader("not an image"))
	assert(t, err != nil && strings.Contains(err.Error(), "not an image"), "text: %v", err)
	// A PNG whose header claims 100000×100000 pixels is not decoded.
	_, err = thumbnail(bytes.NewReader(pngClaiming(t, 100000, 100000)))
	assert(t, errors.Is(err, errImageTooLarge), "decompression bomb: %v", err)
}

// pngClaiming is a 1×1 PNG whose header is rewritten to claim w×h.
func pngClaiming(t *testing.T, w, h uint32) []byte {
	b := encodePNG(t, image.NewGray(image.Rect(0, 0, 1, 1)))
	ihdr := b[8+8 : 8+8+13] // signature, length and type, then the data
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	binary.BigEndian.PutUint32(b[8+8+13:], crc32.ChecksumIEEE(b[8+4:8+8+13]))
	return b
}

func TestAttachmentPointerBounds(t *testing.T) {
	t.Parallel()
	good := func() *attachment {
		return &attachment{ID: "AAAAAAAAAAAAAAAAAAAAAA", Key: attach.NewKey(), Digest: make([]byte, 32),
			ContentType: "image/png", FileName: "a.png", Size: 5, Thumbnail: []byte{1}}
	}
	tests := []struct {
		name   string
		mutate func(*attachment)
		err    string
	}{
		{"valid", func(*attachment) {}, ""},
		{"no pointer", func(a *attachment) { a.ID, a.Key, a.Digest = "", nil, nil }, "id is not valid"},
		{"key without id", func(a *attachment) { a.ID = "" }, "id is not valid"},
		{"short key", func(a *attachment) { a.Key = a.Key[:63] }, "wrong size"},
		{"long digest", func(a *attachment) { a.Digest = make([]byte, 33) }, "digest longer than 32"},
		{"id with slash", func(a *attachment) { a.ID = "../x" }, "id is not valid"},
		{"long id", func(a *attachment) { a.ID = strings.Repeat("a", 65) }, "attachment id longer than 64"},
		{"big thumbnail", func(a *attachment) { a.Thumbnail = make([]byte, maxThumbnail+1) }, "thumbnail longer"},
		{"negative size", func(a *attachment) { a.Size = -1 }, "size out of range"},
		{"long name", func(a *attachment) { a.FileName = strings.Repeat("n", maxFileName+1) }, "file name longer"},
		{"long type", func(a *attachment) { a.ContentType = strings.Repeat("t", pb.MaxContentType+1) }, "content type longer"},
	}
	for _, tc := range tests {
		a := good()
		tc.mutate(a)
		b, err := (&content{Kind: kindImage, Body: "caption", Attachment: a, SentAt: 1}).encode()
		if err == nil {
			var c *content
			c, err = decodeContent(b)
			if err == nil {
				assert(t, bytes.Equal(c.Attachment.Key, a.Key) && c.Attachment.ID == a.ID && c.Body == "caption" && c.Kind == kindImage,
					"%s: pointer did not round-trip: %+v", tc.name, c)
			}
		}
		if tc.err != "" {
			assert(t, err != nil && strings.Contains(err.Error(), tc.err), "%s: got %v, want %q", tc.name, err, tc.err)
			continue
		}
		noErr(t, err)
	}
	// The key never shows in a printed content.
	a := good()
	s := fmt.Sprintf("%v %+v", a, *a)
	assert(t, strings.Contains(s, "REDACTED") && !strings.Contains(s, fmt.Sprint([]byte(a.Key)[:4])), "key printed: %s", s)
}

func TestSendMediaArgs(t *testing.T) {
	t.Parallel()
	to, c, media, err := messageArgs([]string{"+15550000001", "a", "caption"}, sendFlags{image: "p.png"})
	noErr(t, err)
	assert(t, to == "+15550000001" && c.Kind == kindImage && c.Body == "a caption" && media == "p.png", "%q %+v %q", to, c, media)
	_, c, media, err = messageArgs(nil, sendFlags{group: "g", file: "f.bin"})
	noErr(t, err)
	assert(t, c.Kind == kindFile && c.Body == "" && media == "f.bin", "group file: %+v %q", c, media)
	_, c, _, err = messageArgs([]string{"+15550000001"}, sendFlags{video: "v.mp4"})
	noErr(t, err)
	assert(t, c.Kind == kindVideo, "video: %+v", c)
	for _, f := range []sendFlags{{image: "a", file: "b"}, {video: "a", file: "b"}, {image: "a", location: "1,2"}} {
		_, _, _, err := messageArgs([]string{"+15550000001"}, f)
		var ce *codedError
		assert(t, errors.As(err, &ce) && ce.code == exitUsage, "%+v: %v, want a usage error", f, err)
	}
}

func TestProgressLines(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := newProgress(&out, "uploading", "big\x1b.bin", 50<<20)
	for range 10 {
		p.add(5 << 20 / 2)
	}
	c := p.reader(strings.NewReader(strings.Repeat("x", 5<<20)))
	_, _ = io.Copy(io.Discard, c)
	c.undo() // a failed attempt: sent again below
	p.add(5 << 20)
	p.add(20 << 20)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// 0, 10 … 60 %, no line again for the bytes sent twice, then 100 %.
	assert(t, len(lines) == 8, "%d lines:\n%s", len(lines), out.String())
	assert(t, lines[0] == "uploading big\uFFFD.bin 0.0/50.0 MiB 0%", "first line %q", lines[0])
	assert(t, lines[1] == "uploading big\uFFFD.bin 5.0/50.0 MiB 10%", "second line %q", lines[1])
	assert(t, lines[7] == "uploading big\uFFFD.bin 50.0/50.0 MiB 100%", "last line %q", lines[7])
	out.Reset()
	newProgress(&out, "downloading", "s", 600).add(600)
	assert(t, out.String() == "downloading s 0/600 bytes 0%\ndownloading s 600/600 bytes 100%\n", "small: %q", out.String())
}

// fakeAttachments is an in-memory stand-in for the server's attachment
// routes and blob store, with faults to inject: parts whose first upload
// is refused as expired (403) or fails (500), parts it "loses" before the
// first complete, and download locations that expire once.
type fakeAttachments struct {
	t        *testing.T
	partSize int64

	mu         sync.Mutex // guards the following fields
	size       map[string]int64
	parts      map[string]map[int][]byte
	blobs      map[string][]byte
	expireOnce map[int]bool // part number → first PUT answers 403
	failOnce   map[int]bool // part number → first PUT answers 500
	loseOnce   map[int]bool // part number → dropped before the first complete
	refuse     int          // a part number every PUT of which answers 403
	loseAnswer bool         // the first successful complete answers 503
	dlExpire   bool         // the first ranged GET answers 403
	sizeLie    int64        // added to the size GET /v1/attachments/{id} reports
	resumes    int
	deleted    []string
	n          int
}

func (f *fakeAttachments) upload(id string) api.Upload {
	up := api.Upload{ID: id, Size: f.size[id], PartSize: f.partSize}
	for n, off := 1, int64(0); off < f.size[id]; n, off = n+1, off+f.partSize {
		p := api.UploadPart{Number: n, Size: min(f.partSize, f.size[id]-off)}
		if _, ok := f.parts[id][n]; ok {
			p.Uploaded = true
		} else {
			p.Method, p.URL = http.MethodPut, fmt.Sprintf("/blobstore/%s/%d?sig=ok", id, n)
		}
		up.Parts = append(up.Parts, p)
	}
	return up
}

func (f *fakeAttachments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	path := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	authed := r.Header.Get("Authorization") != ""
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/attachments":
		var na api.NewAttachment
		_ = json.NewDecoder(r.Body).Decode(&na)
		f.n++
		id := fmt.Sprintf("id%020d", f.n)
		f.size[id], f.parts[id] = na.Size, map[int][]byte{}
		answer(http.StatusCreated, f.upload(id))
	case len(path) == 4 && path[3] == "upload" && r.Method == http.MethodGet:
		f.resumes++
		answer(http.StatusOK, f.upload(path[2]))
	case len(path) == 4 && path[3] == "complete":
		id := path[2]
		if _, done := f.blobs[id]; done {
			answer(http.StatusConflict, api.Error{Code: api.CodeUploadComplete})
			return
		}
		for n := range f.loseOnce {
			delete(f.loseOnce, n)
			delete(f.parts[id], n)
		}
		up := f.upload(id)
		var blob []byte
		var missing []int
		for _, p := range up.Parts {
			if !p.Uploaded {
				missing = append(missing, p.Number)
			}
			blob = append(blob, f.parts[id][p.Number]...)
		}
		if missing != nil {
			answer(http.StatusConflict, api.Error{Code: api.CodeUploadIncomplete, Message: "parts missing", MissingParts: missing})
			return
		}
		f.blobs[id] = blob
		if f.loseAnswer {
			f.loseAnswer = false
			answer(http.StatusServiceUnavailable, api.Error{Code: "unavailable"})
			return
		}
		answer(http.StatusOK, api.Attachment{ID: id, Size: int64(len(blob)), URL: "/blobstore/" + id + "?sig=ok"})
	case len(path) == 3 && path[0] == "v1" && r.Method == http.MethodGet:
		blob, ok := f.blobs[path[2]]
		if !ok || !authed {
			answer(http.StatusNotFound, api.Error{Code: api.CodeNotFound})
			return
		}
		answer(http.StatusOK, api.Attachment{ID: path[2], Size: int64(len(blob)) + f.sizeLie, URL: "/blobstore/" + path[2] + "?sig=ok"})
	case len(path) == 3 && path[0] == "v1" && r.Method == http.MethodDelete:
		f.deleted = append(f.deleted, path[2])
		w.WriteHeader(http.StatusNoContent)
	case path[0] == "blobstore" && r.Method == http.MethodPut:
		if authed {
			f.t.Errorf("device credentials sent to the blob store")
		}
		n, _ := strconv.Atoi(path[2])
		if f.expireOnce[n] || f.refuse == n {
			delete(f.expireOnce, n)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if f.failOnce[n] {
			delete(f.failOnce, n)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		f.parts[path[1]][n] = body
	case path[0] == "blobstore" && r.Method == http.MethodGet:
		if f.dlExpire {
			f.dlExpire = false
			w.WriteHeader(http.StatusForbidden)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.blobs[path[1]]))
	default:
		answer(http.StatusNotFound, api.Error{Code: api.CodeNotFound, Message: r.Method + " " + r.URL.Path})
	}
}

func newFakeTransfers(t *testing.T, f *fakeAttachments) (*transfers, *bytes.Buffer) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	rest, err := client.New(client.Config{BaseURL: srv.URL, Credentials: &client.Credentials{AccountID: "a", DeviceID: 1, Password: "p"}})
	noErr(t, err)
	blobs, err := client.New(client.Config{BaseURL: srv.URL})
	noErr(t, err)
	var out bytes.Buffer
	return &transfers{rest: rest, blobs: blobs, home: t.TempDir(), out: &out, retry: time.Millisecond}, &out
}

func newFake(t *testing.T) *fakeAttachments {
	return &fakeAttachments{t: t, partSize: 1 << 20, size: map[string]int64{}, parts: map[string]map[int][]byte{},
		blobs: map[string][]byte{}, expireOnce: map[int]bool{}, failOnce: map[int]bool{}, loseOnce: map[int]bool{}}
}

// TestUploadRecoversAndDownloadChecks uploads a file in parts through
// every fault the fake injects (an expired part location, a failing part,
// a part lost before completion, the answer to the completion lost),
// downloads it through an expired location, and gets the same bytes; a tampered or mis-sized blob is
// refused with nothing written to downloads/.
func TestUploadRecoversAndDownloadChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFake(t)
	tr, out := newFakeTransfers(t, f)
	plain := make([]byte, 3<<20+12345)
	_, _ = rand.Read(plain)
	src := filepath.Join(t.TempDir(), "data.bin")
	noErr(t, os.WriteFile(src, plain, 0o600))

	f.expireOnce[2], f.failOnce[3], f.loseOnce[1], f.loseAnswer = true, true, true, true
	a, err := tr.upload(ctx, kindFile, src)
	noErr(t, err)
	assert(t, a.Size == int64(len(plain)) && a.FileName == "data.bin" && len(a.Key) == 64 && len(a.Digest) == 32, "pointer %+v", a)
	assert(t, a.ContentType == "application/octet-stream", "content type %q", a.ContentType)
	f.mu.Lock()
	assert(t, f.resumes == 2, "%d resumes, want 2 (a 403, then the lost part)", f.resumes)
	assert(t, len(f.expireOnce)+len(f.failOnce)+len(f.loseOnce) == 0 && !f.loseAnswer, "a fault was not met")
	assert(t, len(f.deleted) == 0, "the upload was deleted: %v", f.deleted)
	blob := f.blobs[a.ID]
	f.mu.Unlock()
	assert(t, int64(len(blob)) == attach.EncryptedSize(a.Size) && !bytes.Contains(blob, plain[:64]), "stored blob of %d bytes", len(blob))
	assert(t, strings.Contains(out.String(), "uploading data.bin 0.0/3.") && strings.Contains(out.String(), " 100%\n"), "progress %q", out.String())
	left, _ := filepath.Glob(filepath.Join(tr.home, ".upload-*"))
	assert(t, len(left) == 0, "temporary files left: %v", left)

	f.mu.Lock()
	f.dlExpire = true
	f.mu.Unlock()
	path, err := tr.download(ctx, kindFile, a)
	noErr(t, err)
	got, err := os.ReadFile(path)
	noErr(t, err)
	assert(t, bytes.Equal(got, plain) && path == filepath.Join(tr.home, "downloads", "data.bin"), "download to %s differs", path)
	path2, err := tr.download(ctx, kindFile, a)
	noErr(t, err)
	assert(t, filepath.Base(path2) == "data (1).bin", "second download to %s", path2)

	// Tampering: one bit of the stored blob, the pointer's digest, the size
	// the server reports.
	f.mu.Lock()
	f.blobs[a.ID][1000] ^= 1
	f.mu.Unlock()
	_, err = tr.download(ctx, kindFile, a)
	assert(t, errors.Is(err, attach.ErrMAC), "tampered blob: %v", err)
	f.mu.Lock()
	f.blobs[a.ID][1000] ^= 1
	f.sizeLie = 16
	f.mu.Unlock()
	_, err = tr.download(ctx, kindFile, a)
	assert(t, err != nil && strings.Contains(err.Error(), "pointer says"), "wrong size: %v", err)
	f.mu.Lock()
	f.sizeLie = 0
	f.mu.Unlock()
	bad := *a
	bad.Digest = make([]byte, 32)
	_, err = tr.download(ctx, kindFile, &bad)
	assert(t, errors.Is(err, attach.ErrDigest), "wrong digest: %v", err)
	bad = *a
	bad.ID = "unknown"
	_, err = tr.download(ctx, kindFile, &bad)
	assert(t, err != nil && strings.Contains(err.Error(), "no longer has it"), "unknown id: %v", err)
	for _, e := range []error{err} {
		assert(t, !strings.Contains(e.Error(), fmt.Sprintf("%x", []byte(a.Key))), "key in an error")
	}
	files, _ := os.ReadDir(filepath.Join(tr.home, "downloads"))
	assert(t, len(files) == 2, "%d files in downloads/ after refused downloads", len(files))
	left, _ = filepath.Glob(filepath.Join(tr.home, ".download-*"))
	assert(t, len(left) == 0, "temporary files left: %v", left)
}

// TestUploadGivesUpAndCleansUp: a part the store refuses for good ends
// the upload, which is then deleted on the server.
func TestUploadGivesUpAndCleansUp(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	tr, _ := newFakeTransfers(t, f)
	src := filepath.Join(t.TempDir(), "x.txt")
	noErr(t, os.WriteFile(src, bytes.Repeat([]byte("x"), 3<<20), 0o600))
	// Every PUT of part 2 is refused as expired, even after a resume.
	f.mu.Lock()
	f.refuse = 2
	f.mu.Unlock()
	_, err := tr.upload(context.Background(), kindFile, src)
	var ae *client.APIError
	assert(t, errors.As(err, &ae) && ae.Status == http.StatusForbidden && strings.Contains(err.Error(), "part 2"), "upload: %v", err)
	f.mu.Lock()
	defer f.mu.Unlock()
	assert(t, len(f.deleted) == 1 && f.deleted[0] == "id00000000000000000001", "deleted %v", f.deleted)
}
