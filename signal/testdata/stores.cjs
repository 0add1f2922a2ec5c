// In-memory stores for the official library, shared by the test scripts.
'use strict';
const S = require('@signalapp/libsignal-client');

const hex = (b) => Buffer.from(b).toString('hex');

class Identity extends S.IdentityKeyStore {
  constructor(pair, regId) { super(); this.pair = pair; this.regId = regId; this.known = new Map(); this.untrusted = new Set(); }
  async getIdentityKey() { return this.pair.privateKey; }
  async getLocalRegistrationId() { return this.regId; }
  async saveIdentity(name, k) {
    const prev = this.known.get(name.toString());
    this.known.set(name.toString(), k);
    return prev && !prev.equals(k) ? S.IdentityChange.ReplacedExisting : S.IdentityChange.NewOrUnchanged;
  }
  async isTrustedIdentity(name, k) {
    if (this.untrusted.has(name.toString())) return false;
    const prev = this.known.get(name.toString());
    return !prev || prev.equals(k);
  }
  async getIdentity(name) { return this.known.get(name.toString()) || null; }
}
class Sessions extends S.SessionStore {
  constructor() { super(); this.m = new Map(); }
  async saveSession(name, rec) { this.m.set(name.toString(), rec.serialize()); }
  async getSession(name) { const b = this.m.get(name.toString()); return b ? S.SessionRecord.deserialize(b) : null; }
  async getExistingSessions(names) { return Promise.all(names.map((n) => this.getSession(n))); }
}
class PreKeys extends S.PreKeyStore {
  constructor() { super(); this.m = new Map(); }
  async savePreKey(id, rec) { this.m.set(id, rec.serialize()); }
  async getPreKey(id) { const b = this.m.get(id); if (!b) throw new Error(`no prekey ${id}`); return S.PreKeyRecord.deserialize(b); }
  async removePreKey(id) { this.m.delete(id); }
}
class SignedPreKeys extends S.SignedPreKeyStore {
  constructor() { super(); this.m = new Map(); }
  async saveSignedPreKey(id, rec) { this.m.set(id, rec.serialize()); }
  async getSignedPreKey(id) { const b = this.m.get(id); if (!b) throw new Error(`no signed prekey ${id}`); return S.SignedPreKeyRecord.deserialize(b); }
}
class KyberPreKeys extends S.KyberPreKeyStore {
  constructor() { super(); this.m = new Map(); this.lastResort = new Set(); this.used = []; }
  async saveKyberPreKey(id, rec) { this.m.set(id, rec.serialize()); }
  async getKyberPreKey(id) { const b = this.m.get(id); if (!b) throw new Error(`no kyber prekey ${id}`); return S.KyberPreKeyRecord.deserialize(b); }
  async markKyberPreKeyUsed(id, signedId, baseKey) {
    this.used.push({ id, signedId, baseKey: hex(baseKey.serialize()) });
    if (!this.lastResort.has(id)) this.m.delete(id);
  }
}
class SenderKeys extends S.SenderKeyStore {
  constructor() { super(); this.m = new Map(); }
  async saveSenderKey(sender, id, rec) { this.m.set(`${sender.toString()}/${id}`, rec.serialize()); }
  async getSenderKey(sender, id) { const b = this.m.get(`${sender.toString()}/${id}`); return b ? S.SenderKeyRecord.deserialize(b) : null; }
}

module.exports = { Identity, Sessions, PreKeys, SignedPreKeys, KyberPreKeys, SenderKeys, hex };
