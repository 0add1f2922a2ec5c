// Drives official-library clients of a hushd from JSON lines on standard
// input, one command per line, answering each with one JSON line on
// standard output: {"ok": true, ...} or {"ok": false, "error": "..."}.
// Each command names its client with "who"; see commands below for the
// rest of each command's fields.
'use strict';

const readline = require('node:readline');
const { OfficialClient } = require('./hush-client.cjs');

const clients = new Map();
const get = (who) => {
  const c = clients.get(who);
  if (!c) throw new Error(`no client ${who}`);
  return c;
};

// fresh replaces the client named who with a new one of server.
const fresh = (who, server) => {
  if (clients.has(who)) clients.get(who).close();
  const c = new OfficialClient(server);
  clients.set(who, c);
  return c;
};

const message = (m) => ({
  kind: m.kind, id: m.id, from: m.from, device: m.device, type: m.type, group: m.group, body: m.body,
  timestamp: m.timestamp, destination: m.destination, distribution_id: m.distribution_id, chain_id: m.chain_id,
});

const commands = {
  // register {server, number, code, prekeys}: a new identity for number.
  async register(a) {
    const creds = await fresh(a.who, a.server).register(a.number, a.code, { prekeys: a.prekeys ?? 20 });
    return { account_id: creds.account_id, device_id: creds.device_id };
  },
  // link_start {server} -> {code}; link_finish {prekeys} after approval.
  async link_start(a) { return { code: await fresh(a.who, a.server).linkStart() }; },
  async link_finish(a) {
    const creds = await get(a.who).linkFinish({ prekeys: a.prekeys ?? 20 });
    return { account_id: creds.account_id, device_id: creds.device_id };
  },
  async approve(a) { await get(a.who).approve(a.code); return {}; },
  async connect(a) { await get(a.who).connect(); return {}; },
  async lookup(a) { return { account_id: await get(a.who).lookup(a.number) }; },
  async key_count(a) { return await get(a.who).keyCount(); },
  // claim_keys {account, max}: use up the account's one-time prekeys.
  async claim_keys(a) { return await get(a.who).claimKeys(a.account, a.max ?? 1000); },
  // bundles: what the bundles fetched so far held.
  async bundles(a) { return { bundles: get(a.who).bundles.splice(0) }; },
  // send_text {to, text}: to is an account id or a number (looked up).
  async send_text(a) { return await get(a.who).sendText(a.to, a.text); },
  // prepare_texts {to, texts}, then send_prepared {order}.
  async prepare_texts(a) { return { n: await get(a.who).prepareTexts(a.to, a.texts) }; },
  async send_prepared(a) { return { sent: await get(a.who).sendPrepared(a.order) }; },
  // hold: keep what arrives undecrypted; release {order}: decrypt those.
  async hold(a) { get(a.who).holding = true; return {}; },
  async held(a) { const c = get(a.who); await c.settle(); return { held: c.held.length }; },
  async release(a) { return { held: await get(a.who).release(a.order) }; },
  // take {n, timeout_ms}: n readable messages (fewer on timeout) and the
  // envelopes that failed since the last take.
  async take(a) {
    const c = get(a.who);
    const messages = await c.take(a.n, a.timeout_ms ?? 20000);
    await c.settle();
    return { messages: messages.map(message), errors: c.errors.splice(0) };
  },
  // settle: everything that arrived is handled; the inbox's size.
  async settle(a) { const c = get(a.who); await c.settle(); return { inbox: c.inbox.length, errors: c.errors.splice(0) }; },
  async group_create(a) { return await get(a.who).createGroup(a.members); },
  async group_remove(a) { await get(a.who).removeMember(a.group, a.account); return {}; },
  async group_send(a) { return await get(a.who).sendGroupText(a.group, a.text); },
  // group_decrypt {from, device, content}: try a sender-key ciphertext.
  async group_decrypt(a) { return await get(a.who).groupDecryptRaw(a.from, a.device, a.content); },
  async sender_keys(a) { const c = get(a.who); await c.settle(); return { sender_keys: c.senderKeys.splice(0) }; },
  async group_changes(a) { const c = get(a.who); await c.settle(); return { changes: c.groupChanges.splice(0) }; },
  async receipts(a) { const c = get(a.who); await c.settle(); return { receipts: c.receipts.splice(0) }; },
  // decryption_errors: what other devices reported they could not decrypt.
  async decryption_errors(a) { const c = get(a.who); await c.settle(); return { decryption_errors: c.decryptionErrors.splice(0) }; },
  async identity_changes(a) { return { changes: get(a.who).st.identityChanges.splice(0) }; },
  async info(a) { const c = get(a.who); return { account_id: c.accountId, device_id: c.deviceId }; },
  async close(a) { get(a.who).close(); clients.delete(a.who); return {}; },
};

const rl = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on('line', (line) => {
  if (!line.trim()) return;
  chain = chain.then(async () => {
    let out;
    try {
      const a = JSON.parse(line);
      const fn = commands[a.cmd];
      if (!fn) throw new Error(`unknown command ${a.cmd}`);
      out = { ok: true, ...(await fn(a)) };
    } catch (err) {
      out = { ok: false, error: String(err && err.stack ? err.stack : err) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  });
});
rl.on('close', () => { chain.then(() => { for (const c of clients.values()) c.close(); process.exit(0); }); });
