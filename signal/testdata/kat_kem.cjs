// Writes Kyber1024 (key type 0x08) key pairs made by the official
// libsignal to stdout as JSON.
// Regenerate: NODE_PATH=integration/oracle/node_modules node signal/testdata/kat_kem.cjs > signal/testdata/kem.json
'use strict';
const { KEMKeyPair } = require('@signalapp/libsignal-client');

const hex = (b) => Buffer.from(b).toString('hex');
const pairs = [];
for (let i = 0; i < 3; i++) {
  const kp = KEMKeyPair.generate();
  pairs.push({ public: hex(kp.getPublicKey().serialize()), secret: hex(kp.getSecretKey().serialize()) });
}
process.stdout.write(JSON.stringify({ pairs }, null, 1) + '\n');
