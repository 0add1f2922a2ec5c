package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/hushmsg/hush/internal/api"
)

// Attachments: the REST routes that hand out upload and download
// locations, and the transfers to and from those locations. The client
// moves opaque ciphertext; encryption is the caller's.

func attachmentPath(id string) string { return "/v1/attachments/" + url.PathEscape(id) }

// CreateUpload starts the upload of an attachment of exactly size
// ciphertext bytes (POST /v1/attachments) and returns where to upload its
// parts. A size above the server's maximum is an *APIError with
// api.CodePayloadTooLarge (413).
func (c *Client) CreateUpload(ctx context.Context, size int64) (*api.Upload, error) {
	var out api.Upload
	if err := c.do(ctx, call{method: http.MethodPost, path: "/v1/attachments", auth: true, in: api.NewAttachment{Size: size}, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ResumeUpload returns an unfinished upload (GET /v1/attachments/{id}/upload):
// parts already stored are marked Uploaded, the others carry fresh
// locations. An upload already complete is an *APIError with
// api.CodeUploadComplete (409).
func (c *Client) ResumeUpload(ctx context.Context, id string) (*api.Upload, error) {
	var out api.Upload
	if err := c.do(ctx, call{method: http.MethodGet, path: attachmentPath(id) + "/upload", auth: true, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// CompleteUpload ends an upload once every part is stored
// (POST /v1/attachments/{id}/complete) and returns the attachment. Parts
// still missing are an *APIError with api.CodeUploadIncomplete (409) and
// their numbers in Body.MissingParts; stored bytes that differ from the
// declared size are one with api.CodeSizeMismatch (400), and the server
// has then discarded the upload.
func (c *Client) CompleteUpload(ctx context.Context, id string) (*api.Attachment, error) {
	var out api.Attachment
	if err := c.do(ctx, call{method: http.MethodPost, path: attachmentPath(id) + "/complete", auth: true, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Attachment returns where to download an attachment's ciphertext
// (GET /v1/attachments/{id}); any device may ask. An unknown or expired
// attachment is an *APIError with api.CodeNotFound.
func (c *Client) Attachment(ctx context.Context, id string) (*api.Attachment, error) {
	var out api.Attachment
	if err := c.do(ctx, call{method: http.MethodGet, path: attachmentPath(id), auth: true, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAttachment deletes an attachment or unfinished upload of this
// account (DELETE /v1/attachments/{id}).
func (c *Client) DeleteAttachment(ctx context.Context, id string) error {
	return c.do(ctx, call{method: http.MethodDelete, path: attachmentPath(id), auth: true})
}

// PutPart uploads one part of an upload: p.Method (PUT when empty) to
// p.URL with p.Headers and exactly p.Size bytes of body. The location is
// signed, so no device credentials are sent. A refusal is an *APIError
// carrying the status; 403 means the location expired or is not valid, and
// ResumeUpload hands out fresh ones. Errors never show the location, whose
// query is a credential.
func (c *Client) PutPart(ctx context.Context, p api.UploadPart, body io.Reader) error {
	what := "upload part " + strconv.Itoa(p.Number)
	u, err := c.Location(p.URL)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	method := p.Method
	if method == "" {
		method = http.MethodPut
	}
	if p.Size < 0 {
		return fmt.Errorf("%s: negative size", what)
	}
	// The transport may go on reading the body after Do returns (when the
	// store answers before it has read it all, as with a 403): PutPart
	// returns only once the transport has closed it, so that the caller
	// may reuse or count what body reads.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tb := &trackedBody{r: io.LimitReader(body, p.Size), closed: make(chan struct{})}
	req, err := http.NewRequestWithContext(ctx, method, u, tb)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.ContentLength = p.Size
	if p.Size == 0 {
		req.Body = http.NoBody
		tb.Close()
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	if err := c.decorate(req.Header, false); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	err = c.put(req)
	cancel() // ends a body write the store no longer reads
	<-tb.closed
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (c *Client) put(req *http.Request) error {
	resp, err := c.http.Do(req)
	if err != nil {
		return stripURL(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(resp.StatusCode, b)
	}
	return nil
}

// trackedBody is a request body that tells when the transport closed it.
type trackedBody struct {
	r      io.Reader
	once   sync.Once
	closed chan struct{}
}

func (t *trackedBody) Read(p []byte) (int, error) { return t.r.Read(p) }

func (t *trackedBody) Close() error {
	t.once.Do(func() { close(t.closed) })
	return nil
}

// Download fetches n bytes of an attachment's ciphertext from offset off
// at a download location (absolute, or relative to the server's base URL),
// without device credentials, asking for just that range. A location that
// ignores the range is read from its start and the bytes before off
// skipped. The caller reads the body to its end (exactly n bytes, else an
// error) and closes it.
func (c *Client) Download(ctx context.Context, location string, off, n int64) (io.ReadCloser, error) {
	const what = "download attachment"
	if off < 0 || n <= 0 {
		return nil, fmt.Errorf("%s: bad range %d+%d", what, off, n)
	}
	u, err := c.Location(location)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+n-1, 10))
	if err := c.decorate(req.Header, false); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, stripURL(err))
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != off {
			resp.Body.Close()
			return nil, fmt.Errorf("%s: asked for bytes from %d, got Content-Range %q", what, off, resp.Header.Get("Content-Range"))
		}
	case http.StatusOK:
		if _, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	default:
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		return nil, fmt.Errorf("%s: %w", what, apiError(resp.StatusCode, b))
	}
	return &exactBody{r: io.LimitReader(resp.Body, n), c: resp.Body, left: n}, nil
}

// exactBody reads a range that must hold exactly left more bytes.
type exactBody struct {
	r    io.Reader
	c    io.Closer
	left int64
}

func (b *exactBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *exactBody) Close() error { return b.c.Close() }

// rangeStart parses the first byte position of "bytes START-END/SIZE".
func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	start, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(start), 10, 64)
	return n, err == nil
}

// Location resolves an upload or download location: an absolute http(s)
// URL is used as it is; one relative to the server is resolved against the
// base URL of the node in use, a path keeping the base's own path as every
// route does. A caller moving blobs with another Client (one without a
// whole-request timeout, say) resolves with the Client that asked for the
// location, so that the location goes to the node that signed it.
func (c *Client) Location(raw string) (string, error) {
	ref, err := url.Parse(raw)
	if err != nil || raw == "" {
		return "", errors.New("the server sent an invalid location")
	}
	base := c.base()
	switch {
	case ref.IsAbs():
		if ref.Scheme != "http" && ref.Scheme != "https" || ref.Host == "" {
			return "", errors.New("the server sent a location that is not http or https")
		}
		return ref.String(), nil
	case ref.Host == "" && strings.HasPrefix(ref.Path, "/"):
		// Like c.endpoint: a base URL behind a path prefix keeps it.
		u := *base
		u.Path = strings.TrimRight(base.Path, "/") + ref.Path
		u.RawPath = ""
		if ref.RawPath != "" {
			u.RawPath = strings.TrimRight(base.EscapedPath(), "/") + ref.RawPath
		}
		u.RawQuery = ref.RawQuery
		return u.String(), nil
	}
	return base.ResolveReference(ref).String(), nil
}

// stripURL drops the URL from a transport error: a signed location's
// query is a credential.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
