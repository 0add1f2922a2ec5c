package api

// Error is the body of every 4xx and 5xx answer.
type Error struct {
	// Code is stable and machine-readable (the Code* constants).
	Code string `json:"error"`
	// Message is for people and may change.
	Message string `json:"message"`
	// Mismatched is set with CodeMismatchedDevices (409).
	Mismatched []MismatchedDevices `json:"mismatched,omitempty"`
	// Stale is set with CodeStaleDevices (410).
	Stale []StaleDevices `json:"stale,omitempty"`
	// MissingParts is set with CodeUploadIncomplete (409): the part
	// numbers of an attachment upload not stored yet.
	MissingParts []int `json:"missing_parts,omitempty"`
	// RetryAfter is set with CodeRateLimited, in seconds.
	RetryAfter int `json:"retry_after,omitempty"`
}

// Stable error codes.
const (
	CodeBadRequest        = "bad_request"        // 400: malformed body or parameter
	CodeInvalidJSON       = "invalid_json"       // 400: body is not the expected JSON
	CodeInvalidNumber     = "invalid_number"     // 400: phone number is not E.164
	CodeInvalidKey        = "invalid_key"        // 400: key of the wrong length or type
	CodeTooManyKeys       = "too_many_keys"      // 400: more keys in one upload than allowed
	CodeUnauthorized      = "unauthorized"       // 401: missing or wrong credential
	CodeInvalidCode       = "invalid_code"       // 403: wrong or expired verification or provisioning code
	CodeForbidden         = "forbidden"          // 403: authenticated, but not allowed
	CodeNotFound          = "not_found"          // 404
	CodeMethodNotAllowed  = "method_not_allowed" // 405
	CodeMismatchedDevices = "mismatched_devices" // 409: missing or extra devices in a send
	CodeTooManyDevices    = "too_many_devices"   // 409: account has its maximum of devices
	CodeUploadIncomplete  = "upload_incomplete"  // 409: an attachment's parts are not all uploaded
	CodeUploadComplete    = "upload_complete"    // 409: the attachment's upload is already complete
	CodeStaleDevices      = "stale_devices"      // 410: registration id does not match
	CodePayloadTooLarge   = "payload_too_large"  // 413
	CodeSizeMismatch      = "size_mismatch"      // 400: uploaded bytes differ from the declared size
	CodeTimeout           = "timeout"            // 408: the request body did not arrive in time
	CodeUnsupportedMedia  = "unsupported_media"  // 415: body is not application/json
	CodeBadSignature      = "bad_signature"      // 422: prekey signature does not verify
	CodePushUnavailable   = "push_unavailable"   // 400/404: this server does not send that kind of push
	CodeRateLimited       = "rate_limited"       // 429
	CodeTooManyAttempts   = "too_many_attempts"  // 429: verification code tried too often
	CodeInternal          = "internal"           // 500
	CodeUnavailable       = "unavailable"        // 503: storage unavailable, retry
)

// MismatchedDevices lists, for one account, the devices a send left out and
// the ones it named that do not exist.
type MismatchedDevices struct {
	AccountID string   `json:"account_id"`
	Missing   []uint32 `json:"missing_devices"`
	Extra     []uint32 `json:"extra_devices"`
}

// StaleDevices lists, for one account, the devices whose registration id in a
// send did not match: the sender's session with them is out of date.
type StaleDevices struct {
	AccountID string   `json:"account_id"`
	Stale     []uint32 `json:"stale_devices"`
}

// RequestCode is the body of POST /v1/registration/code.
type RequestCode struct {
	Number string `json:"number"`
}

// RequestCodeResult answers POST /v1/registration/code.
type RequestCodeResult struct {
	ExpiresIn int `json:"expires_in"` // seconds
}

// SignedPreKey is a public prekey signed by the account's identity key.
// PublicKey is a serialized curve25519 point (33 bytes, type 0x05) for EC
// prekeys and a serialized Kyber1024 key (1569 bytes, type 0x08) for PQ
// prekeys. Signature is the 64-byte XEdDSA signature over PublicKey.
type SignedPreKey struct {
	KeyID     uint32 `json:"key_id"`
	PublicKey []byte `json:"public_key"`
	Signature []byte `json:"signature"`
}

