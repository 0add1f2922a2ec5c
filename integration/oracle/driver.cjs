// Drives official-library clients of a hushd from JSON lines on standard
// input, one command per line, answering each with one JSON line on
// standard output: {"ok": true, ...} or {"ok": false, "error": "..."}.
// Commands: register {who, server, number, code, prekeys}, connect {who},
// lookup {who, number}, send_text {who, to, text}, take {who, n,
// timeout_ms}, identity_changes {who}, info {who}, close {who}.
'use strict';

const readline = require('node:readline');
const { OfficialClient } = require('./hush-client.cjs');

const clients = new Map();
const get = (who) => {
  const c = clients.get(who);
  if (!c) throw new Error(`no client ${who}`);
  return c;
};

const commands = {
  async register(a) {
    const c = new OfficialClient(a.server);
    clients.set(a.who, c);
    const creds = await c.register(a.number, a.code, { prekeys: a.prekeys ?? 20 });
    return { account_id: creds.account_id, device_id: creds.device_id };
  },
  async connect(a) { await get(a.who).connect(); return {}; },
  async lookup(a) { return { account_id: await get(a.who).lookup(a.number) }; },
  async send_text(a) { return await get(a.who).sendText(a.to, a.text); },
  async take(a) {
    const c = get(a.who);
    const messages = await c.take(a.n, a.timeout_ms ?? 20000);
    const errors = c.errors.splice(0);
    return {
      messages: messages.map((m) => (m.kind === 'message'
        ? { kind: m.kind, id: m.id, from: m.from, device: m.device, type: m.type, group: m.group, body: m.content.dataMessage ? m.content.dataMessage.body : undefined }
        : m)),
      errors,
    };
  },
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
