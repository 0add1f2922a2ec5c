package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	attach "github.com/hushmsg/hush/cmd/hush/internal/attachment"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

// Attachments travel as encrypted blobs (package attachment) uploaded in
// parts to where the server says, and a pointer inside the end-to-end
// encrypted message. The blob is written to a temporary file in the home
// directory on either side, so that large files never sit in memory, and
// the receiver writes plaintext to downloads/ only after the blob's MAC
// and digest hold.

const (
	// transferTimeout bounds one part's upload or one range's download.
	transferTimeout = 5 * time.Minute
	// downloadRange is how much of a blob one download request asks for.
	downloadRange = 8 << 20
	// partWorkers is how many parts upload at once.
	partWorkers = 3
	// maxTransferAttempts bounds the tries of one part or range.
	maxTransferAttempts = 4
	// downloadsDir is where received attachments are saved, in the home.
	downloadsDir = "downloads"
)

// transfers moves attachments for one device: REST calls with the
// device's client, blob transfers with a client without a whole-request
// timeout (a part may take long on a slow link; each has its own). A
// location relative to the server is resolved with the device's client,
// so that it goes to the node in use.
type transfers struct {
	rest  *client.Client
	blobs *client.Client
	home  string
	out   io.Writer // progress lines
	retry time.Duration
}

// transfers returns the attachment mover of this device.
func (a *app) transfers(m *messenger) (*transfers, error) {
	home, err := a.homeDir()
	if err != nil {
		return nil, err
	}
	blobs, err := client.New(client.Config{BaseURL: a.g.server, HTTPClient: &http.Client{}, UserAgent: "hush-cli"})
	if err != nil {
		return nil, usageErrorf("--server: %v", err)
	}
	return &transfers{rest: m.cl, blobs: blobs, home: home, out: a.stderr, retry: 250 * time.Millisecond}, nil
}

