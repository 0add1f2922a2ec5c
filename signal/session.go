package signal

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/hushmsg/hush/signal/spqr"
)

// Config holds a Cipher's stores and sources. Identity and Sessions are
// required; a store the protocol needs and does not have is an
// ErrInvalidArgument when it is needed.
type Config struct {
	Identity      IdentityStore
	PreKeys       PreKeyStore
	SignedPreKeys SignedPreKeyStore
	KyberPreKeys  KyberPreKeyStore
	Sessions      SessionStore
	SenderKeys    SenderKeyStore

	Rand io.Reader        // nil: crypto/rand
	Now  func() time.Time // nil: time.Now
}

// Cipher encrypts and decrypts for one local device (its address is the
// local side of every session). Its methods are safe for concurrent use;
// they run one at a time, since each loads, changes and stores records.
type Cipher struct {
	local ProtocolAddress
	cfg   Config

	mu sync.Mutex // serializes record updates
}

// NewCipher returns a Cipher for the local device.
func NewCipher(local ProtocolAddress, cfg Config) (*Cipher, error) {
	if err := local.Validate(); err != nil {
		return nil, err
	}
	if cfg.Identity == nil || cfg.Sessions == nil {
		return nil, fmt.Errorf("%w: identity and session stores are required", ErrInvalidArgument)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cipher{local: local, cfg: cfg}, nil
}

// LocalAddress returns the local device's address.
func (c *Cipher) LocalAddress() ProtocolAddress { return c.local }

func (c *Cipher) loadRecord(ctx context.Context, remote ProtocolAddress) (*SessionRecord, error) {
	rec, err := c.cfg.Sessions.LoadSession(ctx, remote)
	if err != nil {
		return nil, fmt.Errorf("signal: load session %s: %w", remote, err)
	}
	return rec, nil
}

func (c *Cipher) checkTrust(ctx context.Context, remote ProtocolAddress, key IdentityKey, dir Direction) error {
	ok, err := c.cfg.Identity.IsTrustedIdentity(ctx, remote, key, dir)
	if err != nil {
		return fmt.Errorf("signal: identity of %s: %w", remote, err)
	}
	if !ok {
		return &UntrustedIdentityError{Address: remote}
	}
	return nil
}

func (c *Cipher) saveIdentity(ctx context.Context, remote ProtocolAddress, key IdentityKey) error {
	if _, err := c.cfg.Identity.SaveIdentity(ctx, remote, key); err != nil {
		return fmt.Errorf("signal: save identity of %s: %w", remote, err)
	}
	return nil
}

func unixSeconds(t time.Time) uint64 {
	if s := t.Unix(); s > 0 {
		return uint64(s)
	}
	return 0
}

// ProcessPreKeyBundle starts a session with remote from its prekey
// bundle (PQXDH as the initiator). Messages encrypted until remote
// answers are PreKeySignalMessages.
func (c *Cipher) ProcessPreKeyBundle(ctx context.Context, remote ProtocolAddress, bundle *PreKeyBundle) error {
	if err := remote.Validate(); err != nil {
		return err
	}
	if bundle == nil {
		return fmt.Errorf("%w: nil bundle", ErrInvalidArgument)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkTrust(ctx, remote, bundle.IdentityKey, Sending); err != nil {
		return err
	}
	if err := bundle.verify(); err != nil {
		return err
	}
	rec, err := c.loadRecord(ctx, remote)
	if err != nil {
		return err
	}
	if rec == nil {
		rec = NewSessionRecord()
	}
	identity, err := c.cfg.Identity.IdentityKeyPair(ctx)
	if err != nil {
		return fmt.Errorf("signal: own identity: %w", err)
	}
	regID, err := c.cfg.Identity.LocalRegistrationID(ctx)
	if err != nil {
		return fmt.Errorf("signal: own registration id: %w", err)
	}
	base, err := GenerateKeyPair(c.cfg.Rand)
	if err != nil {
		return err
	}
	keys, kyberCT, err := pqxdhInitiate(initiatorParams{
		ourIdentity:     identity,
		ourBase:         base,
		theirIdentity:   bundle.IdentityKey,
		theirSignedPre:  bundle.SignedPreKey,
		theirOneTimePre: bundle.PreKey,
		theirKyberPre:   bundle.KyberPreKey,
	}, c.cfg.Rand)
	if err != nil {
		return fmt.Errorf("signal: PQXDH with %s: %w", remote, err)
	}
	sending, err := GenerateKeyPair(c.cfg.Rand)
	if err != nil {
		return err
	}
	sendRoot, sendCK, err := keys.root.createChain(bundle.SignedPreKey, sending.Private)
	if err != nil {
		return fmt.Errorf("signal: PQXDH with %s: %w", remote, err)
	}
	self := sameAccount(identity.Public, c.local, bundle.IdentityKey, remote)
	// Like libsignal, every new session runs SPQR V1 and requires it of
	// the other side (minimum version V1).
	pq, err := spqr.InitialState(spqr.Params{
		AuthKey: keys.pqr, Version: spqr.V1, Direction: spqr.A2B, MinVersion: spqr.V1,
		ChainParams: chainParams(self),
	})
	if err != nil {
		return fmt.Errorf("signal: post-quantum ratchet for %s: %w", remote, err)
	}
	st := &sessionState{
		version:        currentVersion,
		localIdentity:  identity.Public.Bytes(),
		remoteIdentity: bundle.IdentityKey.Bytes(),
		rootKey:        append([]byte(nil), sendRoot[:]...),
		senderChain: &chainPB{
			ratchetKey:     sending.Public.Bytes(),
			ratchetPrivate: sending.Private.Bytes(),
			chainKey:       sendCK.pb(),
		},
		receiverChains: []*chainPB{{ratchetKey: bundle.SignedPreKey.Bytes(), chainKey: keys.chain.pb()}},
		pendingPreKey: &pendingPreKeyPB{
			signedPreKeyID: int32(bundle.SignedPreKeyID),
			baseKey:        base.Public.Bytes(),
			timestamp:      unixSeconds(c.cfg.Now()),
		},
		pendingKyber: &pendingKyberPB{preKeyID: bundle.KyberPreKeyID, ciphertext: kyberCT},
		remoteRegID:  bundle.RegistrationID,
		localRegID:   regID,
		aliceBaseKey: base.Public.Bytes(),
		pqState:      pq,
	}
	if bundle.PreKey != nil {
		st.pendingPreKey.preKeyID, st.pendingPreKey.hasPreKeyID = bundle.PreKeyID, true
	}
	if err := c.saveIdentity(ctx, remote, bundle.IdentityKey); err != nil {
		return err
	}
	rec.promoteState(st)
	if err := c.cfg.Sessions.StoreSession(ctx, remote, rec); err != nil {
		return fmt.Errorf("signal: store session %s: %w", remote, err)
	}
	return nil
}

// Encrypt encrypts plaintext for remote with the current session. It
// returns TypePreKey and a PreKeySignalMessage until remote has answered
// a session this side started, TypeWhisper and a SignalMessage after.
func (c *Cipher) Encrypt(ctx context.Context, remote ProtocolAddress, plaintext []byte) (CiphertextType, []byte, error) {
	if err := remote.Validate(); err != nil {
		return 0, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, err := c.loadRecord(ctx, remote)
	if err != nil {
		return 0, nil, err
	}
	if rec == nil || rec.current == nil {
		return 0, nil, fmt.Errorf("%w with %s", ErrNoSession, remote)
	}
	st := rec.current.clone()
	sc := st.senderChain
	if sc == nil {
		return 0, nil, fmt.Errorf("%w: session with %s has no sender chain", ErrInvalidRecord, remote)
	}
	ratchetPub, err := ParsePublicKey(sc.ratchetKey)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: sender ratchet key: %w", ErrInvalidRecord, err)
	}
	ck, err := chainKeyFromPB(sc.chainKey)
	if err != nil {
		return 0, nil, err
	}
	v := st.sessionVersion()
	if v > math.MaxUint8 {
		return 0, nil, fmt.Errorf("%w: session version %d", ErrInvalidRecord, v)
	}
	localID, err := st.localIdentityKey()
	if err != nil {
		return 0, nil, err
	}
	remoteID, err := st.remoteIdentityKey()
	if err != nil {
		return 0, nil, err
	}
	pqNext, pqMsg, pqKey, err := spqr.Send(st.pqState, c.cfg.Rand)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: post-quantum ratchet send: %w", ErrInvalidRecord, err)
	}
	mk := deriveMessageKeys(ck.messageSeed(), pqKey, ck.index)
	ct := aesCBCEncrypt(mk.cipherKey[:], mk.iv[:], plaintext)

	typ, out := TypeWhisper, []byte(nil)
	if p := st.pendingPreKey; p != nil {
		if time.Unix(int64(p.timestamp), 0).Add(MaxUnacknowledgedSessionAge).Before(c.cfg.Now()) {
			return 0, nil, fmt.Errorf("%w with %s: the session was never answered and is stale", ErrNoSession, remote)
		}
		baseKey, err := ParsePublicKey(p.baseKey)
		if err != nil {
			return 0, nil, fmt.Errorf("%w: pending base key: %w", ErrInvalidRecord, err)
		}
		addrs, _ := addressesBinary(c.local, remote)
		msg := newSignalMessage(uint8(v), mk.macKey[:], addrs, ratchetPub, ck.index, st.previousCounter, ct, localID, remoteID, pqMsg)
		var preKeyID, kyberID *uint32
		var kyberCT []byte
		if p.hasPreKeyID {
			preKeyID = &p.preKeyID
		}
		if k := st.pendingKyber; k != nil {
			kyberID, kyberCT = &k.preKeyID, k.ciphertext
		}
		pk := newPreKeySignalMessage(uint8(v), st.localRegID, preKeyID, uint32(p.signedPreKeyID), kyberID, kyberCT, baseKey, localID, msg)
		typ, out = TypePreKey, pk.serialized
	} else {
		out = newSignalMessage(uint8(v), mk.macKey[:], nil, ratchetPub, ck.index, st.previousCounter, ct, localID, remoteID, pqMsg).serialized
	}

	if err := c.checkTrust(ctx, remote, remoteID, Sending); err != nil {
		return 0, nil, err
	}
	if err := c.saveIdentity(ctx, remote, remoteID); err != nil {
		return 0, nil, err
	}
	sc.chainKey = ck.next().pb()
	st.pqState = pqNext
	rec.current = st
	if err := c.cfg.Sessions.StoreSession(ctx, remote, rec); err != nil {
		return 0, nil, fmt.Errorf("signal: store session %s: %w", remote, err)
	}
	return typ, out, nil
}

// Decrypt decrypts a SignalMessage (TypeWhisper) from remote, trying the
// current session and then the previous ones; a previous session that
// decrypts becomes current again.
func (c *Cipher) Decrypt(ctx context.Context, remote ProtocolAddress, message []byte) ([]byte, error) {
	if err := remote.Validate(); err != nil {
		return nil, err
	}
	msg, err := ParseSignalMessage(message)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, err := c.loadRecord(ctx, remote)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("%w with %s", ErrNoSession, remote)
	}
	pt, err := c.decryptRecord(rec, remote, msg, false)
	if err != nil {
		return nil, err
	}
	remoteID, err := rec.current.remoteIdentityKey()
	if err != nil {
		return nil, err
	}
	if err := c.checkTrust(ctx, remote, remoteID, Receiving); err != nil {
		return nil, err
	}
	if err := c.saveIdentity(ctx, remote, remoteID); err != nil {
		return nil, err
	}
	if err := c.cfg.Sessions.StoreSession(ctx, remote, rec); err != nil {
		return nil, fmt.Errorf("signal: store session %s: %w", remote, err)
	}
	return pt, nil
}

