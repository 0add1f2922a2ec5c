package gdpr

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// seal is an entry's hash: SHA-256 over the previous hash and every field,
// each length-prefixed so no two entries encode alike.
func seal(e *Entry) []byte {
	h := sha256.New()
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field(e.Prev)
	field(binary.BigEndian.AppendUint64(nil, uint64(e.Seq)))
	field(binary.BigEndian.AppendUint64(nil, uint64(e.At.UnixMilli())))
	field([]byte(e.Actor))
	field([]byte(e.Action))
	field([]byte(e.Subject))
	field([]byte(e.Detail))
	return h.Sum(nil)
}

// ChainError says where a chain breaks.
type ChainError struct {
	Seq    int64
	Reason string
}

func (e *ChainError) Error() string { return fmt.Sprintf("audit entry %d: %s", e.Seq, e.Reason) }

// verifier checks entries in order, across calls.
type verifier struct {
	seq  int64
	prev []byte
}

func (v *verifier) next(e *Entry) error {
	switch {
	case e.Seq != v.seq+1:
		return &ChainError{e.Seq, fmt.Sprintf("follows entry %d (an entry is missing or reordered)", v.seq)}
	case !bytes.Equal(e.Prev, v.prev):
		return &ChainError{e.Seq, "does not point at the previous entry's hash"}
	case !bytes.Equal(e.Hash, seal(e)):
		return &ChainError{e.Seq, "its content does not match its hash (changed after it was written)"}
	}
	v.seq, v.prev = e.Seq, e.Hash
	return nil
}