// upload encrypts the file at path, uploads it and returns the pointer to
// send, with the content type and, for an image, a thumbnail. Nothing is
// left on the server when it fails.
func (t *transfers) upload(ctx context.Context, kind, path string) (*attachment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > attach.MaxSize {
		return nil, fmt.Errorf("%s is too large", path)
	}
	ct := contentType(f, path)
	a := &attachment{
		Key: attach.NewKey(), FileName: safeFileName(filepath.Base(path), kind, ct), Size: st.Size(),
		ContentType: ct,
	}
	if kind == kindImage {
		if a.Thumbnail, err = thumbnail(f); err != nil {
			fmt.Fprintf(t.out, "hush: warning: sending %s without a thumbnail: %s\n", printable(a.FileName), oneLine(err.Error()))
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}

	// Ask for the upload first: a file too large for the server is
	// refused before it is encrypted.
	blobSize := attach.EncryptedSize(a.Size)
	up, err := t.rest.CreateUpload(ctx, blobSize)
	if client.IsCode(err, api.CodePayloadTooLarge) {
		return nil, fmt.Errorf("%s is too large for this server (%s encrypted): %w", path, humanSize(blobSize), err)
	}
	if err != nil {
		return nil, fmt.Errorf("start the upload: %w", err)
	}
	u := &upload{t: t, blobSize: blobSize}
	if err := u.setLocked(up); err != nil {
		t.discard(ctx, up.ID)
		return nil, err
	}
	a.ID = up.ID
	ok := false
	defer func() {
		if !ok {
			t.discard(ctx, a.ID)
		}
	}()

	blob, err := os.CreateTemp(t.home, ".upload-*")
	if err != nil {
		return nil, fmt.Errorf("temporary file: %w", err)
	}
	defer func() {
		blob.Close()
		os.Remove(blob.Name())
	}()
	if a.Digest, err = attach.Encrypt(blob, f, a.Size, a.Key); err != nil {
		if errors.Is(err, attach.ErrSourceSize) {
			return nil, fmt.Errorf("%s changed while it was read", path)
		}
		return nil, fmt.Errorf("encrypt %s: %w", path, err)
	}
	u.blob = blob
	u.prog = newProgress(t.out, "uploading", a.FileName, blobSize)
	if err := u.run(ctx); err != nil {
		u.prog.fail()
		return nil, err
	}
	ok = true
	return a, nil
}

// discard deletes an upload that will not be sent, even when ctx ended
// (the user interrupted); a failure only leaves it to expire.
func (t *transfers) discard(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = t.rest.DeleteAttachment(ctx, id)
}

// mediaTypes names common media extensions Go's own table lacks, so that
// the type sent does not depend on the system's mime.types.
var mediaTypes = map[string]string{
	".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
	".mkv": "video/x-matroska", ".heic": "image/heic", ".txt": "text/plain; charset=utf-8",
	".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".ogg": "audio/ogg", ".zip": "application/zip",
}

// contentType names a file's media type: by its extension, else by its
// first bytes.
func contentType(f io.ReadSeeker, path string) string {
	ext := strings.ToLower(filepath.Ext(path))
	if ct := mediaTypes[ext]; ct != "" {
		return ct
	}
	if ct := mime.TypeByExtension(ext); ct != "" {
		return ct
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	_, _ = f.Seek(0, io.SeekStart)
	return http.DetectContentType(head[:n])
}

// upload is one blob's upload in parts. Parts go up partWorkers at a
// time; a part that fails is tried again, after fresh locations when the
// store refused the old one (403).
type upload struct {
	t        *transfers
	blob     *os.File
	blobSize int64
	prog     *progress

	mu      sync.Mutex // guards the following fields
	up      *api.Upload
	offsets map[int]int64 // part number → offset in the blob
	gen     int           // counts the location refreshes
}

// setLocked takes the server's view of the upload after checking that its
// parts cover the blob exactly, in order.
func (u *upload) setLocked(up *api.Upload) error {
	if up.ID == "" || !validAttachmentID(up.ID) || up.Size != u.blobSize {
		return fmt.Errorf("the server answered for another upload (id %q, %d bytes for %d)", up.ID, up.Size, u.blobSize)
	}
	offsets := make(map[int]int64, len(up.Parts))
	var off int64
	for i, p := range up.Parts {
		if p.Number != i+1 || p.Size <= 0 || !p.Uploaded && p.URL == "" {
			return fmt.Errorf("the server sent an invalid upload part %d", p.Number)
		}
		offsets[p.Number] = off
		off += p.Size
	}
	if off != u.blobSize {
		return fmt.Errorf("the server's upload parts hold %d bytes, not %d", off, u.blobSize)
	}
	u.up, u.offsets = up, offsets
	return nil
}

// run uploads every part not stored yet and completes the upload; parts
// the server still misses then go up again, twice at most.
func (u *upload) run(ctx context.Context) error {
	for round := 0; ; round++ {
		if err := u.putParts(ctx); err != nil {
			return err
		}
		err := u.complete(ctx)
		var ae *client.APIError
		if err == nil {
			return nil
		}
		if !errors.As(err, &ae) || ae.Body.Code != api.CodeUploadIncomplete || round == 2 {
			return fmt.Errorf("complete the upload: %w", err)
		}
		if err := u.refresh(ctx, u.generation()); err != nil {
			return err
		}
	}
}

// complete asks the server to complete the upload, again after a failure
// it may get over (the blob store unavailable, the answer lost). An upload
// already complete is one whose earlier completion's answer was lost.
func (u *upload) complete(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		_, err := u.t.rest.CompleteUpload(ctx, u.id())
		var ae *client.APIError
		switch {
		case err == nil, client.IsCode(err, api.CodeUploadComplete):
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case attempt == maxTransferAttempts, errors.As(err, &ae) && ae.Status < 500:
			return err
		}
		if err := pause(ctx, u.t.retry<<(attempt-1)); err != nil {
			return err
		}
	}
}

func (u *upload) id() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.up.ID
}

