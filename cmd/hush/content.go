package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	pb "github.com/hushmsg/hush/client/content"
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

// Bounds of what a user sends; the content format bounds the rest
// (package client/content), and the server bounds ciphertext at 256 KiB.
const (
	maxBody       = pb.MaxBody         // a text body or caption
	maxReceiptIDs = pb.MaxReceiptTimes // messages named in one receipt
	maxAttachID   = pb.MaxCDNKey       // the server's ids are 22 characters
	maxFileName   = pb.MaxFileName
	maxThumbnail  = pb.MaxThumbnail // an image attachment's JPEG thumbnail
)

// content is a plaintext as this client handles it: one kind, and what
// the kind needs. On the wire it is a client/content Content (protobuf,
// docs/content.proto): text, location and media are a DataMessage; the
// copies a device sends its own other devices are a SyncMessage.sent
// naming the account the message went to (SyncTo here); receipts,
// typing and sender keys are the Content fields of those names. Group is
// set on group messages (DataMessage.group, TypingMessage.group_id); the
// receiver checks it against the envelope's group, so the server cannot
// move a message into another group or out of one.
type content struct {
	Kind       string
	Body       string
	SentAt     int64 // Unix ms, the sender's clock: the DataMessage timestamp
	SyncTo     string
	Group      string
	Location   *location
	Attachment *attachment
	Receipt    *receipt
	Typing     *typing
	SenderKey  []byte // a serialized SenderKeyDistributionMessage
}

// location is a point on Earth, in degrees (WGS 84).
type location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Label     string  `json:"label,omitempty"`
}

// attachment describes the media of an image, video or file message and
// points to its encrypted blob on the server: the blob's id (the
// pointer's cdn_key), the key that decrypts it and its digest (see package
// attachment), and the plaintext's size, which gives the blob's exact
// size.
type attachment struct {
	ID          string
	Key         attach.Key
	Digest      []byte
	ContentType string
	FileName    string
	Size        int64
	Thumbnail   []byte // JPEG, images only
}

// receipt acknowledges messages to their sender, naming them by their
// DataMessage timestamps, as Signal's receipts do.
type receipt struct {
	Type       string // receiptDelivered or receiptRead
	Timestamps []int64
}

// typing tells that the sender started or stopped typing.
type typing struct {
	Action string // typingStarted or typingStopped
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

// encode returns c as a padded Content.
func (c *content) encode() ([]byte, error) {
	out := &pb.Content{}
	switch c.Kind {
	case kindText, kindLocation, kindImage, kindVideo, kindFile:
		dm, err := c.dataMessage()
		if err != nil {
			return nil, err
		}
		if c.SyncTo != "" {
			out.Sync = &pb.SyncMessage{Sent: &pb.SyncSent{Timestamp: uint64(c.SentAt), Message: dm, DestinationServiceID: c.SyncTo}}
		} else {
			out.Data = dm
		}
	case kindReceipt:
		r := &pb.ReceiptMessage{Type: pb.ReceiptDelivery}
		if c.Receipt.Type == receiptRead {
			r.Type = pb.ReceiptRead
		}
		for _, ts := range c.Receipt.Timestamps {
			r.Timestamps = append(r.Timestamps, uint64(ts))
		}
		out.Receipt = r
	case kindTyping:
		t := &pb.TypingMessage{Timestamp: uint64(c.SentAt), Action: pb.TypingStarted}
		if c.Typing.Action == typingStopped {
			t.Action = pb.TypingStopped
		}
		if c.Group != "" {
			t.GroupID = []byte(c.Group)
		}
		out.Typing = t
	case kindSenderKey:
		out.SenderKeyDistributionMessage = c.SenderKey
	default:
		return nil, fmt.Errorf("cannot send a message of kind %q", c.Kind)
	}
	return pb.Marshal(out), nil
}

// dataMessage returns a message people read as a DataMessage. Media
// carry their caption in the attachment pointer.
func (c *content) dataMessage() (*pb.DataMessage, error) {
	dm := &pb.DataMessage{Timestamp: uint64(c.SentAt)}
	if c.Group != "" {
		dm.Group = &pb.GroupContext{ID: c.Group}
	}
	switch c.Kind {
	case kindText:
		dm.Body = c.Body
	case kindLocation:
		if c.Location == nil {
			return nil, errors.New("location message without a location")
		}
		dm.Location = &pb.Location{Latitude: c.Location.Latitude, Longitude: c.Location.Longitude, Label: c.Location.Label}
	default:
		a := c.Attachment
		if a == nil {
			return nil, fmt.Errorf("%s message without an attachment", c.Kind)
		}
		if a.Size < 0 || a.Size > math.MaxUint32 {
			return nil, errors.New("attachment size out of range")
		}
		p := pb.AttachmentPointer{
			CDNKey: a.ID, Key: a.Key, Digest: a.Digest, Size: uint32(a.Size), ContentType: a.ContentType,
			FileName: a.FileName, Thumbnail: a.Thumbnail, Caption: c.Body,
		}
		if c.Kind == kindFile {
			p.Flags = pb.FlagAsFile
		}
		dm.Attachments = []pb.AttachmentPointer{p}
	}
	return dm, nil
}

// decodeContent decodes a decrypted plaintext (padding included) and
// checks what its kind needs. A Content this client does not know (a
// newer client's) is kind "unknown", kept out of the history.
func decodeContent(b []byte) (*content, error) {
	pc, err := pb.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("decrypted content: %w", err)
	}
	c, err := fromProto(pc)
	if err != nil {
		return nil, fmt.Errorf("decrypted content: %w", err)
	}
	return c, nil
}