// preKeysUsed names the prekeys a new session consumed.
type preKeysUsed struct {
	oneTime     *uint32
	signed      uint32
	kyber       uint32
	kyberBase   PublicKey
	hasKyberKey bool
}

// DecryptPreKey decrypts a PreKeySignalMessage (TypePreKey) from remote,
// setting up the session it starts (PQXDH as the recipient) unless it
// exists already. The one-time prekey is removed and the Kyber prekey
// marked used only once the message decrypted.
func (c *Cipher) DecryptPreKey(ctx context.Context, remote ProtocolAddress, message []byte) ([]byte, error) {
	if err := remote.Validate(); err != nil {
		return nil, err
	}
	msg, err := ParsePreKeySignalMessage(message)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, err := c.loadRecord(ctx, remote)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		rec = NewSessionRecord()
	}
	if err := c.checkTrust(ctx, remote, msg.IdentityKey, Receiving); err != nil {
		return nil, err
	}
	used, err := c.processPreKey(ctx, remote, rec, msg)
	if err != nil {
		return nil, err
	}
	pt, err := c.decryptRecord(rec, remote, msg.Message, true)
	if err != nil {
		return nil, err
	}
	if err := c.saveIdentity(ctx, remote, msg.IdentityKey); err != nil {
		return nil, err
	}
	if used != nil {
		if used.hasKyberKey {
			if err := c.cfg.KyberPreKeys.MarkKyberPreKeyUsed(ctx, used.kyber, used.signed, used.kyberBase); err != nil {
				return nil, fmt.Errorf("signal: mark kyber prekey %d used: %w", used.kyber, err)
			}
		}
		if used.oneTime != nil {
			if err := c.cfg.PreKeys.RemovePreKey(ctx, *used.oneTime); err != nil {
				return nil, fmt.Errorf("signal: remove prekey %d: %w", *used.oneTime, err)
			}
		}
	}
	if err := c.cfg.Sessions.StoreSession(ctx, remote, rec); err != nil {
		return nil, fmt.Errorf("signal: store session %s: %w", remote, err)
	}
	return pt, nil
}