func (u *upload) generation() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.gen
}

// pending lists the parts not stored yet.
func (u *upload) pending() []int {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []int
	for _, p := range u.up.Parts {
		if !p.Uploaded {
			out = append(out, p.Number)
		}
	}
	return out
}

// putParts uploads the pending parts, partWorkers at a time, and returns
// the first failure (the others then stop).
func (u *upload) putParts(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	todo := make(chan int)
	errs := make(chan error, partWorkers)
	var wg sync.WaitGroup
	for range partWorkers {
		wg.Go(func() {
			for n := range todo {
				if err := u.putPart(ctx, n); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
	go func() {
		defer close(todo)
		for _, n := range u.pending() {
			select {
			case todo <- n:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	return <-errs // nil when none failed
}

// location returns part n's current location and the refresh generation
// it comes from.
func (u *upload) location(n int) (api.UploadPart, int64, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.up.Parts[n-1], u.offsets[n], u.gen
}

// putPart uploads part n, trying again after a failure the store may get
// over: with fresh locations after a 403, after a pause otherwise.
func (u *upload) putPart(ctx context.Context, n int) error {
	for attempt := 1; ; attempt++ {
		p, off, gen := u.location(n)
		if p.Uploaded {
			return nil
		}
		var err error
		if p.URL, err = u.t.rest.Location(p.URL); err != nil {
			return fmt.Errorf("upload part %d: %w", n, err)
		}
		body := u.prog.reader(io.NewSectionReader(u.blob, off, p.Size))
		pctx, cancel := context.WithTimeout(ctx, transferTimeout)
		err = u.t.blobs.PutPart(pctx, p, body)
		cancel()
		if err == nil {
			return nil
		}
		body.undo()
		var ae *client.APIError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case attempt == maxTransferAttempts:
			return err
		case errors.As(err, &ae) && ae.Status == http.StatusForbidden:
			if err := u.refresh(ctx, gen); err != nil {
				return err
			}
			continue
		case errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusRequestTimeout && ae.Status != http.StatusTooManyRequests:
			return err // the store will not take this part
		}
		if err := pause(ctx, u.t.retry<<(attempt-1)); err != nil {
			return err
		}
	}
}

// refresh asks the server for fresh locations of the parts not stored,
// unless another part's failure did already since generation gen.
func (u *upload) refresh(ctx context.Context, gen int) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gen != gen {
		return nil
	}
	up, err := u.t.rest.ResumeUpload(ctx, u.up.ID)
	if err != nil {
		return fmt.Errorf("resume the upload: %w", err)
	}
	if err := u.setLocked(up); err != nil {
		return err
	}
	u.gen++
	return nil
}

// pause waits d, or less if ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// download fetches, checks and decrypts a received attachment into
// downloads/ in the home directory, under a safe name no file has yet, and
// returns its path. Plaintext is written only once the blob's size, MAC
// and digest hold.
func (t *transfers) download(ctx context.Context, kind string, a *attachment) (string, error) {
	info, err := t.rest.Attachment(ctx, a.ID)
	if client.IsCode(err, api.CodeNotFound) {
		return "", errors.New("the server no longer has it (expired or deleted)")
	}
	if err != nil {
		return "", err
	}
	want := attach.EncryptedSize(a.Size)
	if info.Size != want {
		return "", fmt.Errorf("the server holds %d bytes where the sender's pointer says %d", info.Size, want)
	}
	blob, err := os.CreateTemp(t.home, ".download-*")
	if err != nil {
		return "", fmt.Errorf("temporary file: %w", err)
	}
	defer func() {
		blob.Close()
		os.Remove(blob.Name())
	}()
	name := safeFileName(a.FileName, kind, a.ContentType)
	prog := newProgress(t.out, "downloading", name, want)
	for off := int64(0); off < want; off += downloadRange {
		if err := t.fetchRange(ctx, a.ID, info, blob, off, min(downloadRange, want-off), prog); err != nil {
			prog.fail()
			return "", err
		}
	}
	plain, err := attach.Open(blob, want, a.Key, a.Digest, a.Size)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(t.home, downloadsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", downloadsDir, err)
	}
	f, path, err := createUnique(dir, name)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, plain)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("save %s: %w", name, err)
	}
	return path, nil
}

// fetchRange downloads n bytes of the blob at off into blob, trying again
// after a failure; an expired location (403) is asked for again.
func (t *transfers) fetchRange(ctx context.Context, id string, info *api.Attachment, blob *os.File, off, n int64, prog *progress) error {
	for attempt := 1; ; attempt++ {
		err := t.fetchOnce(ctx, info.URL, blob, off, n, prog)
		if err == nil {
			return nil
		}
		var ae *client.APIError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case attempt == maxTransferAttempts:
			return err
		case errors.As(err, &ae) && ae.Status == http.StatusForbidden:
			fresh, ferr := t.rest.Attachment(ctx, id)
			if ferr != nil {
				return fmt.Errorf("%w (and asking again: %w)", err, ferr)
			}
			if fresh.Size != info.Size {
				return fmt.Errorf("the server's size of the attachment changed from %d to %d bytes", info.Size, fresh.Size)
			}
			*info = *fresh
			continue
		case errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusRequestTimeout && ae.Status != http.StatusTooManyRequests:
			return err
		}
		if err := pause(ctx, t.retry<<(attempt-1)); err != nil {
			return err
		}
	}
}

func (t *transfers) fetchOnce(ctx context.Context, location string, blob *os.File, off, n int64, prog *progress) error {
	location, err := t.rest.Location(location)
	if err != nil {
		return fmt.Errorf("download attachment: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, transferTimeout)
	defer cancel()
	body, err := t.blobs.Download(ctx, location, off, n)
	if err != nil {
		return err
	}
	defer body.Close()
	r := prog.reader(body)
	if _, err = io.Copy(io.NewOffsetWriter(blob, off), r); err != nil {
		r.undo()
		return fmt.Errorf("download attachment: %w", err)
	}
	return nil
}

// safeFileName makes a sender's file name safe to create in downloads/:
// its last path element only, without control, format (bidirectional
// override) or separator characters, leading dots or trailing dots and
// spaces, and at most maxFileName bytes with its extension kept. An empty
// result becomes "image", "video" or "file" with an extension for a few
// well-known content types.
func safeFileName(name, kind, contentType string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError, r < 0x20, r == 0x7f, unicode.IsControl(r), unicode.Is(unicode.Cf, r),
			strings.ContainsRune(`/\:*?"<>|`, r):
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeft(name, ". ")
	name = strings.TrimRight(name, ". ")
	if name == "" {
		if kind == "" {
			kind = kindFile
		}
		name = kind + knownExtension(contentType)
	}
	if len(name) > maxFileName {
		ext := filepath.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		name = strings.ToValidUTF8(name[:maxFileName-len(ext)], "") + ext
	}
	return name
}

// knownExtension names the extension of a few content types, for a file
// that came without a usable name.
func knownExtension(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	case "video/mp4":
		return ".mp4"
	case "application/pdf":
		return ".pdf"
	case "text/plain":
		return ".txt"
	}
	return ""
}

// createUnique creates name in dir, or "stem (1).ext", "stem (2).ext", …
// when it exists: an existing file is never overwritten (nor a link
// followed).
func createUnique(dir, name string) (*os.File, string, error) {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	if stem == "" {
		stem, ext = name, ""
	}
	for i := 0; i < 10000; i++ {
		n := name
		if i > 0 {
			n = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
		path := filepath.Join(dir, n)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		return f, path, nil
	}
	return nil, "", fmt.Errorf("%s: too many files of that name in %s", name, downloadsDir)
}
