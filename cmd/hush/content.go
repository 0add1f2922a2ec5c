package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	attach "github.com/hushmsg/hush/cmd/hush/internal/attachment"
)

// Content kinds. Text, location and the media kinds are messages people
// read: they are kept in the history and acknowledged with receipts. The
// others are protocol: receipts, typing notices, sender key distribution.
// kindGroupChange is never sent inside a ciphertext: it is how the history
// keeps the server's group change notices.
const (
	kindText        = "text"
	kindImage       = "image"
	kindVideo       = "video"
	kindFile        = "file"
	kindLocation    = "location"
	kindReceipt     = "receipt"
	kindTyping      = "typing"
	kindSenderKey   = "sender_key"
	kindGroupChange = "group_change"
)

// Receipt types and typing actions.
const (
	receiptDelivered = "delivered"
	receiptRead      = "read"
	typingStarted    = "started"
	typingStopped    = "stopped"
)

// Bounds of decrypted content; the server bounds ciphertext at 256 KiB.
const (
	maxBody       = 64 << 10 // a text body or caption
	maxLabel      = 256      // a location label
	maxReceiptIDs = 100      // envelope ids in one receipt
	maxIDLength   = 64
	maxSenderKey  = 1 << 10
	maxFileName   = 256
	maxMediaType  = 128      // an attachment's content type
	maxThumbnail  = 32 << 10 // an image attachment's JPEG thumbnail
	maxAttachID   = 64       // the server's ids are 22 characters
)

// content is the plaintext inside every envelope, as JSON. SyncTo is set
// only on the copies a device sends its own other devices: it names the
// account the message went to. Group is set on group messages (and on the
// sender key a member sends 1:1 for a group); the receiver checks it
// against the envelope's group, so the server cannot move a message into
// another group or out of one.
type content struct {
	Kind       string      `json:"kind"`
	Body       string      `json:"body"`
	SentAt     int64       `json:"sent_at"` // Unix ms, the sender's clock
	SyncTo     string      `json:"sync_to,omitempty"`
	Group      string      `json:"group,omitempty"`
	Location   *location   `json:"location,omitempty"`
	Attachment *attachment `json:"attachment,omitempty"`
	Receipt    *receipt    `json:"receipt,omitempty"`
	Typing     *typing     `json:"typing,omitempty"`
	SenderKey  []byte      `json:"sender_key,omitempty"` // a serialized SenderKeyDistributionMessage
}

// location is a point on Earth, in degrees (WGS 84).
type location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Label     string  `json:"label,omitempty"`
}

// attachment describes the media of an image, video or file message and
// points to its encrypted blob on the server: the blob's id, the key that
// decrypts it and its digest (see package attachment), and the
// plaintext's size, which gives the blob's exact size. Messages from
// before attachments were uploaded carry no pointer (no ID) and stay
// readable.
type attachment struct {
	ID          string     `json:"id,omitempty"`
	Key         attach.Key `json:"key,omitempty"`
	Digest      []byte     `json:"digest,omitempty"`
	ContentType string     `json:"content_type,omitempty"`
	FileName    string     `json:"file_name,omitempty"`
	Size        int64      `json:"size,omitempty"`
	Thumbnail   []byte     `json:"thumbnail,omitempty"` // JPEG, images only
}

// receipt acknowledges messages (by envelope id) to their sender.
type receipt struct {
	Type string   `json:"type"` // receiptDelivered or receiptRead
	IDs  []string `json:"ids"`
}

// typing tells that the sender started or stopped typing.
type typing struct {
	Action string `json:"action"` // typingStarted or typingStopped
}

func nowMilli() int64 { return time.Now().UnixMilli() }

// readable reports whether a kind is a message people read: kept in the
// history, acknowledged with receipts.
func readable(kind string) bool {
	switch kind {
	case kindText, kindLocation, kindImage, kindVideo, kindFile:
		return true
	}
	return false
}

func (c *content) encode() ([]byte, error) {
	return json.Marshal(c)
}

func decodeContent(b []byte) (*content, error) {
	var c content
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, errors.New("decrypted content is not JSON")
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("decrypted content: %w", err)
	}
	return &c, nil
}

// validate checks what a kind needs. Unknown kinds pass (a newer client's
// message is shown as its kind); a group change never comes from a peer.
func (c *content) validate() error {
	if len(c.Body) > maxBody {
		return fmt.Errorf("body is larger than %d bytes", maxBody)
	}
	switch c.Kind {
	case "":
		return errors.New("no kind")
	case kindGroupChange:
		return errors.New("a group change from a peer (only the server sends those)")
	case kindLocation:
		if c.Location == nil {
			return errors.New("location message without a location")
		}
		return c.Location.validate()
	case kindImage, kindVideo, kindFile:
		if c.Attachment != nil {
			return c.Attachment.validate()
		}
	case kindReceipt:
		return c.Receipt.validate()
	case kindTyping:
		if c.Typing == nil || c.Typing.Action != typingStarted && c.Typing.Action != typingStopped {
			return errors.New("typing message without a valid action")
		}
	case kindSenderKey:
		if c.Group == "" || len(c.SenderKey) == 0 || len(c.SenderKey) > maxSenderKey {
			return errors.New("sender key message without a group or a key")
		}
	}
	return nil
}

