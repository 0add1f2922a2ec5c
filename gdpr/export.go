package gdpr

import "time"

// ExportSchema names the export format, documented in docs/export.md.
const ExportSchema = "hush-export/1"

// Export is everything the server holds about one account (GDPR Art. 15
// and 20), as JSON. Message contents are never held beyond delivery and
// are end-to-end encrypted; queued envelopes appear as metadata only.
type Export struct {
	Schema      string             `json:"schema"`
	Generated   time.Time          `json:"generated"`
	Account     ExportAccount      `json:"account"`
	Devices     []ExportDevice     `json:"devices"`
	Envelopes   []ExportEnvelope   `json:"queued_envelopes"`
	Groups      []ExportGroup      `json:"groups"`
	Attachments []ExportAttachment `json:"attachments"`
	Push        []ExportPush       `json:"push_registrations"`
	Audit       []Entry            `json:"audit_events"`
}

// ExportAccount is the account row and its directory entry.
type ExportAccount struct {
	ID                 string    `json:"id"`
	Number             string    `json:"phone_number"`
	Created            time.Time `json:"created"`
	IdentityKey        []byte    `json:"identity_key"`
	LastSeen           time.Time `json:"last_seen,omitzero"` // to the minute
	LastSeenVisibility string    `json:"last_seen_visibility"`
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

// ExportPush is a push registration, its token left out.
type ExportPush struct {
	Device  uint32    `json:"device"`
	Kind    string    `json:"kind"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}
