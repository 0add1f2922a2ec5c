package attachment

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
)

// Open checks a blob of blobSize bytes at blob against key, the digest
// and the plaintext size the sender's pointer gives, and returns a reader
// of the plaintext. Nothing is decrypted unless the blob's size, its MAC
// and its digest are right: ErrBlobSize, ErrMAC and ErrDigest otherwise.
// The reader decrypts as it is read and ends after size bytes, with
// ErrPadding instead of io.EOF if the sender's padding is not valid. blob
// must not change while the reader is in use.
func Open(blob io.ReaderAt, blobSize int64, key Key, digest []byte, size int64) (io.Reader, error) {
	if err := key.check(); err != nil {
		return nil, err
	}
	if size < 0 || size > MaxSize {
		return nil, ErrTooLarge
	}
	if len(digest) != DigestSize {
		return nil, ErrDigest
	}
	if blobSize != EncryptedSize(size) {
		return nil, ErrBlobSize
	}
	mac := hmac.New(sha256.New, key.macKey())
	sum := sha256.New()
	if _, err := io.Copy(io.MultiWriter(mac, sum), io.NewSectionReader(blob, 0, blobSize-macSize)); err != nil {
		return nil, fmt.Errorf("read attachment blob: %w", err)
	}
	theirs := make([]byte, macSize)
	if _, err := blob.ReadAt(theirs, blobSize-macSize); err != nil {
		return nil, fmt.Errorf("read attachment blob: %w", err)
	}
	_, _ = sum.Write(theirs)
	if !hmac.Equal(mac.Sum(nil), theirs) {
		return nil, ErrMAC
	}
	if subtle.ConstantTimeCompare(sum.Sum(nil), digest) != 1 {
		return nil, ErrDigest
	}

	block, err := aes.NewCipher(key.aesKey())
	if err != nil {
		return nil, err
	}
	iv := make([]byte, ivSize)
	if _, err := blob.ReadAt(iv, 0); err != nil {
		return nil, fmt.Errorf("read attachment blob: %w", err)
	}
	padded := PaddedSize(size)
	return &plainReader{
		src:    io.NewSectionReader(blob, ivSize, blobSize-ivSize-macSize),
		dec:    cipher.NewCBCDecrypter(block, iv),
		left:   size,
		mem:    make([]byte, chunk),
		padded: padded,
		pkcs:   byte(blockSize - padded%blockSize),
	}, nil
}

// plainReader decrypts a checked blob: the first left bytes of plaintext,
// then the padding, which it checks before it reports io.EOF.
type plainReader struct {
	src  io.Reader // the ciphertext
	dec  cipher.BlockMode
	left int64  // plaintext bytes not yet returned
	mem  []byte // chunk-sized space for decryption
	buf  []byte // decrypted bytes not yet returned (in mem)
	done bool   // the ciphertext is all decrypted
	err  error

	// The padding: zeros from size to padded, then pkcs bytes of value
	// pkcs. pos counts the bytes decrypted.
	padded, pos int64
	pkcs        byte
	badPadding  bool
}

func (r *plainReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			r.err = io.EOF
			if r.left != 0 || r.badPadding || r.pos != r.padded+int64(r.pkcs) {
				r.err = ErrPadding
			}
			continue
		}
		r.fill()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// fill decrypts the next chunk into buf. Once the plaintext is all
// returned, the rest is padding: it is decrypted and checked, not kept.
func (r *plainReader) fill() {
	b := r.mem
	n, err := io.ReadFull(r.src, b)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		r.done = true
	case err != nil:
		r.err = fmt.Errorf("read attachment blob: %w", err)
		return
	}
	if n%blockSize != 0 {
		r.err = ErrBlobSize // cannot happen: the blob's size was checked
		return
	}
	b = b[:n]
	r.dec.CryptBlocks(b, b)
	keep := min(int64(n), r.left)
	for i, c := range b[keep:] {
		at := r.pos + keep + int64(i)
		want := byte(0)
		if at >= r.padded {
			want = r.pkcs
		}
		if c != want {
			r.badPadding = true
		}
	}
	r.pos += int64(n)
	r.left -= keep
	r.buf = b[:keep]
}
