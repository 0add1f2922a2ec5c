// Writes XEdDSA known-answer vectors made by the official libsignal to
// stdout as JSON: keys, messages and signatures the Go code must verify.
// Regenerate: NODE_PATH=integration/oracle/node_modules node signal/testdata/kat_xeddsa.cjs > signal/testdata/xeddsa.json
'use strict';
const { PrivateKey } = require('@signalapp/libsignal-client');

const hex = (b) => Buffer.from(b).toString('hex');
const vectors = [];
const messages = [
  Buffer.alloc(0),
  Buffer.from('hush'),
  Buffer.alloc(33, 0x05),
  Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff)),
];
for (let k = 0; k < 8; k++) {
  const priv = PrivateKey.generate();
  const pub = priv.getPublicKey();
  for (const msg of messages) {
    vectors.push({
      private: hex(priv.serialize()),
      public: hex(pub.serialize()),
      message: hex(msg),
      signature: hex(priv.sign(new Uint8Array(msg))),
    });
  }
}
// Agreement vectors: X25519 through the official library.
const agreements = [];
for (let i = 0; i < 4; i++) {
  const a = PrivateKey.generate();
  const b = PrivateKey.generate();
  agreements.push({
    private: hex(a.serialize()),
    public: hex(b.getPublicKey().serialize()),
    shared: hex(a.agree(b.getPublicKey())),
  });
}
process.stdout.write(JSON.stringify({ signatures: vectors, agreements }, null, 1) + '\n');
