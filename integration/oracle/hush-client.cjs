// A Hush client on the official libsignal (@signalapp/libsignal-client),
// written from docs/api.md, docs/protocol.md and the content format there:
// what a mobile developer on the official library would write. The
// integration tests drive it against a real hushd to check that Hush's own
// client and the official library understand each other through the
// server. It registers or links (the provisioning protocol, either
// side), sends and receives 1:1 with device-set repair and sync copies for
// its account's other devices, and takes part in groups with sender keys,
// rotating its key when a member leaves or is removed. For tests it can
// encrypt a batch and post it in any order, and hold what arrives to
// decrypt it in any order, leaving some out. Test-only.
'use strict';

const crypto = require('node:crypto');
const SignalClient = require('@signalapp/libsignal-client');
const WebSocket = require('ws');
const content = require('./content.cjs');

const {
  PrivateKey, PublicKey, KEMKeyPair, KEMPublicKey,
  PreKeyRecord, SignedPreKeyRecord, KyberPreKeyRecord, PreKeyBundle,
  ProtocolAddress, SessionRecord, SenderKeyRecord, CiphertextMessageType,
  PreKeySignalMessage, SignalMessage, SenderKeyDistributionMessage, SenderKeyMessage,
  IdentityChange, PlaintextContent, DecryptionErrorMessage,
} = SignalClient;

// Official ciphertext types as they travel in envelopes.
const TYPE_WHISPER = CiphertextMessageType.Whisper; // 2
const TYPE_PREKEY = CiphertextMessageType.PreKey; // 3
const TYPE_SENDER_KEY = CiphertextMessageType.SenderKey; // 7
const TYPE_PLAINTEXT = CiphertextMessageType.Plaintext; // 8

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

// The provisioning message of docs/protocol.md: version 1, the sender's
// ephemeral curve25519 key, a GCM nonce, then the AES-256-GCM ciphertext
// under HKDF-SHA256(X25519 secret, no salt, "hush provisioning v1").
const PROVISIONING_VERSION = 1;
const PROVISIONING_INFO = 'hush provisioning v1';
const LINK_PREFIX = 'hush-link:';

function provisioningKey(mine, theirs) {
  const secret = mine.agree(theirs);
  return Buffer.from(crypto.hkdfSync('sha256', secret, Buffer.alloc(0), PROVISIONING_INFO, 32));
}

function sealProvisioning(recipient, plaintext) {
  const eph = PrivateKey.generate();
  const nonce = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', provisioningKey(eph, recipient), nonce);
  const ct = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  return Buffer.concat([Buffer.from([PROVISIONING_VERSION]), Buffer.from(eph.getPublicKey().serialize()), nonce, ct]);
}

function openProvisioning(mine, msg) {
  if (msg.length < 1 + 33 + 12 + 16) throw new Error('provisioning message too short');
  if (msg[0] !== PROVISIONING_VERSION) throw new Error(`provisioning version ${msg[0]}`);
  const theirs = PublicKey.deserialize(msg.subarray(1, 34));
  const nonce = msg.subarray(34, 46);
  const d = crypto.createDecipheriv('aes-256-gcm', provisioningKey(mine, theirs), nonce);
  d.setAuthTag(msg.subarray(msg.length - 16));
  return Buffer.concat([d.update(msg.subarray(46, msg.length - 16)), d.final()]);
}

// frameQueue collects a socket's JSON frames for next() to take in order.
function frameQueue(ws) {
  const frames = [];
  let wake = null;
  ws.on('message', (data) => { frames.push(JSON.parse(data.toString())); if (wake) wake(); });
  return async (timeoutMs = 30000) => {
    const deadline = Date.now() + timeoutMs;
    while (!frames.length) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no frame in time');
      await new Promise((resolve) => { wake = resolve; setTimeout(resolve, Math.min(left, 200)); });
    }
    return frames.shift();
  };
}

