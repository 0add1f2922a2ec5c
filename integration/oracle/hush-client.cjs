// A Hush client on the official libsignal (@signalapp/libsignal-client),
// written from docs/api.md, docs/protocol.md and the content format there:
// what a mobile developer on the official library would write. The
// integration tests drive it against a real hushd to check that Hush's own
// client and the official library understand each other through the
// server. Test-only.
'use strict';

const crypto = require('node:crypto');
const SignalClient = require('@signalapp/libsignal-client');
const WebSocket = require('ws');
const content = require('./content.cjs');

const {
  PrivateKey, PublicKey, IdentityKeyPair, KEMKeyPair, KEMPublicKey,
  PreKeyRecord, SignedPreKeyRecord, KyberPreKeyRecord, PreKeyBundle,
  ProtocolAddress, SessionRecord, SenderKeyRecord, CiphertextMessageType,
  PreKeySignalMessage, SignalMessage, SenderKeyDistributionMessage,
  IdentityChange,
} = SignalClient;

// Official ciphertext types as they travel in envelopes.
const TYPE_WHISPER = CiphertextMessageType.Whisper; // 2
const TYPE_PREKEY = CiphertextMessageType.PreKey; // 3
const TYPE_SENDER_KEY = CiphertextMessageType.SenderKey; // 7

class Stores {
  constructor(identity, registrationId) {
    this.identity = identity; // PrivateKey
    this.registrationId = registrationId;
    this.sessions = new Map();
    this.identities = new Map(); // name -> serialized public key
    this.identityChanges = []; // names whose identity key changed
    this.preKeys = new Map();
    this.signedPreKeys = new Map();
    this.kyberPreKeys = new Map();
    this.kyberUsed = new Set();
    this.senderKeys = new Map();
  }
}

function addrKey(a) { return `${a.name()}.${a.deviceId()}`; }

function makeStores(st) {
  const session = new (class extends SignalClient.SessionStore {
    async saveSession(a, r) { st.sessions.set(addrKey(a), r.serialize()); }
    async getSession(a) {
      const b = st.sessions.get(addrKey(a));
      return b ? SessionRecord.deserialize(b) : null;
    }
    async getExistingSessions(as) {
      return as.map((a) => {
        const b = st.sessions.get(addrKey(a));
        if (!b) throw new Error(`no session for ${addrKey(a)}`);
        return SessionRecord.deserialize(b);
      });
    }
  })();
  const identity = new (class extends SignalClient.IdentityKeyStore {
    async getIdentityKey() { return st.identity; }
    async getLocalRegistrationId() { return st.registrationId; }
    async saveIdentity(a, key) {
      const old = st.identities.get(a.name());
      const now = Buffer.from(key.serialize());
      st.identities.set(a.name(), now);
      if (old && !old.equals(now)) {
        st.identityChanges.push(a.name());
        return IdentityChange.ReplacedExisting;
      }
      return IdentityChange.NewOrUnchanged;
    }
    async isTrustedIdentity() { return true; } // the test checks identityChanges
    async getIdentity(a) {
      const b = st.identities.get(a.name());
      return b ? PublicKey.deserialize(b) : null;
    }
  })();
  const preKey = new (class extends SignalClient.PreKeyStore {
    async savePreKey(id, r) { st.preKeys.set(id, r.serialize()); }
    async getPreKey(id) {
      const b = st.preKeys.get(id);
      if (!b) throw new Error(`no prekey ${id}`);
      return PreKeyRecord.deserialize(b);
    }
    async removePreKey(id) { st.preKeys.delete(id); }
  })();
  const signedPreKey = new (class extends SignalClient.SignedPreKeyStore {
    async saveSignedPreKey(id, r) { st.signedPreKeys.set(id, r.serialize()); }
    async getSignedPreKey(id) {
      const b = st.signedPreKeys.get(id);
      if (!b) throw new Error(`no signed prekey ${id}`);
      return SignedPreKeyRecord.deserialize(b);
    }
  })();
  const kyberPreKey = new (class extends SignalClient.KyberPreKeyStore {
    async saveKyberPreKey(id, r) { st.kyberPreKeys.set(id, { rec: r.serialize(), lastResort: false }); }
    async getKyberPreKey(id) {
      const e = st.kyberPreKeys.get(id);
      if (!e) throw new Error(`no kyber prekey ${id}`);
      return KyberPreKeyRecord.deserialize(e.rec);
    }
    async markKyberPreKeyUsed(id, signedId, baseKey) {
      const e = st.kyberPreKeys.get(id);
      const seen = `${id}:${signedId}:${Buffer.from(baseKey.serialize()).toString('hex')}`;
      if (st.kyberUsed.has(seen)) throw new Error('kyber prekey reused with the same base key');
      st.kyberUsed.add(seen);
      if (e && !e.lastResort) st.kyberPreKeys.delete(id);
    }
  })();
  const senderKey = new (class extends SignalClient.SenderKeyStore {
    async saveSenderKey(a, dist, r) { st.senderKeys.set(`${addrKey(a)}/${dist}`, r.serialize()); }
    async getSenderKey(a, dist) {
      const b = st.senderKeys.get(`${addrKey(a)}/${dist}`);
      return b ? SenderKeyRecord.deserialize(b) : null;
    }
  })();
  return { session, identity, preKey, signedPreKey, kyberPreKey, senderKey };
}

