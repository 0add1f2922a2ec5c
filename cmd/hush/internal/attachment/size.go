package attachment

import "math"

// MaxSize bounds a plaintext; the server's own limit on blobs is far lower
// and is what a sender meets first.
const MaxSize = 1 << 40

// minPadded is the smallest padded size: every small attachment looks the
// same.
const minPadded = 541

// PaddedSize is the size a plaintext of size bytes is padded to with
// zeros before encryption: max(541, floor(1.05^ceil(log_1.05(size)))), so
// that a blob's size leaks only which 5 % step its plaintext falls into.
func PaddedSize(size int64) int64 {
	if size <= minPadded {
		return minPadded
	}
	p := int64(math.Floor(math.Pow(1.05, math.Ceil(math.Log(float64(size))/math.Log(1.05)))))
	// Floating point may land a hair below size; never pad to less.
	return max(p, size)
}

// EncryptedSize is the size of the blob of a plaintext of size bytes: the
// IV, the padded plaintext with 1 to 16 bytes of PKCS#7, and the MAC.
func EncryptedSize(size int64) int64 {
	p := PaddedSize(size)
	return ivSize + (p/blockSize+1)*blockSize + macSize
}
