package content

// Bounds a receiver enforces (docs/protocol.md, "Content format").
const (
	MaxBody         = 64 << 10 // a text body or caption, bytes
	MaxAttachments  = 32
	MaxFileName     = 256
	MaxContentType  = 128
	MaxThumbnail    = 32 << 10
	MaxCDNKey       = 64
	MaxLabel        = 256
	MaxGroupID      = 64
	MaxReceiptTimes = 100
	MaxSenderKey    = 1 << 10
	MaxDecryptError = 1 << 10
	AttachmentKey   = 64 // AES-256 key then HMAC-SHA256 key
	DigestSize      = 32
)

// PadBlock is the padding granularity of an encoded Content.
const PadBlock = 160

// Attachment flags: Signal's, then Hush's own.
const (
	FlagVoiceMessage uint32 = 1
	FlagBorderless   uint32 = 2
	FlagGIF          uint32 = 8
	FlagAsFile       uint32 = 256
)

// Receipt types.
const (
	ReceiptDelivery uint32 = 0
	ReceiptRead     uint32 = 1
	ReceiptViewed   uint32 = 2
)

// Typing actions.
const (
	TypingStarted uint32 = 0
	TypingStopped uint32 = 1
)

// Content is one plaintext: usually exactly one of its fields is set.
type Content struct {
	Data                         *DataMessage
	Sync                         *SyncMessage
	Receipt                      *ReceiptMessage
	Typing                       *TypingMessage
	SenderKeyDistributionMessage []byte
	DecryptionErrorMessage       []byte
}

// DataMessage is a message people read: text, media, a location.
type DataMessage struct {
	Body        string
	Attachments []AttachmentPointer
	Flags       uint32
	Timestamp   uint64 // the sender's clock, Unix milliseconds
	Group       *GroupContext
	Location    *Location
}

// GroupContext names the group of a group message.
type GroupContext struct {
	ID       string
	Revision uint32
}

// AttachmentPointer points at an encrypted blob on the server.
type AttachmentPointer struct {
	ContentType string
	Key         []byte
	Size        uint32
	Thumbnail   []byte
	Digest      []byte
	FileName    string
	Flags       uint32
	Caption     string
	CDNKey      string
}

// Location is a point on Earth in degrees (WGS 84).
type Location struct {
	Latitude, Longitude float64
	Label               string
}

// ReceiptMessage acknowledges messages by their DataMessage timestamps.
type ReceiptMessage struct {
	Type       uint32
	Timestamps []uint64
}

// TypingMessage says that the sender started or stopped typing.
type TypingMessage struct {
	Timestamp uint64
	Action    uint32
	GroupID   []byte
}

// SyncMessage carries a copy of what another device of the account sent.
type SyncMessage struct {
	Sent *SyncSent
}

// SyncSent is a sent message as the sending device's siblings see it.
type SyncSent struct {
	Timestamp            uint64
	Message              *DataMessage
	DestinationServiceID string
}
