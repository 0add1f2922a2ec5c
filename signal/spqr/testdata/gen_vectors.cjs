// Generates known-answer vectors for the sparse post-quantum ratchet from
// the official libsignal (Node.js). Two parties set up a session with
// PQXDH and exchange messages on a schedule meant to walk the ML-KEM braid
// through its states: bursts, direction changes, out-of-order delivery and
// lost messages, over several epochs. Writes JSON to standard output:
//
//   library   the library and its version
//   records   distinct serialized SessionRecords, referred to by index
//   messages  each message: sender, type (2 = SignalMessage, 3 = PreKey),
//             serialized bytes (base64)
//   events    in order: {op: "init"|"send"|"recv", party, msg, before, after}
//             with before/after record indices (-1 = no session yet)
//
// Run with NODE_PATH pointing at the oracle's node_modules (scripts/oracle.sh
// installs it); the checked-in vectors were made with
//
//   NODE_PATH=integration/oracle/node_modules \
//     node signal/spqr/testdata/gen_vectors.cjs | gzip -9 > signal/spqr/testdata/vectors.json.gz
'use strict';

const SC = require('@signalapp/libsignal-client');

class Sessions extends SC.SessionStore {
  constructor() { super(); this.m = new Map(); }
  key(a) { return `${a.name()}.${a.deviceId()}`; }
  async saveSession(a, r) { this.m.set(this.key(a), r.serialize()); }
  async getSession(a) {
    const b = this.m.get(this.key(a));
    return b ? SC.SessionRecord.deserialize(b) : null;
  }
  async getExistingSessions(as) { return Promise.all(as.map((a) => this.getSession(a))); }
}

class Identities extends SC.IdentityKeyStore {
  constructor() { super(); this.priv = SC.PrivateKey.generate(); this.known = new Map(); }
  async getIdentityKey() { return this.priv; }
  async getLocalRegistrationId() { return 7; }
  async isTrustedIdentity() { return true; }
  async saveIdentity(a, k) {
    const id = `${a.name()}.${a.deviceId()}`;
    const old = this.known.get(id);
    this.known.set(id, k);
    return old && !old.equals(k) ? SC.IdentityChange.ReplacedExisting : SC.IdentityChange.NewOrUnchanged;
  }
  async getIdentity(a) { return this.known.get(`${a.name()}.${a.deviceId()}`) ?? null; }
}

class PreKeys extends SC.PreKeyStore {
  constructor() { super(); this.m = new Map(); }
  async savePreKey(id, r) { this.m.set(id, r.serialize()); }
  async getPreKey(id) { return SC.PreKeyRecord.deserialize(this.m.get(id)); }
  async removePreKey(id) { this.m.delete(id); }
}

class SignedPreKeys extends SC.SignedPreKeyStore {
  constructor() { super(); this.m = new Map(); }
  async saveSignedPreKey(id, r) { this.m.set(id, r.serialize()); }
  async getSignedPreKey(id) { return SC.SignedPreKeyRecord.deserialize(this.m.get(id)); }
}

class KyberPreKeys extends SC.KyberPreKeyStore {
  constructor() { super(); this.m = new Map(); this.used = new Set(); }
  async saveKyberPreKey(id, r) { this.m.set(id, r.serialize()); }
  async getKyberPreKey(id) { return SC.KyberPreKeyRecord.deserialize(this.m.get(id)); }
  async markKyberPreKeyUsed(id) { this.used.add(id); }
  async hasKyberPreKeyBeenUsed(id) { return this.used.has(id); }
}

function party(name) {
  return {
    name,
    address: SC.ProtocolAddress.new(name, 1),
    sessions: new Sessions(),
    identity: new Identities(),
    prekeys: new PreKeys(),
    signed: new SignedPreKeys(),
    kyber: new KyberPreKeys(),
  };
}

async function bundleOf(p) {
  const id = await p.identity.getIdentityKey();
  const pre = SC.PrivateKey.generate();
  const signed = SC.PrivateKey.generate();
  const signedSig = id.sign(signed.getPublicKey().serialize());
  const kyber = SC.KEMKeyPair.generate();
  const kyberSig = id.sign(kyber.getPublicKey().serialize());
  await p.prekeys.savePreKey(11, SC.PreKeyRecord.new(11, pre.getPublicKey(), pre));
  await p.signed.saveSignedPreKey(22, SC.SignedPreKeyRecord.new(22, 1700000000000, signed.getPublicKey(), signed, signedSig));
  await p.kyber.saveKyberPreKey(33, SC.KyberPreKeyRecord.new(33, 1700000000000, kyber, kyberSig));
  return SC.PreKeyBundle.new(7, 1, 11, pre.getPublicKey(), 22, signed.getPublicKey(), signedSig,
    id.getPublicKey(), 33, kyber.getPublicKey(), kyberSig);
}