// validate bounds what a peer sends; the file name is made safe only when
// the file is saved (safeFileName).
func (a *attachment) validate() error {
	switch {
	case len(a.FileName) > maxFileName:
		return errors.New("attachment file name too long")
	case len(a.ContentType) > maxMediaType:
		return errors.New("attachment content type too long")
	case len(a.Thumbnail) > maxThumbnail:
		return fmt.Errorf("attachment thumbnail larger than %d bytes", maxThumbnail)
	case a.Size < 0 || a.Size > attach.MaxSize:
		return errors.New("attachment size out of range")
	case a.ID == "":
		if len(a.Key) != 0 || len(a.Digest) != 0 {
			return errors.New("attachment key without an id")
		}
		return nil // an old message: no blob to fetch
	case !validAttachmentID(a.ID):
		return errors.New("attachment id is not valid")
	case len(a.Key) != attach.KeySize:
		return fmt.Errorf("attachment key is not %d bytes", attach.KeySize)
	case len(a.Digest) != attach.DigestSize:
		return fmt.Errorf("attachment digest is not %d bytes", attach.DigestSize)
	}
	return nil
}

// validAttachmentID accepts what a server id can be: 1 to maxAttachID
// characters of base64url.
func validAttachmentID(id string) bool {
	if id == "" || len(id) > maxAttachID {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func (r *receipt) validate() error {
	switch {
	case r == nil:
		return errors.New("receipt message without a receipt")
	case r.Type != receiptDelivered && r.Type != receiptRead:
		return fmt.Errorf("unknown receipt type %q", r.Type)
	case len(r.IDs) == 0 || len(r.IDs) > maxReceiptIDs:
		return fmt.Errorf("a receipt names 1 to %d messages", maxReceiptIDs)
	}
	for _, id := range r.IDs {
		if id == "" || len(id) > maxIDLength {
			return errors.New("a receipt names an invalid message id")
		}
	}
	return nil
}

func (l *location) validate() error {
	switch {
	case math.IsNaN(l.Latitude) || l.Latitude < -90 || l.Latitude > 90:
		return errors.New("latitude must be between -90 and 90")
	case math.IsNaN(l.Longitude) || l.Longitude < -180 || l.Longitude > 180:
		return errors.New("longitude must be between -180 and 180")
	case len(l.Label) > maxLabel:
		return fmt.Errorf("location label longer than %d bytes", maxLabel)
	case !utf8.ValidString(l.Label):
		return errors.New("location label is not UTF-8")
	}
	return nil
}

// parseLocation parses LAT,LON[,LABEL] (degrees; the label may hold
// commas).
func parseLocation(s string) (*location, error) {
	parts := strings.SplitN(s, ",", 3)
	if len(parts) < 2 {
		return nil, errors.New("location must be LAT,LON or LAT,LON,LABEL")
	}
	lat, err := parseDegrees(parts[0])
	if err != nil {
		return nil, fmt.Errorf("latitude: %w", err)
	}
	lon, err := parseDegrees(parts[1])
	if err != nil {
		return nil, fmt.Errorf("longitude: %w", err)
	}
	l := &location{Latitude: lat, Longitude: lon}
	if len(parts) == 3 {
		l.Label = strings.TrimSpace(parts[2])
	}
	return l, l.validate()
}

func parseDegrees(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is not a number of degrees", s)
	}
	return f, nil
}

// String renders a location for people, with a map link.
func (l *location) String() string {
	s := fmt.Sprintf("location %.6f, %.6f", l.Latitude, l.Longitude)
	if l.Label != "" {
		s += " " + strconv.Quote(l.Label)
	}
	return s + fmt.Sprintf(" https://www.openstreetmap.org/?mlat=%.6f&mlon=%.6f", l.Latitude, l.Longitude)
}

// summary is a one-line text for a message of any kind, as the history
// keeps and prints it.
func (c *content) summary() string {
	switch c.Kind {
	case kindText:
		return c.Body
	case kindLocation:
		return c.Location.String()
	case kindImage, kindVideo, kindFile:
		s := "<" + c.Kind + ">"
		if c.Attachment != nil && c.Attachment.FileName != "" {
			s += " " + c.Attachment.FileName
		}
		if c.Body != "" {
			s += " " + c.Body
		}
		return s
	case kindGroupChange:
		return c.Body
	}
	return "<" + c.Kind + ">"
}