// PreKey is an unsigned one-time EC prekey.
type PreKey struct {
	KeyID     uint32 `json:"key_id"`
	PublicKey []byte `json:"public_key"`
}

// DeviceKeys are the keys a device brings when it is created.
type DeviceKeys struct {
	RegistrationID     uint32       `json:"registration_id"`
	SignedPreKey       SignedPreKey `json:"signed_prekey"`
	PQLastResortPreKey SignedPreKey `json:"pq_last_resort_prekey"`
	// Name is an opaque label chosen by the client (at most 256 bytes);
	// clients may encrypt it.
	Name string `json:"name,omitempty"`
}

// Verify is the body of POST /v1/registration/verify.
type Verify struct {
	Number      string `json:"number"`
	Code        string `json:"code"`
	IdentityKey []byte `json:"identity_key"`
	DeviceKeys
}

// Credentials answers registration and linking. Password is shown once; the
// server keeps only its hash. Authenticate with HTTP Basic auth, user
// "<account_id>.<device_id>".
type Credentials struct {
	AccountID string `json:"account_id"`
	DeviceID  uint32 `json:"device_id"`
	Password  string `json:"password"`
}

// ProvisioningCode answers POST /v1/devices/provisioning_code.
type ProvisioningCode struct {
	Code      string `json:"code"`
	ExpiresIn int    `json:"expires_in"`
}

// ProvisioningMessage is the body of PUT /v1/provisioning/{address}: an
// opaque message, encrypted by the primary to the new device.
type ProvisioningMessage struct {
	Body []byte `json:"body"`
}

// Link is the body of POST /v1/devices/link.
type Link struct {
	AccountID        string `json:"account_id"`
	ProvisioningCode string `json:"provisioning_code"`
	DeviceKeys
}

// Device describes one device of an account. Times are Unix seconds;
// LastSeen is rounded down to the day.
type Device struct {
	DeviceID uint32 `json:"device_id"`
	Name     string `json:"name,omitempty"`
	Created  int64  `json:"created"`
	LastSeen int64  `json:"last_seen"`
}

// DeviceList answers GET /v1/devices.
type DeviceList struct {
	Devices []Device `json:"devices"`
}

// SetKeys is the body of PUT /v1/keys. Every part is optional; at most
// MaxPreKeysPerUpload one-time and PQ prekeys each.
type SetKeys struct {
	SignedPreKey       *SignedPreKey  `json:"signed_prekey,omitempty"`
	PQLastResortPreKey *SignedPreKey  `json:"pq_last_resort_prekey,omitempty"`
	PreKeys            []PreKey       `json:"prekeys,omitempty"`
	PQPreKeys          []SignedPreKey `json:"pq_prekeys,omitempty"`
}

// MaxPreKeysPerUpload bounds each list in SetKeys.
const MaxPreKeysPerUpload = 100

// KeyCount answers GET /v1/keys/count: one-time prekeys left.
type KeyCount struct {
	PreKeys   int `json:"prekeys"`
	PQPreKeys int `json:"pq_prekeys"`
}

// Bundle answers GET /v1/keys/{account_id}/{device_id|*}.
type Bundle struct {
	AccountID   string         `json:"account_id"`
	IdentityKey []byte         `json:"identity_key"`
	Devices     []DeviceBundle `json:"devices"`
}

// DeviceBundle holds what a sender needs to start a session with one device.
// PreKey is nil when the device has no one-time prekeys left. PQPreKey is a
// one-time PQ prekey, or the last-resort one (PQLastResort true).
type DeviceBundle struct {
	DeviceID       uint32       `json:"device_id"`
	RegistrationID uint32       `json:"registration_id"`
	SignedPreKey   SignedPreKey `json:"signed_prekey"`
	PreKey         *PreKey      `json:"prekey,omitempty"`
	PQPreKey       SignedPreKey `json:"pq_prekey"`
	PQLastResort   bool         `json:"pq_last_resort"`
}

// Directory answers GET /v1/directory/{number}.
type Directory struct {
	AccountID string `json:"account_id"`
}

// OutgoingMessage is one device's ciphertext in a send.
type OutgoingMessage struct {
	// AccountID defaults to the send's destination; the sender's own
	// account is the only other one allowed (sync copies).
	AccountID      string `json:"account_id,omitempty"`
	DeviceID       uint32 `json:"device_id"`
	RegistrationID uint32 `json:"registration_id"`
	// Type is the libsignal ciphertext type (2 whisper, 3 prekey).
	Type    int    `json:"type"`
	Content []byte `json:"content"`
}