class HttpError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}: ${JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

const b64 = (u8) => Buffer.from(u8).toString('base64');
const unb64 = (s) => new Uint8Array(Buffer.from(s, 'base64'));

class OfficialClient {
  constructor(server) {
    this.server = server.replace(/\/$/, '');
    this.nextKeyId = 1;
    this.inbox = []; // decrypted messages, oldest first
    this.waiters = [];
    this.errors = []; // envelopes that could not be decrypted
    this.groups = new Map(); // group id -> {distributionId, members}
  }

  async http(method, path, body, auth = true) {
    const headers = { 'Content-Type': 'application/json' };
    if (auth && this.password) {
      headers.Authorization = 'Basic ' + Buffer.from(`${this.accountId}.${this.deviceId}:${this.password}`).toString('base64');
    }
    const res = await fetch(this.server + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (!res.ok) throw new HttpError(res.status, json);
    return json;
  }

  newIdentity() {
    this.identity = PrivateKey.generate();
    this.registrationId = 1 + crypto.randomInt(16380);
    this.st = new Stores(this.identity, this.registrationId);
    this.stores = makeStores(this.st);
  }

  signedPreKey() {
    const id = this.nextKeyId++;
    const k = PrivateKey.generate();
    const sig = this.identity.sign(k.getPublicKey().serialize());
    this.st.signedPreKeys.set(id, SignedPreKeyRecord.new(id, Date.now(), k.getPublicKey(), k, sig).serialize());
    return { key_id: id, public_key: b64(k.getPublicKey().serialize()), signature: b64(sig) };
  }

  kyberPreKey(lastResort) {
    const id = this.nextKeyId++;
    const kp = KEMKeyPair.generate();
    const sig = this.identity.sign(kp.getPublicKey().serialize());
    const rec = KyberPreKeyRecord.new(id, Date.now(), kp, sig);
    this.st.kyberPreKeys.set(id, { rec: rec.serialize(), lastResort });
    return { key_id: id, public_key: b64(kp.getPublicKey().serialize()), signature: b64(sig) };
  }

  // register creates an account (or re-registers the number) with a new
  // identity, then uploads one-time prekeys.
  async register(number, code, { prekeys = 20, name = 'official' } = {}) {
    this.newIdentity();
    await this.http('POST', '/v1/registration/code', { number }, false).catch((e) => {
      if (!(e instanceof HttpError && e.status === 429)) throw e;
    });
    const creds = await this.http('POST', '/v1/registration/verify', {
      number, code,
      identity_key: b64(this.identity.getPublicKey().serialize()),
      registration_id: this.registrationId,
      signed_prekey: this.signedPreKey(),
      pq_last_resort_prekey: this.kyberPreKey(true),
      name,
    }, false);
    this.accountId = creds.account_id;
    this.deviceId = creds.device_id;
    this.password = creds.password;
    this.number = number;
    if (prekeys > 0) await this.uploadPreKeys(prekeys, prekeys);
    return creds;
  }

  async uploadPreKeys(ec, pq) {
    const body = { prekeys: [], pq_prekeys: [] };
    for (let i = 0; i < ec; i++) {
      const id = this.nextKeyId++;
      const k = PrivateKey.generate();
      this.st.preKeys.set(id, PreKeyRecord.new(id, k.getPublicKey(), k).serialize());
      body.prekeys.push({ key_id: id, public_key: b64(k.getPublicKey().serialize()) });
    }
    for (let i = 0; i < pq; i++) body.pq_prekeys.push(this.kyberPreKey(false));
    await this.http('PUT', '/v1/keys', body);
  }

  address() { return ProtocolAddress.new(this.accountId, this.deviceId); }

  async lookup(number) { return (await this.http('GET', `/v1/directory/${encodeURIComponent(number)}`)).account_id; }

  // startSessions fetches the bundles of the named devices (or all) of an
  // account and processes them.
  async startSessions(accountId, devices) {
    const which = devices && devices.length === 1 ? String(devices[0]) : '*';
    const b = await this.http('GET', `/v1/keys/${accountId}/${which}`);
    const ik = PublicKey.deserialize(unb64(b.identity_key));
    for (const d of b.devices) {
      if (devices && !devices.includes(d.device_id)) continue;
      const bundle = PreKeyBundle.new(
        d.registration_id, d.device_id,
        d.prekey ? d.prekey.key_id : null,
        d.prekey ? PublicKey.deserialize(unb64(d.prekey.public_key)) : null,
        d.signed_prekey.key_id, PublicKey.deserialize(unb64(d.signed_prekey.public_key)), unb64(d.signed_prekey.signature),
        ik,
        d.pq_prekey.key_id, KEMPublicKey.deserialize(unb64(d.pq_prekey.public_key)), unb64(d.pq_prekey.signature));
      await SignalClient.processPreKeyBundle(bundle, ProtocolAddress.new(accountId, d.device_id), this.address(),
        this.stores.session, this.stores.identity);
      this.st.remoteRegistration = this.st.remoteRegistration || new Map();
      this.st.remoteRegistration.set(`${accountId}.${d.device_id}`, d.registration_id);
    }
  }

  async sessionRegistration(accountId, deviceId) {
    const rec = await this.stores.session.getSession(ProtocolAddress.new(accountId, deviceId));
    return rec ? rec.remoteRegistrationId() : 0;
  }

  // encryptFor encrypts plaintext for every device the server says the
  // account has, starting sessions where needed, and repairs the device set
  // on 409/410 answers as docs/api.md describes.
  async sendTo(accountId, plaintext, { urgent = true } = {}) {
    let known = this.deviceLists = this.deviceLists || new Map();
    let devices = known.get(accountId) || [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const messages = [];
      for (const dev of devices) {
        const addr = ProtocolAddress.new(accountId, dev);
        if (!(await this.stores.session.getSession(addr))) await this.startSessions(accountId, [dev]);
        const ct = await SignalClient.signalEncrypt(plaintext, addr, this.address(), this.stores.session, this.stores.identity);
        messages.push({
          account_id: accountId, device_id: dev,
          registration_id: await this.sessionRegistration(accountId, dev),
          type: ct.type(), content: b64(ct.serialize()),
        });
      }
      try {
        return await this.http('POST', '/v1/messages', { destination: accountId, messages, urgent });
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        if (e.status === 409) {
          for (const m of e.body.mismatched || []) {
            const list = new Set(m.account_id === accountId ? devices : []);
            for (const x of m.extra_devices || []) {
              list.delete(x);
              this.st.sessions.delete(`${m.account_id}.${x}`);
            }
            for (const x of m.missing_devices || []) list.add(x);
            if (m.account_id === accountId) devices = [...list].sort((a, b) => a - b);
          }
          known.set(accountId, devices);
          continue;
        }
        if (e.status === 410) {
          for (const s of e.body.stale || []) {
            for (const x of s.stale_devices || []) this.st.sessions.delete(`${s.account_id}.${x}`);
          }
          continue;
        }
        throw e;
      }
    }
    throw new Error('device set did not settle');
  }

  async sendText(accountId, text) {
    const ts = Date.now();
    const res = await this.sendTo(accountId, content.encode({ dataMessage: { body: text, timestamp: ts } }));
    return { ...res, timestamp: ts };
  }

  // connect opens the message socket; decrypted messages go to the inbox.
  async connect() {
    const url = this.server.replace(/^http/, 'ws') + '/v1/websocket';
    const auth = 'Basic ' + Buffer.from(`${this.accountId}.${this.deviceId}:${this.password}`).toString('base64');
    this.ws = new WebSocket(url, { headers: { Authorization: auth } });
    this.queue = Promise.resolve();
    await new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    this.ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      // Envelopes are decrypted one at a time, in arrival order.
      this.queue = this.queue.then(() => this.onFrame(frame)).catch((err) => this.errors.push(String(err)));
    });
  }

