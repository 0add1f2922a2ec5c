package gdpr

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/internal/api"
)

// InputError is a request the service refuses as malformed; Code is its
// stable error code (api.CodeBadRequest when empty).
type InputError struct {
	Code string
	Msg  string
}

func (e *InputError) Error() string { return e.Msg }

func inputErrorf(format string, args ...any) error {
	return &InputError{Msg: fmt.Sprintf(format, args...)}
}

// Config holds the compliance settings.
type Config struct {
	// RequestDue is how long a data-subject request may take (GDPR Art.
	// 12(3): one month).
	RequestDue time.Duration
	// Retention: accounts and linked devices inactive this long are
	// erased and removed; audit entries older than Audit are deleted.
	// 0 keeps them.
	AccountRetention, DeviceRetention, AuditRetention time.Duration
	RetentionInterval                                 time.Duration
	// Clock is the service's time (nil: time.Now); tests move it.
	Clock func() time.Time
	// TestNumbers are the operator's test numbers (devices.Config), valid
	// subjects although no real number is like them.
	TestNumbers map[string]string
}

// Defaults: 30 days to answer; inactive accounts erased after a year and
// linked devices removed after 180 days; audit kept three years.
func Defaults() Config {
	return Config{RequestDue: 30 * 24 * time.Hour, AccountRetention: 365 * 24 * time.Hour, DeviceRetention: 180 * 24 * time.Hour,
		AuditRetention: 3 * 365 * 24 * time.Hour, RetentionInterval: time.Hour}
}

// Service runs tokens, requests and the audit log.
type Service struct {
	cfg      Config
	store    Store
	accounts AccountStore
	hooks    Hooks
	log      *slog.Logger
	now      func() time.Time

	purgeMu   sync.Mutex // guards the following fields
	purging   bool       // a Purge runs
	purgeNext *purgeRun  // the run to start when it ends, if any asked
}

// New wires a Service.
func New(cfg Config, store Store, log *slog.Logger) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Service{cfg: cfg, store: store, log: log, now: cfg.Clock}
}

// tokenPrefix starts every admin token, so a leaked one is recognisable
// (and scannable) as such.
const tokenPrefix = "hush_admin_"

// CreateToken makes an admin token for role and returns it whole: the
// only time its secret exists outside the holder's hands. actor is who
// asked ("cli" from hushd admin).
func (s *Service) CreateToken(ctx context.Context, actor, name, role string) (string, Token, error) {
	if role != RoleCompliance && role != RoleOperator {
		return "", Token{}, inputErrorf("role must be %s or %s", RoleCompliance, RoleOperator)
	}
	id := randomHex(8)
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", Token{}, err
	}
	sum := sha256.Sum256(secret)
	t := Token{ID: id, Name: name, Role: role, Hash: sum[:], Created: s.now()}
	if err := s.store.CreateAdminToken(ctx, t); err != nil {
		return "", Token{}, err
	}
	if err := s.Audit(ctx, actor, "token.create", "", map[string]string{"token": id, "role": role}); err != nil {
		return "", Token{}, err
	}
	return tokenPrefix + id + "." + base64.RawURLEncoding.EncodeToString(secret), t, nil
}

// RevokeToken revokes a token at once.
func (s *Service) RevokeToken(ctx context.Context, actor, id string) error {
	if err := s.store.RevokeAdminToken(ctx, id, s.now()); err != nil {
		return err
	}
	return s.Audit(ctx, actor, "token.revoke", "", map[string]string{"token": id})
}

// Tokens lists every token (without secrets).
func (s *Service) Tokens(ctx context.Context) ([]Token, error) { return s.store.AdminTokens(ctx) }

// ErrBadToken is any token that does not authenticate: malformed,
// unknown, revoked or wrong.
var ErrBadToken = errors.New("invalid admin token")

// Authenticate checks a presented token in constant time.
func (s *Service) Authenticate(ctx context.Context, presented string) (Token, error) {
	rest, ok := strings.CutPrefix(presented, tokenPrefix)
	id, enc, ok2 := strings.Cut(rest, ".")
	secret, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if !ok || !ok2 || err != nil || len(secret) != 32 || len(id) != 16 {
		return Token{}, ErrBadToken
	}
	t, err := s.store.AdminToken(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Token{}, ErrBadToken
	}
	if err != nil {
		return Token{}, err
	}
	sum := sha256.Sum256(secret)
	if subtle.ConstantTimeCompare(sum[:], t.Hash) != 1 || !t.Revoked.IsZero() {
		return Token{}, ErrBadToken
	}
	return t, nil
}

