package attachments

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/httpx"
	"github.com/hushmsg/hush/internal/metrics"
	"github.com/hushmsg/hush/internal/ratelimit"
	"github.com/hushmsg/hush/internal/storeutil"
)

// Config bounds attachments and their lifetimes.
type Config struct {
	MaxSize  int64 // bytes of ciphertext per attachment
	PartSize int64 // bytes per uploaded part (S3 needs at least 5 MiB)
	// TTL is how long a complete attachment is kept; UploadTTL how long
	// an upload may take before its parts are dropped; URLTTL how long a
	// signed part or download location is valid.
	TTL, UploadTTL, URLTTL time.Duration
	// CDN is the base URL downloads go through ({CDN}/{id}); empty: signed
	// URLs straight to the blob store.
	CDN           string
	SweepInterval time.Duration
	// UploadLimit bounds new uploads per account.
	UploadLimit ratelimit.Limit
	// S3 selects S3 when its Bucket is set; else the filesystem store.
	S3 S3Config
	// Clock is the service's time (nil: time.Now); tests move it.
	Clock func() time.Time
}

// Defaults: 100 MiB attachments in 8 MiB parts, kept 30 days.
func Defaults() Config {
	return Config{
		MaxSize:       100 << 20,
		PartSize:      8 << 20,
		TTL:           30 * 24 * time.Hour,
		UploadTTL:     24 * time.Hour,
		URLTTL:        time.Hour,
		SweepInterval: time.Minute,
		UploadLimit:   ratelimit.Limit{Burst: 200, Per: time.Hour},
	}
}

// Validate checks a configuration.
func (c Config) Validate() error {
	switch {
	case c.MaxSize < 1:
		return errors.New("--max-attachment-size must be positive")
	case c.PartSize < 5<<20:
		return errors.New("attachment part size must be at least 5 MiB")
	case c.MaxSize/c.PartSize >= 10000:
		return errors.New("--max-attachment-size needs more than 10,000 parts")
	case c.TTL < time.Minute, c.UploadTTL < time.Minute, c.URLTTL < time.Minute:
		return errors.New("attachment lifetimes must be at least a minute")
	case c.CDN != "" && !strings.HasPrefix(c.CDN, "https://") && !strings.HasPrefix(c.CDN, "http://"):
		return errors.New("--attachments-cdn must be an http(s) URL")
	}
	return nil
}

// Service runs attachments.
type Service struct {
	cfg     Config
	store   Store
	blobs   Blobs
	log     *slog.Logger
	m       *metrics.Metrics
	uploads *ratelimit.Keyed
	now     func() time.Time
}

// New wires a Service.
func New(cfg Config, store Store, blobs Blobs, log *slog.Logger, m *metrics.Metrics) *Service {
	cfg.CDN = strings.TrimRight(cfg.CDN, "/")
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Service{cfg: cfg, store: store, blobs: blobs, log: log, m: m,
		uploads: ratelimit.New(cfg.UploadLimit, m.Denied("attachment_uploads")), now: cfg.Clock}
}

// idLen is the length of an id: 16 random bytes, base64url.
const idLen = 22

// ValidID reports whether s has the shape of an attachment id (and so is
// safe as a file name and object key).
func ValidID(s string) bool {
	return len(s) == idLen && strings.Trim(s, idAlphabet) == ""
}

// idAlphabet is unpadded base64url's.
const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errNotFound = httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "no such attachment")

// Create starts an upload of size bytes for dev's account.
func (s *Service) Create(ctx context.Context, dev auth.Device, size int64) (*api.Upload, error) {
	switch {
	case size < 1:
		return nil, httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "size must be at least 1 byte")
	case size > s.cfg.MaxSize:
		return nil, httpx.Errorf(http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, "attachments are at most %d bytes", s.cfg.MaxSize)
	}
	if ok, wait := s.uploads.Allow(dev.AccountID); !ok {
		return nil, httpx.RateLimited(wait, "attachment uploads")
	}
	id := newID()
	uploadID, err := s.blobs.Begin(ctx, id)
	if err != nil {
		return nil, s.blobErr(err)
	}
	now := s.now()
	rec := Record{ID: id, Owner: dev.AccountID, Size: size, UploadID: uploadID, State: StateUploading,
		Created: time.Unix(storeutil.DayOf(now), 0), Expires: now.Add(s.cfg.UploadTTL)}
	if err := s.store.CreateAttachment(ctx, rec); err != nil {
		_ = s.blobs.Abort(context.WithoutCancel(ctx), id, uploadID)
		return nil, err
	}
	s.m.Attachments.WithLabelValues("created").Inc()
	return s.upload(ctx, rec, nil)
}

