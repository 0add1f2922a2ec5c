package signal

import (
	"fmt"
	"io"
)

// PQXDH (signal.org/docs/specifications/pqxdh) as libsignal's pqxdh.rs:
// four X25519 agreements (three without a one-time prekey) after 32
// bytes of 0xFF, then the Kyber1024 shared secret, expanded by HKDF into
// the root key, the first chain key and the SPQR authentication key.

const pqxdhInfo = "WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024"

type handshakeKeys struct {
	root  rootKey
	chain chainKey
	pqr   []byte // 32 bytes
}

func deriveHandshakeKeys(secrets []byte) handshakeKeys {
	okm := hkdfSHA256(secrets, nil, pqxdhInfo, 96)
	var k handshakeKeys
	copy(k.root[:], okm[:32])
	copy(k.chain.key[:], okm[32:64])
	k.pqr = okm[64:]
	return k
}

func discontinuity() []byte {
	b := make([]byte, 32, 32*6)
	for i := range b {
		b[i] = 0xFF
	}
	return b
}

type initiatorParams struct {
	ourIdentity     IdentityKeyPair
	ourBase         KeyPair
	theirIdentity   IdentityKey
	theirSignedPre  PublicKey
	theirOneTimePre *PublicKey
	theirKyberPre   *KEMPublicKey
}

// pqxdhInitiate returns the handshake keys and the Kyber ciphertext.
func pqxdhInitiate(p initiatorParams, rnd io.Reader) (handshakeKeys, []byte, error) {
	secrets := discontinuity()
	dh := func(priv PrivateKey, pub PublicKey) error {
		s, err := priv.Agree(pub)
		if err != nil {
			return err
		}
		secrets = append(secrets, s...)
		return nil
	}
	if err := dh(p.ourIdentity.Private, p.theirSignedPre); err != nil {
		return handshakeKeys{}, nil, err
	}
	if err := dh(p.ourBase.Private, p.theirIdentity.PublicKey); err != nil {
		return handshakeKeys{}, nil, err
	}
	if err := dh(p.ourBase.Private, p.theirSignedPre); err != nil {
		return handshakeKeys{}, nil, err
	}
	if p.theirOneTimePre != nil {
		if err := dh(p.ourBase.Private, *p.theirOneTimePre); err != nil {
			return handshakeKeys{}, nil, err
		}
	}
	ss, ct, err := p.theirKyberPre.Encapsulate(rnd)
	if err != nil {
		return handshakeKeys{}, nil, err
	}
	secrets = append(secrets, ss...)
	return deriveHandshakeKeys(secrets), ct, nil
}

type recipientParams struct {
	ourIdentity     IdentityKeyPair
	ourSignedPre    KeyPair
	ourOneTimePre   *KeyPair
	ourKyberPre     *KEMSecretKey
	theirIdentity   IdentityKey
	theirBase       PublicKey
	kyberCiphertext []byte
}

func pqxdhAccept(p recipientParams) (handshakeKeys, error) {
	if !p.theirBase.isCanonical() {
		return handshakeKeys{}, fmt.Errorf("%w: incoming base key is invalid", ErrInvalidMessage)
	}
	secrets := discontinuity()
	dh := func(priv PrivateKey, pub PublicKey) error {
		s, err := priv.Agree(pub)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
		}
		secrets = append(secrets, s...)
		return nil
	}
	if err := dh(p.ourSignedPre.Private, p.theirIdentity.PublicKey); err != nil {
		return handshakeKeys{}, err
	}
	if err := dh(p.ourIdentity.Private, p.theirBase); err != nil {
		return handshakeKeys{}, err
	}
	if err := dh(p.ourSignedPre.Private, p.theirBase); err != nil {
		return handshakeKeys{}, err
	}
	if p.ourOneTimePre != nil {
		if err := dh(p.ourOneTimePre.Private, p.theirBase); err != nil {
			return handshakeKeys{}, err
		}
	}
	ss, err := p.ourKyberPre.Decapsulate(p.kyberCiphertext)
	if err != nil {
		return handshakeKeys{}, err
	}
	secrets = append(secrets, ss...)
	return deriveHandshakeKeys(secrets), nil
}