// kindUnknown is a Content with nothing this client knows.
const kindUnknown = "unknown"

func fromProto(pc *pb.Content) (*content, error) {
	n := 0
	for _, set := range []bool{pc.Data != nil, pc.Sync != nil, pc.Receipt != nil, pc.Typing != nil,
		pc.SenderKeyDistributionMessage != nil, pc.DecryptionErrorMessage != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("more than one kind of message in one content")
	}
	switch {
	case pc.Data != nil:
		return fromData(pc.Data)
	case pc.Sync != nil:
		if pc.Sync.Sent == nil || pc.Sync.Sent.Message == nil {
			return &content{Kind: kindUnknown}, nil
		}
		c, err := fromData(pc.Sync.Sent.Message)
		if err != nil {
			return nil, err
		}
		c.SyncTo = pc.Sync.Sent.DestinationServiceID
		if c.SyncTo == "" && c.Group == "" {
			return nil, errors.New("a sync copy that names no destination")
		}
		return c, nil
	case pc.Receipt != nil:
		r := pc.Receipt
		if len(r.Timestamps) == 0 {
			return nil, errors.New("a receipt that names no message")
		}
		c := &content{Kind: kindReceipt, Receipt: &receipt{Type: receiptDelivered}}
		switch r.Type {
		case pb.ReceiptDelivery:
		case pb.ReceiptRead:
			c.Receipt.Type = receiptRead
		default:
			return &content{Kind: kindUnknown}, nil // viewed: not kept
		}
		for _, ts := range r.Timestamps {
			if ts == 0 || ts > math.MaxInt64 {
				return nil, errors.New("a receipt names an invalid timestamp")
			}
			c.Receipt.Timestamps = append(c.Receipt.Timestamps, int64(ts))
		}
		return c, nil
	case pc.Typing != nil:
		t := pc.Typing
		c := &content{Kind: kindTyping, SentAt: int64(min(t.Timestamp, math.MaxInt64)), Group: string(t.GroupID), Typing: &typing{Action: typingStarted}}
		if t.Action == pb.TypingStopped {
			c.Typing.Action = typingStopped
		}
		if !utf8.ValidString(c.Group) {
			return nil, errors.New("typing in a group whose id is not UTF-8")
		}
		return c, nil
	case pc.SenderKeyDistributionMessage != nil:
		if len(pc.SenderKeyDistributionMessage) == 0 {
			return nil, errors.New("an empty sender key")
		}
		return &content{Kind: kindSenderKey, SenderKey: pc.SenderKeyDistributionMessage}, nil
	case pc.DecryptionErrorMessage != nil:
		return nil, errors.New("a decryption error inside an encrypted message (they travel as plaintext content)")
	}
	return &content{Kind: kindUnknown}, nil
}

// fromData reads a DataMessage: text, a location, or one attachment
// (kind by its flags and type) with its caption.
func fromData(dm *pb.DataMessage) (*content, error) {
	if dm.Timestamp == 0 || dm.Timestamp > math.MaxInt64 {
		return nil, errors.New("a message without a valid timestamp")
	}
	c := &content{SentAt: int64(dm.Timestamp), Body: dm.Body}
	if dm.Group != nil {
		if dm.Group.ID == "" {
			return nil, errors.New("a group message that names no group")
		}
		c.Group = dm.Group.ID
	}
	switch {
	case dm.Location != nil:
		if len(dm.Attachments) > 0 {
			return nil, errors.New("a location with attachments")
		}
		c.Kind = kindLocation
		c.Location = &location{Latitude: dm.Location.Latitude, Longitude: dm.Location.Longitude, Label: dm.Location.Label}
		return c, c.Location.validate()
	case len(dm.Attachments) > 0:
		p := dm.Attachments[0]
		a := &attachment{ID: p.CDNKey, Key: attach.Key(p.Key), Digest: p.Digest, ContentType: p.ContentType,
			FileName: p.FileName, Size: int64(p.Size), Thumbnail: p.Thumbnail}
		if err := a.validate(); err != nil {
			return nil, err
		}
		c.Attachment = a
		c.Kind = mediaKind(p.Flags, p.ContentType)
		if p.Caption != "" {
			c.Body = p.Caption
		}
		if c.Kind != kindImage {
			a.Thumbnail = nil
		}
		return c, nil
	case dm.Body != "":
		c.Kind = kindText
		return c, nil
	}
	return nil, errors.New("a message with nothing to show")
}

// mediaKind names the kind of an attachment: a file when flagged AS_FILE,
// else by its content type.
func mediaKind(flags uint32, contentType string) string {
	switch {
	case flags&pb.FlagAsFile != 0:
		return kindFile
	case strings.HasPrefix(contentType, "image/"):
		return kindImage
	case strings.HasPrefix(contentType, "video/"):
		return kindVideo
	}
	return kindFile
}

// validate checks an attachment pointer: a blob id the server can have
// given, a 64-byte key and a 32-byte digest; the file name is made safe
// only when the file is saved (safeFileName).
func (a *attachment) validate() error {
	switch {
	case a.Size < 0 || a.Size > attach.MaxSize:
		return errors.New("attachment size out of range")
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

func (l *location) validate() error {
	switch {
	case math.IsNaN(l.Latitude) || l.Latitude < -90 || l.Latitude > 90:
		return errors.New("latitude must be between -90 and 90")
	case math.IsNaN(l.Longitude) || l.Longitude < -180 || l.Longitude > 180:
		return errors.New("longitude must be between -180 and 180")
	case len(l.Label) > pb.MaxLabel:
		return fmt.Errorf("location label longer than %d bytes", pb.MaxLabel)
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