const b64 = (u) => Buffer.from(u).toString('base64');

async function main() {
  const alice = party('alice');
  const bob = party('bob');
  const peer = (p) => (p === alice ? bob : alice);

  const records = [];
  const recordIndex = new Map();
  const messages = [];
  const events = [];

  async function snapshot(p) {
    const r = await p.sessions.getSession(peer(p).address);
    if (!r) return -1;
    const s = b64(r.serialize());
    if (!recordIndex.has(s)) {
      recordIndex.set(s, records.length);
      records.push(s);
    }
    return recordIndex.get(s);
  }

  async function send(from) {
    const to = peer(from);
    const before = await snapshot(from);
    const n = messages.length;
    const ct = await SC.signalEncrypt(Buffer.from(`message ${n}`), to.address, from.address, from.sessions, from.identity);
    const after = await snapshot(from);
    messages.push({ from: from.name, type: ct.type(), body: b64(ct.serialize()) });
    events.push({ op: 'send', party: from.name, msg: n, before, after });
    return n;
  }

  async function deliver(n) {
    const m = messages[n];
    const from = m.from === 'alice' ? alice : bob;
    const to = peer(from);
    const before = await snapshot(to);
    const body = Buffer.from(m.body, 'base64');
    let pt;
    try {
      if (m.type === SC.CiphertextMessageType.PreKey) {
        pt = await SC.signalDecryptPreKey(SC.PreKeySignalMessage.deserialize(body), from.address, to.address,
          to.sessions, to.identity, to.prekeys, to.signed, to.kyber);
      } else {
        pt = await SC.signalDecrypt(SC.SignalMessage.deserialize(body), from.address, to.address, to.sessions, to.identity);
      }
    } catch (e) {
      throw new Error(`deliver message ${n} from ${m.from} (event ${events.length}): ${e.message}`);
    }
    if (Buffer.from(pt).toString() !== `message ${n}`) throw new Error(`message ${n}: wrong plaintext`);
    const after = await snapshot(to);
    events.push({ op: 'recv', party: to.name, msg: n, before, after });
  }

  async function sendMany(from, k) {
    const ids = [];
    for (let i = 0; i < k; i++) ids.push(await send(from));
    return ids;
  }
  async function deliverAll(ids) { for (const id of ids) await deliver(id); }
  async function lockstep(first, rounds, skip) {
    // Each round: first sends, the other receives and answers, first
    // receives. Every skip-th message of each side is lost.
    for (let i = 0; i < rounds; i++) {
      for (const p of [first, peer(first)]) {
        const id = await send(p);
        if (!skip || i % skip !== skip - 1) await deliver(id);
      }
    }
  }

  await SC.processPreKeyBundle(await bundleOf(bob), bob.address, alice.address, alice.sessions, alice.identity);
  events.push({ op: 'init', party: 'alice', msg: -1, before: -1, after: await snapshot(alice) });

  // Epoch 1: Alice makes the key pair. Her header goes out in three
  // messages (the first a PreKeySignalMessage).
  await deliverAll(await sendMany(alice, 3));
  // Bob encapsulates and starts ct1; Alice starts her key vector.
  await deliver(await send(bob));
  // Alice sends her whole key vector in a burst before any more of ct1
  // arrives; two are lost and the rest arrive out of order, so Bob has the
  // key before Alice has acknowledged ct1.
  const burst = await sendMany(alice, 40);
  const order = [];
  for (let i = 0; i < burst.length; i += 2) order.push(burst[i]);
  for (let i = burst.length - 1; i > 0; i -= 2) order.push(burst[i]);
  await deliverAll(order.filter((id, i) => i !== 5 && i !== 25));
  // Bob sends the rest of ct1; Alice acknowledges it with her next message,
  // Bob answers with ct2 and the epoch closes.
  await deliverAll(await sendMany(bob, 29));
  await deliver(await send(alice));
  await deliverAll(await sendMany(bob, 5));
  // Epoch 2: Bob makes the key pair. Lock step with losses, then a late
  // message from the past, delivered out of order.
  const late = await send(alice);
  await lockstep(alice, 2, 0);
  await deliver(late);
  await lockstep(alice, 18, 7);
  await lockstep(bob, 30, 0);
  // Into epoch 3.
  await lockstep(alice, 12, 5);

  const version = require('@signalapp/libsignal-client/package.json').version;
  process.stdout.write(JSON.stringify({ library: `@signalapp/libsignal-client ${version}`, records, messages, events }));
}

main().catch((e) => { console.error(e); process.exit(1); });