func (c *Cipher) processPreKey(ctx context.Context, remote ProtocolAddress, rec *SessionRecord, msg *PreKeySignalMessage) (*preKeysUsed, error) {
	if rec.promoteMatching(uint32(msg.Version), msg.BaseKey.Bytes()) {
		return nil, nil // this session exists already
	}
	if msg.Version <= preKyberVersion {
		return nil, fmt.Errorf("%w: X3DH is no longer supported", ErrInvalidMessage)
	}
	if c.cfg.SignedPreKeys == nil || c.cfg.KyberPreKeys == nil || c.cfg.PreKeys == nil {
		return nil, fmt.Errorf("%w: prekey stores are required to accept sessions", ErrInvalidArgument)
	}
	signed, err := c.cfg.SignedPreKeys.SignedPreKey(ctx, msg.SignedPreKeyID)
	if err != nil {
		return nil, fmt.Errorf("signal: signed prekey %d: %w", msg.SignedPreKeyID, err)
	}
	kyber, err := c.cfg.KyberPreKeys.KyberPreKey(ctx, msg.KyberPreKeyID)
	if err != nil {
		return nil, fmt.Errorf("signal: kyber prekey %d: %w", msg.KyberPreKeyID, err)
	}
	var oneTime *KeyPair
	if msg.HasPreKeyID {
		pk, err := c.cfg.PreKeys.PreKey(ctx, msg.PreKeyID)
		if err != nil {
			return nil, fmt.Errorf("signal: prekey %d: %w", msg.PreKeyID, err)
		}
		oneTime = &pk.KeyPair
	}
	identity, err := c.cfg.Identity.IdentityKeyPair(ctx)
	if err != nil {
		return nil, fmt.Errorf("signal: own identity: %w", err)
	}
	regID, err := c.cfg.Identity.LocalRegistrationID(ctx)
	if err != nil {
		return nil, fmt.Errorf("signal: own registration id: %w", err)
	}
	keys, err := pqxdhAccept(recipientParams{
		ourIdentity:     identity,
		ourSignedPre:    signed.KeyPair,
		ourOneTimePre:   oneTime,
		ourKyberPre:     kyber.KeyPair.Secret,
		theirIdentity:   msg.IdentityKey,
		theirBase:       msg.BaseKey,
		kyberCiphertext: msg.KyberCiphertext,
	})
	if err != nil {
		return nil, err
	}
	self := sameAccount(identity.Public, c.local, msg.IdentityKey, remote)
	pq, err := spqr.InitialState(spqr.Params{
		AuthKey: keys.pqr, Version: spqr.V1, Direction: spqr.B2A, MinVersion: spqr.V1,
		ChainParams: chainParams(self),
	})
	if err != nil {
		return nil, fmt.Errorf("signal: post-quantum ratchet for %s: %w", remote, err)
	}
	rec.promoteState(&sessionState{
		version:        currentVersion,
		localIdentity:  identity.Public.Bytes(),
		remoteIdentity: msg.IdentityKey.Bytes(),
		rootKey:        append([]byte(nil), keys.root[:]...),
		senderChain: &chainPB{
			ratchetKey:     signed.KeyPair.Public.Bytes(),
			ratchetPrivate: signed.KeyPair.Private.Bytes(),
			chainKey:       keys.chain.pb(),
		},
		remoteRegID:  msg.RegistrationID,
		localRegID:   regID,
		aliceBaseKey: msg.BaseKey.Bytes(),
		pqState:      pq,
	})
	used := &preKeysUsed{signed: msg.SignedPreKeyID, kyber: msg.KyberPreKeyID, kyberBase: msg.BaseKey, hasKyberKey: true}
	if msg.HasPreKeyID {
		id := msg.PreKeyID
		used.oneTime = &id
	}
	return used, nil
}