// Resume lists an unfinished upload of dev's account: the parts stored
// and fresh locations for the others.
func (s *Service) Resume(ctx context.Context, dev auth.Device, id string) (*api.Upload, error) {
	rec, err := s.owned(ctx, dev, id)
	if err != nil {
		return nil, err
	}
	parts, err := s.storedParts(ctx, rec)
	if err != nil {
		return nil, err
	}
	return s.upload(ctx, rec, parts)
}

// storedParts lists the parts of rec's upload the blob store holds.
func (s *Service) storedParts(ctx context.Context, rec Record) ([]Part, error) {
	parts, err := s.blobs.Parts(ctx, rec.ID, rec.UploadID)
	if errors.Is(err, ErrNoUpload) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, s.blobErr(err)
	}
	return parts, nil
}

// upload describes rec's parts: those in stored (of the right size) as
// uploaded, the others with a signed location.
func (s *Service) upload(ctx context.Context, rec Record, stored []Part) (*api.Upload, error) {
	have := map[int]int64{}
	for _, p := range stored {
		have[p.Number] = p.Size
	}
	urlsExpire := s.now().Add(s.cfg.URLTTL)
	if urlsExpire.After(rec.Expires) {
		urlsExpire = rec.Expires
	}
	n := s.partCount(rec.Size)
	up := &api.Upload{ID: rec.ID, Size: rec.Size, PartSize: s.cfg.PartSize, Parts: make([]api.UploadPart, n),
		URLsExpire: urlsExpire.Unix(), Expires: rec.Expires.Unix()}
	for i := range n {
		num, size := i+1, s.partSize(rec.Size, i+1)
		p := api.UploadPart{Number: num, Size: size}
		if got, ok := have[num]; ok && got == size {
			p.Uploaded = true
		} else {
			loc, err := s.blobs.PartLocation(ctx, rec.ID, rec.UploadID, num, size, urlsExpire)
			if err != nil {
				return nil, s.blobErr(err)
			}
			p.Method, p.URL, p.Headers = loc.Method, loc.URL, loc.Headers
		}
		up.Parts[i] = p
	}
	return up, nil
}

func (s *Service) partCount(size int64) int { return int((size + s.cfg.PartSize - 1) / s.cfg.PartSize) }

func (s *Service) partSize(size int64, num int) int64 {
	if int64(num)*s.cfg.PartSize <= size {
		return s.cfg.PartSize
	}
	return size - int64(num-1)*s.cfg.PartSize
}

// Complete joins an upload's parts once every one is stored with its
// declared size; for a complete one it answers as the first time did. Parts of another size discard the whole upload: the
// client declared one size and sent another.
func (s *Service) Complete(ctx context.Context, dev auth.Device, id string) (*api.Attachment, error) {
	rec, err := s.owned(ctx, dev, id)
	var he *httpx.Error
	if errors.As(err, &he) && he.Body.Code == api.CodeUploadComplete && s.now().Before(rec.Expires) {
		// Completing again (its answer was lost) answers the same.
		return s.download(ctx, rec)
	}
	if err != nil {
		return nil, err
	}
	parts, err := s.storedParts(ctx, rec)
	if err != nil {
		return nil, err
	}
	n := s.partCount(rec.Size)
	byNum := make([]*Part, n+1)
	var wrong []string
	for i := range parts {
		p := &parts[i]
		if p.Number < 1 || p.Number > n || p.Size != s.partSize(rec.Size, p.Number) {
			wrong = append(wrong, fmt.Sprintf("part %d is %d bytes", p.Number, p.Size))
			continue
		}
		byNum[p.Number] = p
	}
	if len(wrong) > 0 {
		s.m.Attachments.WithLabelValues("size_mismatch").Inc()
		if err := s.store.DeletingAttachment(ctx, id, ""); err == nil {
			s.purge(context.WithoutCancel(ctx), rec)
		}
		return nil, httpx.Errorf(http.StatusBadRequest, api.CodeSizeMismatch,
			"the upload does not match its declared %d bytes in %d-byte parts (%s); it was discarded", rec.Size, s.cfg.PartSize, strings.Join(wrong, ", "))
	}
	var missing []int
	done := make([]Part, 0, n)
	for num := 1; num <= n; num++ {
		if byNum[num] == nil {
			missing = append(missing, num)
		} else {
			done = append(done, *byNum[num])
		}
	}
	if len(missing) > 0 {
		e := httpx.Errorf(http.StatusConflict, api.CodeUploadIncomplete, "%d of %d parts are not uploaded yet", len(missing), n)
		e.Body.MissingParts = missing
		return nil, e
	}
	if err := s.blobs.Complete(ctx, id, rec.UploadID, done); err != nil {
		if errors.Is(err, ErrNoUpload) {
			return nil, errNotFound
		}
		return nil, s.blobErr(err)
	}
	expires := s.now().Add(s.cfg.TTL)
	if err := s.store.ReadyAttachment(ctx, id, expires); err != nil {
		return nil, err
	}
	rec.State, rec.Expires = StateReady, expires
	s.m.Attachments.WithLabelValues("completed").Inc()
	s.m.AttachmentBytes.Add(float64(rec.Size))
	return s.download(ctx, rec)
}

