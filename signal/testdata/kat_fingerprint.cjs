// Writes safety-number vectors made by the official libsignal to stdout.
// Regenerate: NODE_PATH=integration/oracle/node_modules node signal/testdata/kat_fingerprint.cjs > signal/testdata/fingerprint.json
'use strict';
const S = require('@signalapp/libsignal-client');
const { hex } = require('./stores.cjs');

const vectors = [];
const cases = [
  { version: 2, iterations: 5200, localId: S.Aci.fromUuid('9d0652a3-dcc3-4d11-975f-74d61598733f').getRawUuidBytes(), remoteId: S.Aci.fromUuid('796abedb-ca4e-4f18-8803-1fde5b921f9f').getRawUuidBytes() },
  { version: 2, iterations: 5200, localId: S.Aci.fromUuid('00000000-0000-4000-8000-000000000001').getRawUuidBytes(), remoteId: S.Aci.fromUuid('ffffffff-ffff-4fff-bfff-ffffffffffff').getRawUuidBytes() },
  { version: 1, iterations: 5200, localId: Buffer.from('+14152222222'), remoteId: Buffer.from('+14153333333') },
  { version: 2, iterations: 1024, localId: Buffer.from('a'), remoteId: Buffer.from('b') },
];
for (const c of cases) {
  for (let k = 0; k < 2; k++) {
    const local = S.PrivateKey.generate().getPublicKey();
    const remote = S.PrivateKey.generate().getPublicKey();
    const f = S.Fingerprint.new(c.iterations, c.version, new Uint8Array(c.localId), local, new Uint8Array(c.remoteId), remote);
    const back = S.Fingerprint.new(c.iterations, c.version, new Uint8Array(c.remoteId), remote, new Uint8Array(c.localId), local);
    vectors.push({
      version: c.version, iterations: c.iterations,
      localId: hex(c.localId), localKey: hex(local.serialize()),
      remoteId: hex(c.remoteId), remoteKey: hex(remote.serialize()),
      display: f.displayableFingerprint().toString(),
      scannable: hex(f.scannableFingerprint().toBuffer()),
      remoteScannable: hex(back.scannableFingerprint().toBuffer()),
    });
  }
}
process.stdout.write(JSON.stringify({ fingerprints: vectors }, null, 1) + '\n');