class OfficialClient {
  constructor(server) {
    this.server = server.replace(/\/$/, '');
    this.nextKeyId = 1;
    this.inbox = []; // readable messages (data and sync), oldest first
    this.receipts = []; // receipt messages that came in
    this.senderKeys = []; // sender key distribution messages processed
    this.groupChanges = []; // the server's group change notices
    this.errors = []; // envelopes that could not be decrypted or are invalid
    this.waiters = [];
    this.devices = new Map(); // account -> device ids messages go to (this account: the other devices)
    this.groups = new Map(); // group id -> {distributionId, sentTo: devices that have it, rotate}
    this.bundles = []; // what each bundle fetched held
    this.seen = new Set(); // envelope ids with sender, as delivery is at-least-once
    this.holding = false; // keep envelopes undecrypted in held until release
    this.held = [];
    this.prepared = []; // encrypted sends not yet posted
    this.lastTimestamp = 0; // the DataMessage timestamp of the last send
    this.contacts = new Map(); // number -> the account it was last looked up as
    this.sent = new Map(); // server_timestamp of a send -> how to send it again
    this.decryptionErrors = []; // decryption errors other devices reported of our messages
  }

  // nextTimestamp is the clock in Unix milliseconds, but at least one more
  // than the last one: a device's DataMessage timestamps are unique and
  // increasing (docs/protocol.md), as Signal clients keep them.
  nextTimestamp() {
    this.lastTimestamp = Math.max(Date.now(), this.lastTimestamp + 1);
    return this.lastTimestamp;
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

  // newIdentity starts fresh stores for identity (a new key when absent).
  newIdentity(identity = PrivateKey.generate()) {
    this.identity = identity;
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

  deviceKeys(name) {
    return { registration_id: this.registrationId, signed_prekey: this.signedPreKey(), pq_last_resort_prekey: this.kyberPreKey(true), name };
  }

  setCredentials(creds, number) {
    this.accountId = creds.account_id;
    this.deviceId = creds.device_id;
    this.password = creds.password;
    this.number = number;
  }

  // register creates an account (or re-registers the number) with a new
  // identity, then uploads one-time prekeys.
  async register(number, code, { prekeys = 20, name = 'official' } = {}) {
    this.newIdentity();
    await this.http('POST', '/v1/registration/code', { number }, false).catch((e) => {
      if (!(e instanceof HttpError && e.status === 429)) throw e;
    });
    const creds = await this.http('POST', '/v1/registration/verify', {
      number, code, identity_key: b64(this.identity.getPublicKey().serialize()), ...this.deviceKeys(name),
    }, false);
    this.setCredentials(creds, number);
    if (prekeys > 0) await this.uploadPreKeys(prekeys, prekeys);
    return creds;
  }

  // linkStart opens the provisioning socket and returns the link code a
  // primary approves.
  async linkStart() {
    this.provisioningKey = PrivateKey.generate();
    this.provisioningSocket = new WebSocket(this.server.replace(/^http/, 'ws') + '/v1/provisioning');
    this.nextProvisioningFrame = frameQueue(this.provisioningSocket);
    await new Promise((resolve, reject) => {
      this.provisioningSocket.once('open', resolve);
      this.provisioningSocket.once('error', reject);
    });
    const f = await this.nextProvisioningFrame();
    if (f.type !== 'provisioning_address') throw new Error(`first provisioning frame is ${f.type}`);
    const key = Buffer.from(this.provisioningKey.getPublicKey().serialize()).toString('base64url');
    return `${LINK_PREFIX}${f.address}:${key}`;
  }

  // linkFinish waits for the primary's provisioning message, takes the
  // account's identity key pair from it and links this device.
  async linkFinish({ prekeys = 20, name = 'official linked' } = {}) {
    const f = await this.nextProvisioningFrame(60000);
    this.provisioningSocket.close();
    if (f.type !== 'provisioning_message') throw new Error(`provisioning frame is ${f.type}`);
    const m = JSON.parse(openProvisioning(this.provisioningKey, unb64(f.body)).toString('utf8'));
    const identity = PrivateKey.deserialize(unb64(m.identity_key_private));
    if (!Buffer.from(identity.getPublicKey().serialize()).equals(Buffer.from(unb64(m.identity_key_public)))) {
      throw new Error('provisioned identity key pair does not match');
    }
    this.newIdentity(identity);
    const creds = await this.http('POST', '/v1/devices/link', {
      account_id: m.account_id, provisioning_code: m.provisioning_code, ...this.deviceKeys(name),
    }, false);
    this.setCredentials(creds, m.number);
    if (prekeys > 0) await this.uploadPreKeys(prekeys, prekeys);
    return creds;
  }

  // approve sends this account's identity key pair and a provisioning
  // code to the device showing linkCode (this must be the primary).
  async approve(linkCode) {
    const [prefix, address, key] = linkCode.trim().split(':');
    if (`${prefix}:` !== LINK_PREFIX || !address || !key) throw new Error(`not a link code: ${linkCode}`);
    const { code } = await this.http('POST', '/v1/devices/provisioning_code');
    const plain = Buffer.from(JSON.stringify({
      account_id: this.accountId, number: this.number,
      identity_key_public: b64(this.identity.getPublicKey().serialize()),
      identity_key_private: b64(this.identity.serialize()),
      provisioning_code: code,
    }));
    const body = sealProvisioning(PublicKey.deserialize(Buffer.from(key, 'base64url')), plain);
    await this.http('PUT', `/v1/provisioning/${address}`, { body: b64(body) });
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

  async keyCount() { return this.http('GET', '/v1/keys/count'); }

  address() { return ProtocolAddress.new(this.accountId, this.deviceId); }

  async lookup(number) { return (await this.http('GET', `/v1/directory/${encodeURIComponent(number)}`)).account_id; }

  // resolve looks a number up (an account id stays as it is). A number
  // registered again is a new account: the identity key trusted for its
  // old account then stands for the new one, so that the new account's
  // key shows as an identity change of the number's, as the official apps
  // show a contact's safety number change.
  async resolve(to) {
    if (!to.startsWith('+')) return to;
    const acct = await this.lookup(to);
    const old = this.contacts.get(to);
    if (old && old !== acct && !this.st.identities.has(acct) && this.st.identities.has(old)) {
      this.st.identities.set(acct, this.st.identities.get(old));
    }
    this.contacts.set(to, acct);
    return acct;
  }

  // claimKeys fetches bundles of every device of an account until none has
  // a one-time prekey left (at most max times); it returns how many
  // bundles had one.
  async claimKeys(accountId, max) {
    for (let i = 0; i < max; i++) {
      const b = await this.http('GET', `/v1/keys/${accountId}/*`);
      if (!b.devices.some((d) => d.prekey)) return { claimed: i, exhausted: true };
    }
    return { claimed: max, exhausted: false };
  }

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
      this.bundles.push({ account: accountId, device: d.device_id, prekey: !!d.prekey, pq_last_resort: !!d.pq_last_resort });
    }
  }

  async sessionRegistration(accountId, deviceId) {
    const rec = await this.stores.session.getSession(ProtocolAddress.new(accountId, deviceId));
    return rec ? rec.remoteRegistrationId() : 0;
  }

  knownDevices(accountId) { return this.devices.get(accountId) || []; }

  // hasSession: a session with the device that can encrypt (not only
  // archived states).
  hasSession(accountId, deviceId) {
    const b = this.st.sessions.get(`${accountId}.${deviceId}`);
    return !!b && SessionRecord.deserialize(b).hasCurrentState();
  }

  // encryptFor encrypts plaintext for one device, starting a session first
  // when there is none.
  async encryptFor(accountId, deviceId, plaintext) {
    const addr = ProtocolAddress.new(accountId, deviceId);
    if (!this.hasSession(accountId, deviceId)) await this.startSessions(accountId, [deviceId]);
    const ct = await SignalClient.signalEncrypt(plaintext, addr, this.address(), this.stores.session, this.stores.identity);
    return {
      account_id: accountId, device_id: deviceId,
      registration_id: await this.sessionRegistration(accountId, deviceId),
      type: ct.type(), content: b64(ct.serialize()),
    };
  }

  // encryptSend encrypts plaintext for every known device of dest and sync
  // for this account's other devices: one POST /v1/messages body.
  async encryptSend(dest, plaintext, sync, urgent) {
    const messages = [];
    if (dest !== this.accountId) {
      for (const dev of this.knownDevices(dest)) messages.push(await this.encryptFor(dest, dev, plaintext));
    }
    for (const dev of this.knownDevices(this.accountId)) messages.push(await this.encryptFor(this.accountId, dev, sync));
    return { destination: dest, messages, urgent };
  }

  // repair updates device lists and sessions from a 409 or 410 answer as
  // docs/api.md describes; false for any other error.
  repair(e) {
    if (!(e instanceof HttpError)) return false;
    if (e.status === 409) {
      for (const m of e.body.mismatched || []) {
        const list = new Set(this.knownDevices(m.account_id));
        for (const x of m.extra_devices || []) {
          list.delete(x);
          this.st.sessions.delete(`${m.account_id}.${x}`);
        }
        for (const x of m.missing_devices || []) list.add(x);
        this.devices.set(m.account_id, [...list].sort((a, b) => a - b));
      }
      return true;
    }
    if (e.status === 410) {
      for (const s of e.body.stale || []) {
        for (const x of s.stale_devices || []) this.st.sessions.delete(`${s.account_id}.${x}`);
      }
      return true;
    }
    return false;
  }

  // sendTo sends plaintext to every device of dest and sync (by default the
  // same) to this account's other devices, repairing the device set.
  async sendTo(dest, plaintext, { sync = plaintext, urgent = true } = {}) {
    for (let attempt = 0; attempt < 5; attempt++) {
      const body = await this.encryptSend(dest, plaintext, sync, urgent);
      try {
        return await this.http('POST', '/v1/messages', body);
      } catch (e) {
        if (!this.repair(e)) throw e;
      }
    }
    throw new Error('device set did not settle');
  }

  textContents(to, text, group) {
    const timestamp = this.nextTimestamp();
    const data = { body: text, timestamp, group: group ? { id: group } : undefined };
    return {
      timestamp,
      plain: content.encode({ dataMessage: data }),
      sync: content.encode({ syncMessage: { sent: { timestamp, message: data, destinationServiceId: group ? undefined : to } } }),
    };
  }

  // sendText sends text to an account, or to a number's account.
  async sendText(to, text) {
    to = await this.resolve(to);
    const c = this.textContents(to, text);
    const res = await this.sendTo(to, c.plain, { sync: c.sync });
    this.remember(res, () => this.sendTo(to, c.plain, { sync: c.sync }));
    return { ...res, timestamp: c.timestamp };
  }

  // prepareTexts encrypts one send per text, in order, for the devices
  // known now (send one message first so that they are known); sendPrepared
  // then posts them in any order, leaving out the ones not named.
  async prepareTexts(to, texts) {
    if (!this.knownDevices(to).length) throw new Error(`no known devices of ${to}: send one message first`);
    for (const text of texts) {
      const c = this.textContents(to, text);
      this.prepared.push({ to, c, body: await this.encryptSend(to, c.plain, c.sync, true) });
    }
    return this.prepared.length;
  }

  async sendPrepared(order) {
    const batch = this.prepared.splice(0);
    for (const i of order) {
      const { to, c, body } = batch[i];
      this.remember(await this.http('POST', '/v1/messages', body), () => this.sendTo(to, c.plain, { sync: c.sync }));
    }
    return order.length;
  }

  // Groups, through the server's group API and sender keys.

  async createGroup(members) { return this.http('POST', '/v1/groups', { members }); }

  async removeMember(groupId, accountId) {
    await this.http('DELETE', `/v1/groups/${groupId}/members/${accountId}`);
  }

  groupState(groupId) {
    let g = this.groups.get(groupId);
    if (!g) {
      g = { distributionId: null, sentTo: new Set(), rotate: false };
      this.groups.set(groupId, g);
    }
    return g;
  }

  // distributeSenderKey sends this device's sender key of the group 1:1 to
  // every device of members that lacks it (and to this account's others).
  async distributeSenderKey(g, members) {
    const skdm = await SenderKeyDistributionMessage.create(this.address(), g.distributionId, this.stores.senderKey);
    const plain = content.encode({ senderKeyDistributionMessage: skdm.serialize() });
    const lacks = (acct) => this.knownDevices(acct).some((d) => !g.sentTo.has(`${acct}.${d}`) || !this.hasSession(acct, d));
    for (const acct of members) {
      // A member whose devices are not known yet learns them by the 409.
      if (this.knownDevices(acct).length && !lacks(acct) && !lacks(this.accountId)) continue;
      await this.sendTo(acct, plain);
      for (const a of [acct, this.accountId]) for (const d of this.knownDevices(a)) g.sentTo.add(`${a}.${d}`);
    }
  }

  // remember keeps how to send a message again, by the server timestamp
  // of its send, for a device that reports it could not decrypt it.
  remember(res, resend) { if (res && res.server_timestamp) this.sent.set(res.server_timestamp, { resend, done: false }); }

  // sendGroupText sends text to the group as one sender-key ciphertext,
  // with a fresh sender key after someone left or was removed.
  async sendGroupText(groupId, text) {
    const c = this.textContents('', text, groupId);
    const res = await this.sendGroupContents(groupId, c);
    this.remember(res, () => this.sendGroupContents(groupId, c));
    return res;
  }

  async sendGroupContents(groupId, c) {
    const g = this.groupState(groupId);
    if (!g.distributionId || g.rotate) {
      g.distributionId = crypto.randomUUID();
      g.sentTo = new Set();
      g.rotate = false;
    }
    const group = await this.http('GET', `/v1/groups/${groupId}`);
    const members = group.members.map((m) => m.account_id).filter((a) => a !== this.accountId);
    for (let attempt = 0; attempt < 5; attempt++) {
      await this.distributeSenderKey(g, members);
      const ct = await SignalClient.groupEncrypt(this.address(), g.distributionId, this.stores.senderKey, c.plain);
      const recipients = [];
      for (const acct of [...members, this.accountId]) {
        for (const dev of this.knownDevices(acct)) {
          recipients.push({ account_id: acct, device_id: dev, registration_id: await this.sessionRegistration(acct, dev) });
        }
      }
      const body = { type: ct.type(), content: b64(ct.serialize()), recipients };
      try {
        const res = await this.http('POST', `/v1/groups/${groupId}/messages`, body);
        return { ...res, timestamp: c.timestamp, distribution_id: g.distributionId, type: body.type, content: body.content };
      } catch (e) {
        if (!this.repair(e)) throw e;
      }
    }
    throw new Error('group device set did not settle');
  }

  // groupDecryptRaw tries to decrypt a sender-key ciphertext (base64) from
  // accountId's device with the sender keys this device holds.
  // It returns the message's distribution id and chain id too.
  async groupDecryptRaw(accountId, deviceId, ciphertext) {
    const skm = SenderKeyMessage.deserialize(unb64(ciphertext));
    const out = { distribution_id: skm.distributionId(), chain_id: skm.chainId() };
    try {
      const plain = await SignalClient.groupDecrypt(ProtocolAddress.new(accountId, deviceId), this.stores.senderKey, unb64(ciphertext));
      const c = content.decode(plain);
      return { ...out, decrypted: true, body: c.dataMessage ? c.dataMessage.body : '' };
    } catch (err) {
      return { ...out, decrypted: false, error: String(err) };
    }
  }

  // onGroupChange notes a server notice; when someone else left or was
  // removed, the next group send starts a new sender key.
  onGroupChange(change) {
    this.groupChanges.push(change);
    if ((change.action === 'removed' || change.action === 'left') && !(change.accounts || []).includes(this.accountId)) {
      this.groupState(change.group_id).rotate = true;
    }
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
      // Envelopes are taken one at a time, in arrival order.
      this.queue = this.queue.then(() => this.onFrame(frame)).catch((err) => this.errors.push(String(err)));
    });
  }

  async onFrame(frame) {
    if (frame.type !== 'envelope') return;
    const env = frame.envelope;
    if (!env.ephemeral) this.ack(env.id);
    if (env.type === 256) {
      this.onGroupChange(JSON.parse(Buffer.from(env.content, 'base64')));
      return;
    }
    const key = `${env.source_account}.${env.source_device}/${env.id}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (this.holding) this.held.push(env);
    else await this.open(env);
  }

  // release decrypts the held envelopes in the given order (indexes into
  // the held list); the others are dropped, as if lost.
  async release(order) {
    let n = 0;
    const done = this.queue.then(async () => {
      const held = this.held.splice(0);
      this.holding = false;
      n = held.length;
      for (const i of order) await this.open(held[i]);
    });
    this.queue = done.catch((err) => this.errors.push(String(err)));
    await done;
    return n;
  }

  async decrypt(env, from) {
    const bytes = unb64(env.content);
    const s = this.stores;
    switch (env.type) {
      case TYPE_PREKEY:
        return SignalClient.signalDecryptPreKey(PreKeySignalMessage.deserialize(bytes), from, this.address(),
          s.session, s.identity, s.preKey, s.signedPreKey, s.kyberPreKey);
      case TYPE_WHISPER:
        return SignalClient.signalDecrypt(SignalMessage.deserialize(bytes), from, this.address(), s.session, s.identity);
      case TYPE_SENDER_KEY:
        return SignalClient.groupDecrypt(from, s.senderKey, bytes);
      default:
        throw new Error(`unknown envelope type ${env.type}`);
    }
  }

  // onDecryptionError handles a PlaintextContent with a
  // DecryptionErrorMessage as the official apps do (docs/protocol.md,
  // "Decryption errors"): when it names this device, archive the session
  // it names (a 1:1 message on the current ratchet key) or hand the
  // sender key out again (a sender-key message), then send the message
  // again once if it is still kept.
  async onDecryptionError(env, from) {
    const dem = DecryptionErrorMessage.extractFromSerializedBody(PlaintextContent.deserialize(unb64(env.content)).body());
    if (dem.deviceId() !== this.deviceId) return;
    const rk = dem.ratchetKey();
    let archived = false;
    if (rk) {
      const rec = await this.stores.session.getSession(from);
      if (rec && rec.currentRatchetKeyMatches(rk)) {
        rec.archiveCurrentState();
        await this.stores.session.saveSession(from, rec);
        archived = true;
      }
    } else {
      for (const g of this.groups.values()) g.sentTo.delete(addrKey(from));
    }
    const s = this.sent.get(dem.timestamp());
    const resent = !!s && !s.done;
    if (resent) {
      s.done = true;
      await s.resend();
    }
    this.decryptionErrors.push({ id: env.id, from: addrKey(from), timestamp: dem.timestamp(), archived, resent });
  }

  // open decrypts an envelope and files what it holds.
  async open(env) {
    const from = ProtocolAddress.new(env.source_account, env.source_device);
    try {
      if (env.type === TYPE_PLAINTEXT) {
        await this.onDecryptionError(env, from);
        this.wake();
        return;
      }
      const c = content.decode(await this.decrypt(env, from));
      await this.file(env, c);
    } catch (err) {
      this.errors.push({ id: env.id, from: addrKey(from), type: env.type, error: String(err) });
    }
    this.wake();
  }

  async file(env, c) {
    const base = { id: env.id, from: env.source_account, device: env.source_device, type: env.type, group: env.group || '' };
    if (c.senderKeyDistributionMessage) {
      if (env.group) throw new Error('a sender key in a group send');
      const skdm = SenderKeyDistributionMessage.deserialize(c.senderKeyDistributionMessage);
      await SignalClient.processSenderKeyDistributionMessage(ProtocolAddress.new(env.source_account, env.source_device),
        skdm, this.stores.senderKey);
      this.senderKeys.push({ ...base, distribution_id: skdm.distributionId(), chain_id: skdm.chainId() });
      return;
    }
    if (c.decryptionErrorMessage) throw new Error('the sender could not decrypt a message of ours (a DecryptionErrorMessage)');
    if (c.receiptMessage) { this.receipts.push({ ...base, ...c.receiptMessage }); return; }
    if (c.typingMessage) return;
    if (c.syncMessage && c.syncMessage.sent) {
      if (env.source_account !== this.accountId) throw new Error('a sync message from another account');
      const s = c.syncMessage.sent;
      const m = s.message || {};
      this.inbox.push({ ...base, kind: 'sync', body: m.body, timestamp: s.timestamp, destination: s.destinationServiceId || '',
        group: m.group ? m.group.id : '' });
      return;
    }
    const d = c.dataMessage;
    if (!d) throw new Error('content of no known kind');
    const group = d.group ? d.group.id : '';
    if (group !== (env.group || '')) throw new Error(`message names group ${JSON.stringify(group)}, envelope ${JSON.stringify(env.group || '')}`);
    const m = { ...base, kind: 'message', body: d.body, timestamp: d.timestamp };
    if (env.type === TYPE_SENDER_KEY) {
      const skm = SenderKeyMessage.deserialize(unb64(env.content));
      m.distribution_id = skm.distributionId();
      m.chain_id = skm.chainId();
    }
    this.inbox.push(m);
  }

  ack(id) { this.ws.send(JSON.stringify({ type: 'ack', id })); }

  wake() { for (const w of this.waiters.splice(0)) w(); }

  // take waits until n readable messages are in the inbox (or the
  // timeout, or as many envelopes failed as are missing), then removes and
  // returns them.
  async take(n, timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    while (this.inbox.length + this.errors.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise((resolve) => { this.waiters.push(resolve); setTimeout(resolve, Math.min(left, 200)); });
    }
    return this.inbox.splice(0, n);
  }

  // settle waits until the envelopes that arrived so far are handled.
  async settle() { await this.queue; }

  close() { if (this.ws) this.ws.close(); if (this.provisioningSocket) this.provisioningSocket.close(); }
}

module.exports = { OfficialClient, HttpError, TYPE_WHISPER, TYPE_PREKEY, TYPE_SENDER_KEY };
