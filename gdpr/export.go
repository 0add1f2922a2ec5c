package gdpr

import "time"

// ExportSchema names the export format, documented in docs/export.md.
const ExportSchema = "hush-export/1"

// Export is everything the server holds about one account (GDPR Art. 15
// and 20), as JSON. Message contents are never held beyond delivery and
// are end-to-end encrypted; queued envelopes, for the account or from
// it, appear as metadata only. Secrets (password hashes, code hashes,
// push tokens) are left out, and what is held of them is said.
type Export struct {
	Schema      string             `json:"schema"`
	Generated   time.Time          `json:"generated"`
	Account     ExportAccount      `json:"account"`
	Devices     []ExportDevice     `json:"devices"`
	Envelopes   []ExportEnvelope   `json:"queued_envelopes"`
	Outbound    []ExportOutbound   `json:"outbound_envelopes"`
	Groups      []ExportGroup      `json:"groups"`
	Attachments []ExportAttachment `json:"attachments"`
	Push        []ExportPush       `json:"push_registrations"`
	// Codes are the pending registration code of the account's number
	// and its provisioning codes (for linking devices), never the codes.
	Codes    []ExportCode `json:"pending_codes"`
	Requests []Request    `json:"data_subject_requests"`
	Audit    []Entry      `json:"audit_events"`
}

// ExportTables maps every table of the schema that names an account (a
// column account_id, owner, source_account, number or subject) to the
// part of the export that shows its rows, or to why it has none. A test
// walks the schema of both stores and fails on a table missing here.
var ExportTables = map[string]string{
	"accounts":           "account",
	"numbers":            "account.phone_number",
	"devices":            "devices",
	"signed_prekeys":     "devices.signed_prekeys",
	"one_time_prekeys":   "devices.one_time_prekeys",
	"envelopes":          "queued_envelopes, outbound_envelopes",
	"group_members":      "groups",
	"attachments":        "attachments",
	"push_registrations": "push_registrations",
	"registration_codes": "pending_codes",
	"provisioning_codes": "pending_codes",
	"dsr_requests":       "data_subject_requests",
	"registration_locks": "account.registration_lock",
	"audit_subjects":     "account.audit_subject, audit_events",
	"audit_log":          "audit_events",
	// An erasure record exists only while the account is being erased,
	// when its export would be out of date at once: none is given then.
	"erasures": "",
}

// ExportAccount is the account row and its directory entry.
type ExportAccount struct {
	ID                 string    `json:"id"`
	Number             string    `json:"phone_number"`
	Created            time.Time `json:"created"`
	IdentityKey        []byte    `json:"identity_key"`
	LastSeen           time.Time `json:"last_seen,omitzero"` // to the minute
	LastSeenVisibility string    `json:"last_seen_visibility"`
	// AuditSubject is the pseudonym the audit log names the account by.
	AuditSubject string `json:"audit_subject"`
	// RegistrationLock is set while the account has a registration lock.
	RegistrationLock *ExportLock `json:"registration_lock,omitempty"`
}

// ExportLock says what the server holds of a registration lock: that it is
// set, since when, and the wrong tokens counted in the current window. It
// also holds the token's hash and the salt the client derived it with,
// which are not shown: neither tells the PIN, and the hash is a secret.
type ExportLock struct {
	Created     time.Time `json:"created"`
	FailedTries int       `json:"failed_tries"`
	HashAndSalt string    `json:"hash_and_salt"`
}

// ExportDevice is a device with its public keys.
type ExportDevice struct {
	ID             uint32         `json:"id"`
	Name           string         `json:"name"`
	Created        time.Time      `json:"created"`
	LastSeenDay    time.Time      `json:"last_seen_day"`
	RegistrationID uint32         `json:"registration_id"`
	SignedPreKeys  []ExportKey    `json:"signed_prekeys"`
	OneTimePreKeys map[string]int `json:"one_time_prekeys"` // count by kind: ec, pq
}

// ExportKey is a signed public prekey.
type ExportKey struct {
	Kind      string `json:"kind"` // ec or pq
	KeyID     uint32 `json:"key_id"`
	PublicKey []byte `json:"public_key"`
}

// ExportEnvelope is the metadata of an envelope waiting for a device; its
// ciphertext is not exported (the server cannot read it either).
type ExportEnvelope struct {
	Device          uint32    `json:"device"`
	ID              string    `json:"id"`
	SourceAccount   string    `json:"source_account,omitempty"`
	SourceDevice    uint32    `json:"source_device,omitempty"`
	Type            int       `json:"type"`
	Group           string    `json:"group,omitempty"`
	ServerTimestamp time.Time `json:"server_timestamp"`
	Expires         time.Time `json:"expires"`
	Size            int       `json:"size"`
}

// ExportOutbound is the metadata of an envelope the account sent that
// still waits for another account's device: to whom, when, how big.
type ExportOutbound struct {
	ID              string    `json:"id"`
	Recipient       string    `json:"recipient_account"`
	Device          uint32    `json:"recipient_device"`
	SourceDevice    uint32    `json:"source_device"`
	Type            int       `json:"type"`
	Group           string    `json:"group,omitempty"`
	ServerTimestamp time.Time `json:"server_timestamp"`
	Expires         time.Time `json:"expires"`
	Size            int       `json:"size"`
}

// ExportCode is a pending code: a registration code sent to the
// account's number, or a provisioning code for linking a device. Only a
// hash of the code is held, and it is not exported.
type ExportCode struct {
	Kind     string    `json:"kind"` // registration or provisioning
	Expires  time.Time `json:"expires"`
	Attempts int       `json:"attempts,omitempty"`
}

// ExportGroup is a group membership.
type ExportGroup struct {
	ID     string    `json:"id"`
	Role   string    `json:"role"`
	Joined time.Time `json:"joined"`
}

// ExportAttachment is an attachment's record (its bytes are ciphertext
// whose key only the clients hold).
type ExportAttachment struct {
	ID      string    `json:"id"`
	Size    int64     `json:"size"`
	State   string    `json:"state"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// ExportPush is a push registration, its token or endpoint and keys left
// out (they are the device's address at its provider: held, and usable
// by whoever has them).
type ExportPush struct {
	Device    uint32    `json:"device"`
	Kind      string    `json:"kind"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	LastWoken time.Time `json:"last_woken,omitzero"`
	Held      string    `json:"held"` // what is held but not shown
}