// Send is the body of POST /v1/messages and of a WebSocket "send" frame.
// It must name every device of Destination and every other device of the
// sender, each exactly once.
type Send struct {
	Destination string            `json:"destination"`
	Ephemeral   bool              `json:"ephemeral,omitempty"`
	Messages    []OutgoingMessage `json:"messages"`
	// Urgent false (receipts, say) stores the envelopes without waking
	// offline devices by push; absent means true.
	Urgent *bool `json:"urgent,omitempty"`
}

// SendResult answers a send: the envelope id (the same in every device's
// mailbox) and the server's timestamp in Unix milliseconds.
type SendResult struct {
	ID              string `json:"id"`
	ServerTimestamp int64  `json:"server_timestamp"`
}

// Group roles.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// CreateGroup is the body of POST /v1/groups: the accounts to add besides
// the creator, who becomes the first admin.
type CreateGroup struct {
	Members []string `json:"members"`
}

// GroupMember is one member of a group. Joined is Unix seconds.
type GroupMember struct {
	AccountID string `json:"account_id"`
	Role      string `json:"role"`
	Joined    int64  `json:"joined"`
}

// Group answers the group routes. Version grows by one with every
// membership change; clients order changes by it.
type Group struct {
	GroupID string        `json:"group_id"`
	Version int64         `json:"version"`
	Members []GroupMember `json:"members"`
}

// GroupSummary is one group in GET /v1/groups.
type GroupSummary struct {
	GroupID string `json:"group_id"`
	Version int64  `json:"version"`
	Role    string `json:"role"`
}

// GroupList answers GET /v1/groups.
type GroupList struct {
	Groups []GroupSummary `json:"groups"`
}

// AddMembers is the body of POST /v1/groups/{id}/members.
type AddMembers struct {
	Members []string `json:"members"`
}

// Promote is the body of POST /v1/groups/{id}/admins.
type Promote struct {
	AccountID string `json:"account_id"`
}

// Group change actions, in GroupChange.Action.
const (
	GroupCreated  = "created"
	GroupAdded    = "added"
	GroupRemoved  = "removed"
	GroupLeft     = "left"
	GroupPromoted = "promoted"
	// GroupErased: a member's account was erased. The notice names no
	// actor and no account; members learn who is gone from Members.
	GroupErased = "erased"
)

// GroupChange is the content of a server envelope (type
// wire.TypeGroupChange) that tells every member's devices, in order, how
// a group changed. Actor made the change; Accounts are the ones it was
// about. Members is the member list after the change; a device whose
// account is no longer a member gets the change without it.
type GroupChange struct {
	GroupID  string        `json:"group_id"`
	Version  int64         `json:"version"`
	Action   string        `json:"action"`
	Actor    string        `json:"actor"`
	Accounts []string      `json:"accounts"`
	Members  []GroupMember `json:"members,omitempty"`
}

// GroupRecipient names one device a group send goes to, with the
// registration id the sender's session knows.
type GroupRecipient struct {
	AccountID      string `json:"account_id"`
	DeviceID       uint32 `json:"device_id"`
	RegistrationID uint32 `json:"registration_id"`
}

// GroupSend is the body of POST /v1/groups/{id}/messages and of a
// WebSocket "group_send" frame: one ciphertext (a Sender Key message) for
// every device of every other member and every other device of the
// sender, which Recipients must name exactly, as Send's messages do.
type GroupSend struct {
	GroupID    string           `json:"group_id,omitempty"` // the frame's; REST takes it from the path
	Ephemeral  bool             `json:"ephemeral,omitempty"`
	Type       int              `json:"type"`
	Content    []byte           `json:"content"`
	Recipients []GroupRecipient `json:"recipients"`
	Urgent     *bool            `json:"urgent,omitempty"` // as in Send
}

// IsUrgent reads an optional urgent flag: absent means true.
func IsUrgent(urgent *bool) bool { return urgent == nil || *urgent }

// Push registration kinds.
const (
	PushAPNs    = "apns"
	PushFCM     = "fcm"
	PushWebPush = "webpush" // Web Push and UnifiedPush
	PushWNS     = "wns"
)

