// Writes sender-key vectors made by the official libsignal to stdout: a
// distribution message, the receiving record after processing it, and
// group messages (iterations 0..9) that Go must decrypt.
// Regenerate: NODE_PATH=integration/oracle/node_modules node signal/testdata/kat_senderkey.cjs > signal/testdata/senderkey.json
'use strict';
const S = require('@signalapp/libsignal-client');
const { SenderKeys, hex } = require('./stores.cjs');

(async () => {
  const sender = S.ProtocolAddress.new('9d0652a3-dcc3-4d11-975f-74d61598733f', 1);
  const distributionId = 'd1d1d1d1-2222-4333-8444-555555555555';
  const senderStore = new SenderKeys();
  const receiverStore = new SenderKeys();
  const skdm = await S.SenderKeyDistributionMessage.create(sender, distributionId, senderStore);
  await S.processSenderKeyDistributionMessage(sender, S.SenderKeyDistributionMessage.deserialize(skdm.serialize()), receiverStore);
  const receiverRecord = await receiverStore.getSenderKey(sender, distributionId);
  const messages = [];
  for (let i = 0; i < 10; i++) {
    const text = `group message ${i}` + 'x'.repeat(i * 7);
    const m = await S.groupEncrypt(sender, distributionId, senderStore, new Uint8Array(Buffer.from(text)));
    messages.push({ type: m.type(), body: hex(m.serialize()), plaintext: hex(Buffer.from(text)) });
  }
  const senderRecord = await senderStore.getSenderKey(sender, distributionId);
  process.stdout.write(JSON.stringify({
    sender: { name: sender.name(), device: sender.deviceId() },
    distributionId,
    distribution: hex(skdm.serialize()),
    chainId: skdm.chainId(),
    receiverRecord: hex(receiverRecord.serialize()),
    senderRecord: hex(senderRecord.serialize()),
    messages,
  }, null, 1) + '\n');
})();
