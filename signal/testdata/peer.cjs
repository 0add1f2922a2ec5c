// The official party in live interop tests: reads one JSON command per
// line on stdin and answers one JSON line on stdout. Byte strings are hex.
// Errors are answered as {"error": "..."} and do not end the process.
'use strict';
const readline = require('node:readline');
const S = require('@signalapp/libsignal-client');

const hex = (b) => Buffer.from(b).toString('hex');
const bytes = (h) => new Uint8Array(Buffer.from(h || '', 'hex'));
const key = (a) => `${a.name}.${a.device}`;
const addr = (a) => S.ProtocolAddress.new(a.name, a.device);

const { Identity, Sessions, PreKeys, SignedPreKeys, KyberPreKeys, SenderKeys } = require('./stores.cjs');

let me = null; // { address, identity, sessions, preKeys, signedPreKeys, kyberPreKeys, senderKeys }
let nextId = 1;

function setUp(c) {
  const pair = c.identityPrivate
    ? new S.IdentityKeyPair(S.PrivateKey.deserialize(bytes(c.identityPrivate)).getPublicKey(), S.PrivateKey.deserialize(bytes(c.identityPrivate)))
    : S.IdentityKeyPair.generate();
  me = {
    address: { name: c.name, device: c.device },
    regId: c.registrationId,
    pair,
    identity: new Identity(pair, c.registrationId),
    sessions: new Sessions(),
    preKeys: new PreKeys(),
    signedPreKeys: new SignedPreKeys(),
    kyberPreKeys: new KyberPreKeys(),
    senderKeys: new SenderKeys(),
  };
  return { identity: hex(pair.publicKey.serialize()) };
}

async function newBundle(c) {
  const signedId = nextId++;
  const signed = S.PrivateKey.generate();
  const signedSig = me.pair.privateKey.sign(signed.getPublicKey().serialize());
  await me.signedPreKeys.saveSignedPreKey(signedId, S.SignedPreKeyRecord.new(signedId, Date.now(), signed.getPublicKey(), signed, signedSig));
  const kyberId = nextId++;
  const kyber = S.KEMKeyPair.generate();
  const kyberSig = me.pair.privateKey.sign(kyber.getPublicKey().serialize());
  await me.kyberPreKeys.saveKyberPreKey(kyberId, S.KyberPreKeyRecord.new(kyberId, Date.now(), kyber, kyberSig));
  if (c.lastResort) me.kyberPreKeys.lastResort.add(kyberId);
  let preKeyId = null;
  let preKey = null;
  if (c.oneTime) {
    preKeyId = nextId++;
    const p = S.PrivateKey.generate();
    await me.preKeys.savePreKey(preKeyId, S.PreKeyRecord.new(preKeyId, p.getPublicKey(), p));
    preKey = hex(p.getPublicKey().serialize());
  }
  return {
    registrationId: me.regId, deviceId: me.address.device,
    preKeyId, preKey,
    signedPreKeyId: signedId, signedPreKey: hex(signed.getPublicKey().serialize()), signedPreKeySignature: hex(signedSig),
    kyberPreKeyId: kyberId, kyberPreKey: hex(kyber.getPublicKey().serialize()), kyberPreKeySignature: hex(kyberSig),
    identityKey: hex(me.pair.publicKey.serialize()),
  };
}

function parseBundle(b) {
  return S.PreKeyBundle.new(
    b.registrationId, b.deviceId,
    b.preKeyId === null || b.preKeyId === undefined ? null : b.preKeyId,
    b.preKey ? S.PublicKey.deserialize(bytes(b.preKey)) : null,
    b.signedPreKeyId, S.PublicKey.deserialize(bytes(b.signedPreKey)), bytes(b.signedPreKeySignature),
    S.PublicKey.deserialize(bytes(b.identityKey)),
    b.kyberPreKeyId, S.KEMPublicKey.deserialize(bytes(b.kyberPreKey)), bytes(b.kyberPreKeySignature));
}