// Get answers where to download a complete attachment. Any device may ask:
// the id is the capability.
func (s *Service) Get(ctx context.Context, id string) (*api.Attachment, error) {
	if !ValidID(id) {
		return nil, errNotFound
	}
	rec, err := s.store.Attachment(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && (rec.State != StateReady || !s.now().Before(rec.Expires)) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return s.download(ctx, rec)
}

func (s *Service) download(ctx context.Context, rec Record) (*api.Attachment, error) {
	a := &api.Attachment{ID: rec.ID, Size: rec.Size, Expires: rec.Expires.Unix()}
	if s.cfg.CDN != "" {
		a.URL = s.cfg.CDN + "/" + rec.ID
		return a, nil
	}
	exp := s.now().Add(s.cfg.URLTTL)
	if exp.After(rec.Expires) {
		exp = rec.Expires
	}
	loc, err := s.blobs.DownloadLocation(ctx, rec.ID, exp)
	if err != nil {
		return nil, s.blobErr(err)
	}
	a.URL, a.URLExpires = loc.URL, exp.Unix()
	return a, nil
}

// Delete deletes one of dev's account's attachments now.
func (s *Service) Delete(ctx context.Context, dev auth.Device, id string) error {
	if !ValidID(id) {
		return errNotFound
	}
	rec, err := s.store.Attachment(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && rec.Owner != dev.AccountID {
		return errNotFound
	}
	if err != nil {
		return err
	}
	if err := s.store.DeletingAttachment(ctx, id, dev.AccountID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return errNotFound
		}
		return err
	}
	s.purge(context.WithoutCancel(ctx), rec)
	return nil
}

// DeleteOwned deletes every attachment of an account, objects first: the
// erasure of an account calls it. It returns how many there were; what it
// cannot delete now stays marked and the sweeper finishes it.
func (s *Service) DeleteOwned(ctx context.Context, account string) (int64, error) {
	n, err := s.store.DeletingAttachments(ctx, account)
	if err != nil {
		return 0, err
	}
	_, err = s.Sweep(ctx)
	return n, err
}

// owned returns dev's account's unfinished upload id.
func (s *Service) owned(ctx context.Context, dev auth.Device, id string) (Record, error) {
	if !ValidID(id) {
		return Record{}, errNotFound
	}
	rec, err := s.store.Attachment(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return rec, errNotFound
	case err != nil:
		return rec, err
	case rec.Owner != dev.AccountID || rec.State == StateDeleting:
		return rec, errNotFound
	case rec.State == StateReady:
		return rec, httpx.Errorf(http.StatusConflict, api.CodeUploadComplete, "the upload is already complete")
	case !s.now().Before(rec.Expires):
		return rec, errNotFound
	}
	return rec, nil
}

// blobErr makes a blob store failure a 503: the store is outside us and
// may come back.
func (s *Service) blobErr(err error) error {
	s.log.Warn("blob store", "err", err)
	return fmt.Errorf("%w: blob store: %w", httpx.ErrUnavailable, err)
}
