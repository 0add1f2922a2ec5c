// Decodes each base64 plaintext of the JSON array on standard input with
// the official-library test client's content codec, and encodes each
// object of the "encode" array; prints {"decoded": [...], "encoded": [...]}.
'use strict';
const path = require('node:path');
const content = require(path.join(__dirname, '..', '..', '..', 'integration', 'oracle', 'content.cjs'));

const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
const b64 = (u8) => Buffer.from(u8).toString('base64');
const plain = (v) => JSON.parse(JSON.stringify(v, (k, x) => (x instanceof Uint8Array ? b64(x) : x)));
const unb64 = (o) => {
  if (Array.isArray(o)) return o.map(unb64);
  if (o && typeof o === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(o)) {
      out[k] = ['key', 'digest', 'thumbnail', 'groupId', 'senderKeyDistributionMessage', 'decryptionErrorMessage'].includes(k)
        ? new Uint8Array(Buffer.from(v, 'base64')) : unb64(v);
    }
    return out;
  }
  return o;
};
process.stdout.write(JSON.stringify({
  decoded: input.decode.map((s) => plain(content.decode(Buffer.from(s, 'base64')))),
  encoded: input.encode.map((o) => b64(content.encode(unb64(o)))),
}));