// PushRegistration is the body of PUT /v1/push: where to wake this device.
// Kind selects the fields: apns (token as hex, topic, sandbox), fcm
// (token), webpush (endpoint, p256dh as the 65-byte uncompressed P-256
// key, auth as the 16-byte secret), wns (channel_uri).
type PushRegistration struct {
	Kind       string `json:"kind"`
	Token      string `json:"token,omitempty"`
	Topic      string `json:"topic,omitempty"`
	Sandbox    bool   `json:"sandbox,omitempty"`
	Endpoint   string `json:"endpoint,omitempty"`
	P256DH     []byte `json:"p256dh,omitempty"`
	Auth       []byte `json:"auth,omitempty"`
	ChannelURI string `json:"channel_uri,omitempty"`
}

// PushStatus answers GET /v1/push: the kind and dates (Unix seconds) of
// the device's registration, never its token.
type PushStatus struct {
	Kind    string `json:"kind"`
	Created int64  `json:"created"`
	Updated int64  `json:"updated"`
}

// PushVAPID answers GET /v1/push/vapid: the server's VAPID public key
// (base64url, uncompressed P-256), the application server key a Web Push
// or UnifiedPush subscription is made for.
type PushVAPID struct {
	PublicKey string `json:"public_key"`
}

// Last-seen visibility.
const (
	VisibleEveryone = "everyone"
	VisibleNobody   = "nobody"
)

// Privacy is the body and answer of GET and PUT /v1/account/privacy.
type Privacy struct {
	LastSeen string `json:"last_seen"` // VisibleEveryone or VisibleNobody
}

// Presence answers GET /v1/accounts/{id}/last_seen and is the body of a
// WebSocket "presence" frame. Hidden says the account shows nothing; else
// Online says whether a device of it is connected and LastSeen (Unix
// seconds, rounded down to the minute) when it was last active.
type Presence struct {
	AccountID string `json:"account_id"`
	Hidden    bool   `json:"hidden,omitempty"`
	Online    bool   `json:"online"`
	LastSeen  int64  `json:"last_seen,omitempty"`
}

// Follow is the body of a WebSocket "presence_follow" frame: the accounts
// whose presence this connection wants as it changes (it replaces the
// previous list; at most MaxFollow).
type Follow struct {
	Accounts []string `json:"accounts"`
}

// MaxFollow bounds the accounts one connection follows.
const MaxFollow = 256

// Attachments. The client encrypts an attachment with a fresh key and
// uploads only the ciphertext, in parts, straight to the blob store; the
// server hands out the locations and keeps a record (id, owner, size,
// dates), never the key.

// NewAttachment is the body of POST /v1/attachments: the exact size in
// bytes of the ciphertext to upload.
type NewAttachment struct {
	Size int64 `json:"size"`
}

// UploadPart is one part of an upload. A part not yet uploaded carries
// where to upload it: Method (PUT) to URL with Headers and a body of
// exactly Size bytes. URL may be relative to the server's base URL (the
// embedded store) or absolute (S3).
type UploadPart struct {
	Number   int               `json:"number"`
	Size     int64             `json:"size"`
	Uploaded bool              `json:"uploaded,omitempty"`
	Method   string            `json:"method,omitempty"`
	URL      string            `json:"url,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
}

// Upload answers POST /v1/attachments and GET /v1/attachments/{id}/upload
// (which resumes a broken upload: parts already stored are marked, the
// others get fresh locations). URLsExpire and Expires are Unix seconds:
// the part locations' and the unfinished upload's deadlines.
type Upload struct {
	ID         string       `json:"id"`
	Size       int64        `json:"size"`
	PartSize   int64        `json:"part_size"`
	Parts      []UploadPart `json:"parts"`
	URLsExpire int64        `json:"urls_expire"`
	Expires    int64        `json:"expires"`
}

// Attachment answers POST /v1/attachments/{id}/complete and GET
// /v1/attachments/{id}: where to download the ciphertext (URL, absolute or
// relative to the server's base URL, valid until URLExpires; 0 for a CDN
// URL that does not expire) and when the attachment itself expires (Unix
// seconds).
type Attachment struct {
	ID         string `json:"id"`
	Size       int64  `json:"size"`
	URL        string `json:"url"`
	URLExpires int64  `json:"url_expires,omitempty"`
	Expires    int64  `json:"expires"`
}