const ops = {
  init: async (c) => setUp(c),
  verify: async (c) => ({ ok: S.PublicKey.deserialize(bytes(c.public)).verify(bytes(c.message), bytes(c.signature)) }),
  sign: async (c) => ({ signature: hex(S.PrivateKey.deserialize(bytes(c.private)).sign(bytes(c.message))) }),
  kemCheck: async (c) => {
    const pub = S.KEMPublicKey.deserialize(bytes(c.public));
    const sec = S.KEMSecretKey.deserialize(bytes(c.secret));
    return { public: hex(pub.serialize()), secret: hex(sec.serialize()) };
  },
  bundle: async (c) => newBundle(c),
  processBundle: async (c) => {
    await S.processPreKeyBundle(parseBundle(c.bundle), addr(c.remote), addr(me.address), me.sessions, me.identity);
    return {};
  },
  encrypt: async (c) => {
    const m = await S.signalEncrypt(bytes(c.plaintext), addr(c.remote), addr(me.address), me.sessions, me.identity);
    return { type: m.type(), body: hex(m.serialize()) };
  },
  decrypt: async (c) => {
    let p;
    if (c.type === S.CiphertextMessageType.PreKey) {
      p = await S.signalDecryptPreKey(S.PreKeySignalMessage.deserialize(bytes(c.body)), addr(c.remote), addr(me.address),
        me.sessions, me.identity, me.preKeys, me.signedPreKeys, me.kyberPreKeys);
    } else {
      p = await S.signalDecrypt(S.SignalMessage.deserialize(bytes(c.body)), addr(c.remote), addr(me.address), me.sessions, me.identity);
    }
    return { plaintext: hex(p) };
  },
  session: async (c) => {
    const r = await me.sessions.getSession(addr(c.remote));
    return { record: r ? hex(r.serialize()) : null };
  },
  setSession: async (c) => {
    await me.sessions.saveSession(addr(c.remote), S.SessionRecord.deserialize(bytes(c.record)));
    return {};
  },
  kyberUsed: async () => ({ used: me.kyberPreKeys.used, remaining: [...me.kyberPreKeys.m.keys()] }),
  preKeysLeft: async () => ({ ids: [...me.preKeys.m.keys()] }),
  skdmCreate: async (c) => {
    const m = await S.SenderKeyDistributionMessage.create(addr(me.address), c.distributionId, me.senderKeys);
    return { body: hex(m.serialize()) };
  },
  skdmProcess: async (c) => {
    await S.processSenderKeyDistributionMessage(addr(c.sender), S.SenderKeyDistributionMessage.deserialize(bytes(c.body)), me.senderKeys);
    return {};
  },
  groupEncrypt: async (c) => {
    const m = await S.groupEncrypt(addr(me.address), c.distributionId, me.senderKeys, bytes(c.plaintext));
    return { type: m.type(), body: hex(m.serialize()) };
  },
  groupDecrypt: async (c) => ({ plaintext: hex(await S.groupDecrypt(addr(c.sender), me.senderKeys, bytes(c.body))) }),
  fingerprint: async (c) => {
    const f = S.Fingerprint.new(c.iterations, c.version, bytes(c.localId), S.PublicKey.deserialize(bytes(c.localKey)),
      bytes(c.remoteId), S.PublicKey.deserialize(bytes(c.remoteKey)));
    return { display: f.displayableFingerprint().toString(), scannable: hex(f.scannableFingerprint().toBuffer()) };
  },
};

(async () => {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let out;
    try {
      const c = JSON.parse(line);
      const op = ops[c.op];
      if (!op) throw new Error(`unknown op ${c.op}`);
      out = await op(c);
    } catch (e) {
      out = { error: String(e && e.message ? e.message : e), code: e && e.code !== undefined ? String(e.code) : undefined };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
})();