// decryptRecord tries the current session and, for a SignalMessage, the
// previous ones (promoting the one that decrypts). A duplicate message
// stops the search.
func (c *Cipher) decryptRecord(rec *SessionRecord, remote ProtocolAddress, msg *SignalMessage, preKey bool) ([]byte, error) {
	var errs []error
	if rec.current != nil {
		if rec.current.sessionVersion() != uint32(msg.Version) {
			errs = append(errs, fmt.Errorf("%w: message version %d, current session %d", ErrVersion, msg.Version, rec.current.sessionVersion()))
		} else {
			st := rec.current.clone()
			pt, err := c.decryptState(st, remote, msg)
			if err == nil {
				rec.current = st
				return pt, nil
			}
			if errors.Is(err, ErrDuplicateMessage) {
				return nil, err
			}
			errs = append(errs, fmt.Errorf("current session: %w", err))
		}
		if preKey {
			return nil, fmt.Errorf("%w: decryption failed: %w", ErrInvalidMessage, errors.Join(errs...))
		}
	}
	for i := range rec.previous {
		st, err := rec.previousState(i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st.sessionVersion() != uint32(msg.Version) {
			continue
		}
		pt, err := c.decryptState(st, remote, msg)
		if err == nil {
			rec.promoteOld(i, st)
			return pt, nil
		}
		if errors.Is(err, ErrDuplicateMessage) {
			return nil, err
		}
		errs = append(errs, fmt.Errorf("previous session %d: %w", i, err))
	}
	if rec.current == nil && len(rec.previous) == 0 {
		return nil, fmt.Errorf("%w with %s", ErrNoSession, remote)
	}
	return nil, fmt.Errorf("%w: no session with %s decrypts the message: %w", ErrInvalidMessage, remote, errors.Join(errs...))
}

// decryptState decrypts with one session state, changing st; the caller
// passes a copy and keeps it only on success.
func (c *Cipher) decryptState(st *sessionState, remote ProtocolAddress, msg *SignalMessage) ([]byte, error) {
	localID, err := st.localIdentityKey()
	if err != nil {
		return nil, err
	}
	remoteID, err := st.remoteIdentityKey()
	if err != nil {
		return nil, err
	}
	r := ratchet{s: st, maxForwardJumps: MaxForwardJumps}
	if sameAccount(localID, c.local, remoteID, remote) {
		r.maxForwardJumps = math.MaxUint64
	}
	ck, err := r.receiverChainKey(msg.RatchetKey, c.cfg.Rand)
	if err != nil {
		return nil, err
	}
	mkpb, err := r.messageKeyFor(msg.RatchetKey, ck, msg.Counter)
	if err != nil {
		return nil, err
	}
	pqNext, pqKey, err := spqr.Recv(st.pqState, msg.PQRatchet)
	if err != nil {
		return nil, fmt.Errorf("%w: post-quantum ratchet: %w", ErrInvalidMessage, err)
	}
	mk, err := messageKeysFromPB(mkpb, pqKey)
	if err != nil {
		return nil, err
	}
	if !msg.verifyMAC(mk.macKey[:], remoteID, localID) {
		return nil, ErrInvalidMAC
	}
	if msg.Addresses != nil {
		want, ok := addressesBinary(remote, c.local)
		if !ok || !constantTimeEqual(want, msg.Addresses) {
			return nil, fmt.Errorf("%w: the message names other addresses", ErrInvalidMAC)
		}
	}
	pt, err := aesCBCDecrypt(mk.cipherKey[:], mk.iv[:], msg.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	st.pqState = pqNext
	st.clearPending()
	return pt, nil
}
