package attachment

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// chunk is how much plaintext is encrypted at a time; a multiple of the
// block size.
const chunk = 64 << 10

// Encrypt reads exactly size bytes of plaintext from src, encrypts them
// with key and writes the blob, EncryptedSize(size) bytes, to dst. It
// returns the blob's digest. A source with more or fewer bytes is
// ErrSourceSize.
func Encrypt(dst io.Writer, src io.Reader, size int64, key Key) (digest []byte, err error) {
	if err := key.check(); err != nil {
		return nil, err
	}
	if size < 0 || size > MaxSize {
		return nil, ErrTooLarge
	}
	block, err := aes.NewCipher(key.aesKey())
	if err != nil {
		return nil, err
	}
	iv := make([]byte, ivSize)
	_, _ = rand.Read(iv)
	mac := hmac.New(sha256.New, key.macKey())
	sum := sha256.New()
	out := io.MultiWriter(dst, mac, sum)
	if _, err := out.Write(iv); err != nil {
		return nil, fmt.Errorf("write attachment blob: %w", err)
	}

	// The padded plaintext: the source, zeros up to the bucket, PKCS#7.
	body := &exactReader{r: src, left: size}
	padded := PaddedSize(size)
	pkcs := blockSize - int(padded%blockSize)
	plain := io.MultiReader(body, io.LimitReader(zeros{}, padded-size), bytes.NewReader(bytes.Repeat([]byte{byte(pkcs)}, pkcs)))

	enc := cipher.NewCBCEncrypter(block, iv)
	buf := make([]byte, chunk)
	for {
		n, rerr := io.ReadFull(plain, buf)
		end := errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF)
		switch {
		case errors.Is(rerr, ErrSourceSize):
			return nil, rerr
		case rerr != nil && !end:
			return nil, fmt.Errorf("read attachment: %w", rerr)
		}
		if n > 0 {
			// Every read but the last fills buf; the last ends on a block
			// boundary since the padded length is a multiple of it.
			enc.CryptBlocks(buf[:n], buf[:n])
			if _, err := out.Write(buf[:n]); err != nil {
				return nil, fmt.Errorf("write attachment blob: %w", err)
			}
		}
		if end {
			break
		}
	}
	var one [1]byte
	if n, _ := io.ReadFull(src, one[:]); n > 0 {
		return nil, ErrSourceSize
	}
	if _, err := out.Write(mac.Sum(nil)); err != nil {
		return nil, fmt.Errorf("write attachment blob: %w", err)
	}
	return sum.Sum(nil), nil
}

// exactReader reads exactly left bytes of r: an early end is
// ErrSourceSize, a read error is passed on.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, io.EOF
	}
	n, err := e.r.Read(p[:min(int64(len(p)), e.left)])
	e.left -= int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		return n, ErrSourceSize
	case err == io.EOF:
		return n, nil
	}
	return n, err
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
