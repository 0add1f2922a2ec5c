package attachments

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/httpx"
)

// FS is the embedded blob store: objects are files under a directory of
// hushd's data directory, uploaded and downloaded through URLs that hushd
// signs with a key only it holds and serves itself. Layout:
//
//	uploads/ID/N   the parts of an unfinished upload
//	blobs/ID       complete objects
type FS struct {
	dir    string
	secret []byte
	// Public serves GET /attachments/{id} without a signature, as the
	// origin of a CDN (ids are unguessable; the bytes are ciphertext).
	public bool
	now    func() time.Time
}

// keyFile holds FS's URL-signing key, created on first start.
const keyFile = "url-signing.key"

// OpenFS opens (creating) the blob directory dir and its signing key.
func OpenFS(dir string, public bool) (*FS, error) {
	for _, d := range []string{dir, filepath.Join(dir, "uploads"), filepath.Join(dir, "blobs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("attachment directory: %w", err)
		}
	}
	secret, err := loadOrCreateKey(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, err
	}
	return &FS{dir: dir, secret: secret, public: public, now: time.Now}, nil
}

func loadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) == 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("attachment signing key: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := writeFileSync(path, b); err != nil {
		return nil, fmt.Errorf("attachment signing key: %w", err)
	}
	return b, nil
}

// BlobPath is where a complete object lives, for tests and operators.
func (f *FS) BlobPath(key string) string { return filepath.Join(f.dir, "blobs", key) }

func (f *FS) uploadDir(key string) string { return filepath.Join(f.dir, "uploads", key) }

// Begin implements Blobs. The upload handle is the key itself: one
// upload per attachment.
func (f *FS) Begin(_ context.Context, key string) (string, error) {
	if !ValidID(key) {
		return "", errors.New("fs blobs: invalid key")
	}
	if err := os.Mkdir(f.uploadDir(key), 0o700); err != nil {
		return "", err
	}
	return key, nil
}

// PartLocation implements Blobs.
func (f *FS) PartLocation(_ context.Context, key, _ string, part int, size int64, expires time.Time) (Location, error) {
	exp := strconv.FormatInt(expires.Unix(), 10)
	q := url.Values{"size": {strconv.FormatInt(size, 10)}, "expires": {exp}, "sig": {f.sign(http.MethodPut, key, strconv.Itoa(part), strconv.FormatInt(size, 10), exp)}}
	return Location{Method: http.MethodPut, URL: "/v1/attachments/" + key + "/parts/" + strconv.Itoa(part) + "?" + q.Encode(), Expires: expires}, nil
}