// Audit appends an entry about account (none when "") with detail as
// JSON. Details never hold personal data: ids of tokens, requests and
// counts; the subject is the account's pseudonym.
func (s *Service) Audit(ctx context.Context, actor, action, account string, detail any) error {
	subject := ""
	if account != "" {
		p, err := s.store.Pseudonym(ctx, account, newPseudonym)
		if err != nil {
			return err
		}
		subject = p
	}
	return s.auditAs(ctx, actor, action, subject, detail)
}

// auditAs appends an entry about a pseudonym ("" none).
func (s *Service) auditAs(ctx context.Context, actor, action, subject string, detail any) error {
	d := "{}"
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return err
		}
		d = string(b)
	}
	_, err := s.store.AppendAudit(ctx, Entry{At: s.now().Truncate(time.Millisecond), Actor: actor, Action: action, Subject: subject, Detail: d}, seal)
	return err
}

// Verify walks the whole audit log and checks its chain; it returns how
// many entries verified, and a *ChainError where it breaks. After
// retention pruned the oldest entries, the chain starts at the first one
// left, whose own predecessor is gone.
func (s *Service) Verify(ctx context.Context) (int64, error) {
	var v verifier
	first, err := s.store.AuditLog(ctx, "", 0, 1)
	if err != nil || len(first) == 0 {
		return 0, err
	}
	v.seq, v.prev = first[0].Seq-1, first[0].Prev
	start := v.seq
	for {
		page, err := s.store.AuditLog(ctx, "", v.seq, 1000)
		if err != nil {
			return v.seq, err
		}
		for i := range page {
			if err := v.next(&page[i]); err != nil {
				return v.seq - start, err
			}
		}
		if len(page) < 1000 {
			return v.seq - start, nil
		}
	}
}

// Log returns audit entries after seq; subject filters when not "".
func (s *Service) Log(ctx context.Context, subject string, after int64, limit int) ([]Entry, error) {
	return s.store.AuditLog(ctx, subject, after, limit)
}

// Request kinds and states.
const (
	KindAccess      = "access"      // Art. 15
	KindPortability = "portability" // Art. 20
	KindErasure     = "erasure"     // Art. 17
	StatusOpen      = "open"
	StatusDone      = "done"
	StatusRejected  = "rejected"
)

// CreateRequest records a request received on day received (zero: today),
// due RequestDue later.
func (s *Service) CreateRequest(ctx context.Context, actor, kind, subject string, received time.Time) (Request, error) {
	switch kind {
	case KindAccess, KindPortability, KindErasure:
	default:
		return Request{}, inputErrorf("kind must be %s, %s or %s", KindAccess, KindPortability, KindErasure)
	}
	subject, err := s.canonicalSubject(subject)
	if err != nil {
		return Request{}, err
	}
	if received.IsZero() {
		received = s.now()
	}
	received = received.UTC().Truncate(24 * time.Hour)
	r := Request{ID: "req_" + randomHex(8), Kind: kind, Subject: subject, Received: received, Due: received.Add(s.cfg.RequestDue), Status: StatusOpen}
	if err := s.store.CreateRequest(ctx, r); err != nil {
		return Request{}, err
	}
	return r, s.Audit(ctx, actor, "request.create", "", map[string]string{"request": r.ID, "kind": kind})
}

// canonicalSubject returns a request's subject in the one spelling the
// store keeps: an account id as a lower-case UUID, a phone number in
// E.164 (devices.NormalizeNumber: "+1 555 000 0001" is "+15550000001"),
// so that the erasure of the account finds every request about it.
func (s *Service) canonicalSubject(subject string) (string, error) {
	if u, err := uuid.Parse(subject); err == nil && len(subject) == 36 {
		return u.String(), nil
	}
	if len(subject) > 64 {
		return "", &InputError{Code: api.CodeInvalidNumber, Msg: "subject must be a phone number (E.164, like +14155552671) or an account id"}
	}
	n, err := devices.NormalizeNumber(subject, s.cfg.TestNumbers)
	if err != nil {
		return "", &InputError{Code: api.CodeInvalidNumber, Msg: "subject must be a phone number (E.164, like +14155552671) or an account id"}
	}
	return n, nil
}

// Requests lists every request.
func (s *Service) Requests(ctx context.Context) ([]Request, error) { return s.store.Requests(ctx) }

// CloseRequest marks a request done or rejected.
func (s *Service) CloseRequest(ctx context.Context, actor, id, status, note string) error {
	if status != StatusDone && status != StatusRejected {
		return inputErrorf("status must be %s or %s", StatusDone, StatusRejected)
	}
	if len(note) > 1000 {
		return inputErrorf("note is at most 1000 bytes")
	}
	if err := s.store.CloseRequest(ctx, id, status, note, s.now()); err != nil {
		return err
	}
	return s.Audit(ctx, actor, "request.close", "", map[string]string{"request": id, "status": status})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newPseudonym makes a subject pseudonym: random, so it says nothing.
func newPseudonym() string { return "subj_" + randomHex(12) }
