// Writes DecryptionErrorMessage and PlaintextContent vectors made by the
// official libsignal to stdout: for the official PreKeySignalMessages,
// SignalMessages and SenderKeyMessages of session.json and senderkey.json,
// the DecryptionErrorMessage.forOriginal of each (with a timestamp and the
// original sender's device id) and the PlaintextContent carrying it.
// Regenerate: NODE_PATH=integration/oracle/node_modules node signal/testdata/kat_decryption_error.cjs > signal/testdata/decryption_error.json
'use strict';
const path = require('node:path');
const S = require('@signalapp/libsignal-client');
const { hex } = require('./stores.cjs');

const session = require(path.join(__dirname, 'session.json'));
const senderKey = require(path.join(__dirname, 'senderkey.json'));

const originals = [
  ...session.prekeyMessages,
  ...session.later,
  ...senderKey.messages.slice(0, 3),
];
const vectors = [];
originals.forEach((o, i) => {
  const timestamp = 1700000000000 + i * 1234567;
  const device = 1 + (i % 127);
  const dem = S.DecryptionErrorMessage.forOriginal(new Uint8Array(Buffer.from(o.body, 'hex')), o.type, timestamp, device);
  const pc = S.PlaintextContent.from(dem);
  const back = S.DecryptionErrorMessage.extractFromSerializedBody(pc.body());
  const rk = dem.ratchetKey();
  vectors.push({
    original: o.body, type: o.type, timestamp, device,
    message: hex(dem.serialize()),
    ratchetKey: rk ? hex(rk.serialize()) : '',
    plaintextContent: hex(pc.serialize()),
    body: hex(pc.body()),
    extractedTimestamp: back.timestamp(),
  });
});
let plaintextRefused = false;
try {
  S.DecryptionErrorMessage.forOriginal(new Uint8Array(Buffer.from(vectors[0].plaintextContent, 'hex')), S.CiphertextMessageType.Plaintext, 1, 1);
} catch { plaintextRefused = true; }
process.stdout.write(JSON.stringify({ vectors, plaintextRefused }, null, 1) + '\n');
