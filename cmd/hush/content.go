package main

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Content kinds.
const kindText = "text"

// maxBody bounds a text body; the server bounds ciphertext at 256 KiB.
const maxBody = 64 << 10

// content is the plaintext inside every envelope, as JSON. SyncTo is set
// only on the copies a device sends its own other devices: it names the
// account the message went to.
type content struct {
	Kind   string `json:"kind"`
	Body   string `json:"body"`
	SentAt int64  `json:"sent_at"` // Unix ms, the sender's clock
	SyncTo string `json:"sync_to,omitempty"`
}

func (c *content) encode() ([]byte, error) {
	return json.Marshal(c)
}

func decodeContent(b []byte) (*content, error) {
	var c content
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, errors.New("decrypted content is not JSON")
	}
	if c.Kind == "" {
		return nil, errors.New("decrypted content has no kind")
	}
	if len(c.Body) > maxBody {
		return nil, fmt.Errorf("decrypted body is larger than %d bytes", maxBody)
	}
	return &c, nil
}