  async onFrame(frame) {
    if (frame.type === 'queue_empty') { this.queueEmpty = true; this.wake(); return; }
    if (frame.type !== 'envelope') return;
    const env = frame.envelope;
    if (env.type === 256) { this.ack(env.id); this.inbox.push({ kind: 'group_change', change: JSON.parse(Buffer.from(env.content, 'base64')) }); this.wake(); return; }
    const from = ProtocolAddress.new(env.source_account, env.source_device);
    const bytes = unb64(env.content);
    let plain;
    try {
      if (env.type === TYPE_PREKEY) {
        plain = await SignalClient.signalDecryptPreKey(PreKeySignalMessage.deserialize(bytes), from, this.address(),
          this.stores.session, this.stores.identity, this.stores.preKey, this.stores.signedPreKey, this.stores.kyberPreKey);
      } else if (env.type === TYPE_WHISPER) {
        plain = await SignalClient.signalDecrypt(SignalMessage.deserialize(bytes), from, this.address(),
          this.stores.session, this.stores.identity);
      } else if (env.type === TYPE_SENDER_KEY) {
        plain = await SignalClient.groupDecrypt(from, this.stores.senderKey, bytes);
      } else {
        throw new Error(`unknown envelope type ${env.type}`);
      }
    } catch (err) {
      this.errors.push({ id: env.id, from: addrKey(from), type: env.type, error: String(err) });
      this.ack(env.id);
      this.wake();
      return;
    }
    const c = content.decode(plain);
    if (c.senderKeyDistributionMessage) {
      await SignalClient.processSenderKeyDistributionMessage(from,
        SenderKeyDistributionMessage.deserialize(c.senderKeyDistributionMessage), this.stores.senderKey);
    }
    this.inbox.push({ kind: 'message', id: env.id, from: env.source_account, device: env.source_device, type: env.type,
      group: env.group || '', content: c });
    this.ack(env.id);
    this.wake();
  }

  ack(id) { this.ws.send(JSON.stringify({ type: 'ack', id })); }

  wake() { for (const w of this.waiters.splice(0)) w(); }

  // take waits until n decrypted messages (or decryption errors) are in
  // the inbox, then removes and returns them.
  async take(n, timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    while (this.inbox.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise((resolve) => { this.waiters.push(resolve); setTimeout(resolve, Math.min(left, 200)); });
    }
    return this.inbox.splice(0, n);
  }

  close() { if (this.ws) this.ws.close(); }
}

module.exports = { OfficialClient, HttpError, TYPE_WHISPER, TYPE_PREKEY, TYPE_SENDER_KEY };
