// Writes a 1:1 session made by the official libsignal to stdout: Bob's
// keys as the official records (identity, signed, Kyber and one-time
// prekeys), PreKeySignalMessages Alice sent to Bob, Bob's session record
// after the first, and Alice's later messages. Go, given Bob's records,
// must decrypt all of them.
// Regenerate: NODE_PATH=integration/oracle/node_modules node signal/testdata/kat_session.cjs > signal/testdata/session.json
'use strict';
const S = require('@signalapp/libsignal-client');
const { Identity, Sessions, PreKeys, SignedPreKeys, KyberPreKeys, hex } = require('./stores.cjs');

function device(name, id, regId) {
  const pair = S.IdentityKeyPair.generate();
  return {
    address: S.ProtocolAddress.new(name, id), pair, regId,
    identity: new Identity(pair, regId), sessions: new Sessions(), preKeys: new PreKeys(),
    signed: new SignedPreKeys(), kyber: new KyberPreKeys(),
  };
}

(async () => {
  const alice = device('9d0652a3-dcc3-4d11-975f-74d61598733f', 1, 1717);
  const bob = device('796abedb-ca4e-4f18-8803-1fde5b921f9f', 2, 4242);
  const sp = S.PrivateKey.generate();
  const signed = S.SignedPreKeyRecord.new(7, 1700000000000, sp.getPublicKey(), sp, bob.pair.privateKey.sign(sp.getPublicKey().serialize()));
  const kp = S.KEMKeyPair.generate();
  const kyber = S.KyberPreKeyRecord.new(8, 1700000000000, kp, bob.pair.privateKey.sign(kp.getPublicKey().serialize()));
  const op = S.PrivateKey.generate();
  const oneTime = S.PreKeyRecord.new(9, op.getPublicKey(), op);
  await bob.signed.saveSignedPreKey(7, signed);
  await bob.kyber.saveKyberPreKey(8, kyber);
  await bob.preKeys.savePreKey(9, oneTime);
  const bundle = S.PreKeyBundle.new(bob.regId, 2, 9, op.getPublicKey(), 7, sp.getPublicKey(), signed.signature(),
    bob.pair.publicKey, 8, kp.getPublicKey(), kyber.signature());
  await S.processPreKeyBundle(bundle, bob.address, alice.address, alice.sessions, alice.identity);
  const enc = async (text) => {
    const m = await S.signalEncrypt(new Uint8Array(Buffer.from(text)), bob.address, alice.address, alice.sessions, alice.identity);
    return { type: m.type(), body: hex(m.serialize()), plaintext: hex(Buffer.from(text)) };
  };
  const prekeyMessages = [await enc('first'), await enc('second')];
  // Bob decrypts the first and answers, so Alice's next messages are SignalMessages.
  await S.signalDecryptPreKey(S.PreKeySignalMessage.deserialize(Buffer.from(prekeyMessages[0].body, 'hex')), alice.address, bob.address,
    bob.sessions, bob.identity, bob.preKeys, bob.signed, bob.kyber);
  const bobRecordAfterFirst = (await bob.sessions.getSession(alice.address)).serialize();
  const answer = await S.signalEncrypt(new Uint8Array(Buffer.from('answer')), alice.address, bob.address, bob.sessions, bob.identity);
  await S.signalDecrypt(S.SignalMessage.deserialize(answer.serialize()), bob.address, alice.address, alice.sessions, alice.identity);
  const bobRecordAfterAnswer = (await bob.sessions.getSession(alice.address)).serialize();
  const later = [];
  for (let i = 0; i < 5; i++) later.push(await enc(`later ${i}`));
  process.stdout.write(JSON.stringify({
    alice: { name: alice.address.name(), device: 1, identity: hex(alice.pair.publicKey.serialize()) },
    bob: {
      name: bob.address.name(), device: 2, registrationId: bob.regId,
      identityKeyPair: hex(bob.pair.serialize()),
      signedPreKey: hex(signed.serialize()), kyberPreKey: hex(kyber.serialize()), preKey: hex(oneTime.serialize()),
    },
    prekeyMessages,
    bobRecordAfterFirst: hex(bobRecordAfterFirst),
    bobRecordAfterAnswer: hex(bobRecordAfterAnswer),
    answer: hex(answer.serialize()),
    later,
  }, null, 1) + '\n');
})();