// Parts implements Blobs.
func (f *FS) Parts(_ context.Context, key, _ string) ([]Part, error) {
	ents, err := os.ReadDir(f.uploadDir(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoUpload
	}
	if err != nil {
		return nil, err
	}
	var out []Part
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n < 1 {
			continue // a part still being written
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, Part{Number: n, Size: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// Complete implements Blobs: the parts are copied in order into one file,
// synced, renamed into place, and the upload directory removed.
func (f *FS) Complete(_ context.Context, key, _ string, parts []Part) error {
	dir := f.uploadDir(key)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return ErrNoUpload
	}
	tmp, err := os.CreateTemp(filepath.Join(f.dir, "blobs"), "."+key+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	for _, p := range parts {
		in, err := os.Open(filepath.Join(dir, strconv.Itoa(p.Number)))
		if err != nil {
			return err
		}
		_, err = io.Copy(tmp, in)
		in.Close()
		if err != nil {
			return err
		}
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.BlobPath(key)); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// Abort implements Blobs.
func (f *FS) Abort(_ context.Context, key, _ string) error {
	if !ValidID(key) {
		return nil
	}
	return os.RemoveAll(f.uploadDir(key))
}

// DownloadLocation implements Blobs.
func (f *FS) DownloadLocation(_ context.Context, key string, expires time.Time) (Location, error) {
	exp := strconv.FormatInt(expires.Unix(), 10)
	q := url.Values{"expires": {exp}, "sig": {f.sign(http.MethodGet, key, exp)}}
	return Location{Method: http.MethodGet, URL: "/v1/attachments/" + key + "/blob?" + q.Encode(), Expires: expires}, nil
}

// Delete implements Blobs.
func (f *FS) Delete(_ context.Context, key string) error {
	if !ValidID(key) {
		return nil
	}
	err := os.Remove(f.BlobPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// sign is the URL signature over the request's method and fields.
func (f *FS) sign(fields ...string) string {
	m := hmac.New(sha256.New, f.secret)
	for _, s := range fields {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// verify checks a signed URL's signature and expiry: a forged or expired
// URL gets 403, with nothing said about which.
func (f *FS) verify(r *http.Request, fields ...string) error {
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	got, herr := hex.DecodeString(q.Get("sig"))
	want, _ := hex.DecodeString(f.sign(append(fields, q.Get("expires"))...))
	if err != nil || herr != nil || !hmac.Equal(got, want) || f.now().Unix() > exp {
		return httpx.Errorf(http.StatusForbidden, api.CodeForbidden, "the URL is not valid or has expired")
	}
	return nil
}

// Routes serves the signed part uploads and downloads (and, as a CDN's
// origin, unsigned downloads when public). The signature is the
// credential: these routes take no device authentication.
func (f *FS) Routes(r *httpx.Router) {
	r.Handle("PUT /v1/attachments/{id}/parts/{n}", f.handlePut)
	r.Handle("GET /v1/attachments/{id}/blob", f.handleGet)
	if f.public {
		r.Handle("GET /attachments/{id}", f.handlePublic)
	}
}

func (f *FS) handlePut(w http.ResponseWriter, r *http.Request) error {
	key, n := r.PathValue("id"), r.PathValue("n")
	q := r.URL.Query()
	if err := f.verify(r, http.MethodPut, key, n, q.Get("size")); err != nil {
		return err
	}
	size, _ := strconv.ParseInt(q.Get("size"), 10, 64) // signed by us, so well-formed
	switch {
	case r.ContentLength < 0:
		return httpx.Errorf(http.StatusLengthRequired, api.CodeBadRequest, "a part needs a Content-Length of %d", size)
	case r.ContentLength > size:
		return httpx.Errorf(http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, "part %s is %d bytes; %d were declared", n, r.ContentLength, size)
	case r.ContentLength < size:
		return httpx.Errorf(http.StatusBadRequest, api.CodeSizeMismatch, "part %s is %d bytes; %d were declared", n, r.ContentLength, size)
	}
	dir := f.uploadDir(key)
	tmp, err := os.CreateTemp(dir, ".part-*")
	if errors.Is(err, fs.ErrNotExist) {
		return httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "no such upload (finished or expired)")
	}
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	httpx.ExtendBodyDeadline(w, size)
	got, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r.Body, size+1))
	if httpx.IsTimeout(err) {
		return httpx.BodyTimeout()
	}
	if err != nil {
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "part %s: body ended early", n)
	}
	if got != size {
		return httpx.Errorf(http.StatusBadRequest, api.CodeSizeMismatch, "part %s: got %d bytes; %d were declared", n, got, size)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, n)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "no such upload (finished or expired)")
		}
		return err
	}
	w.Header().Set("ETag", `"`+hex.EncodeToString(h.Sum(nil)[:16])+`"`)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (f *FS) handleGet(w http.ResponseWriter, r *http.Request) error {
	key := r.PathValue("id")
	if err := f.verify(r, http.MethodGet, key); err != nil {
		return err
	}
	return f.serve(w, r, key, "private, no-store")
}

func (f *FS) handlePublic(w http.ResponseWriter, r *http.Request) error {
	return f.serve(w, r, r.PathValue("id"), "public, max-age=3600")
}

func (f *FS) serve(w http.ResponseWriter, r *http.Request, key, cache string) error {
	if !ValidID(key) {
		return httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "no such attachment")
	}
	file, err := os.Open(f.BlobPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "no such attachment")
	}
	if err != nil {
		return err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", cache)
	http.ServeContent(w, r, "", info.ModTime(), file)
	return nil
}

func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := fh.Write(b); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

var _ Blobs = (*FS)(nil)
