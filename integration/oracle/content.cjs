// The plaintext inside a ciphertext, as docs/protocol.md ("Content
// format") specifies it: a protobuf Content message laid out as Signal's
// SignalService.proto where it applies, padded as Signal pads it (0x80
// then zeros to a multiple of 160 bytes). Encoded and decoded by hand here
// so that the test client depends on nothing but the official library.
'use strict';

const PAD_BLOCK = 160;

// Field numbers. Signal's where Signal has the field; Hush's own from 100.
const F = {
  content: { dataMessage: 1, syncMessage: 2, receiptMessage: 5, typingMessage: 6, senderKeyDistributionMessage: 7, decryptionErrorMessage: 8 },
  data: { body: 1, attachments: 2, flags: 4, timestamp: 7, group: 15, location: 100 },
  attachment: { contentType: 2, key: 3, size: 4, thumbnail: 5, digest: 6, fileName: 7, flags: 8, caption: 11, cdnKey: 15 },
  group: { id: 1, revision: 2 },
  location: { latitude: 1, longitude: 2, label: 3 },
  receipt: { type: 1, timestamp: 2 },
  typing: { timestamp: 1, action: 2, groupId: 3 },
  sync: { sent: 1 },
  sent: { timestamp: 2, message: 3, destinationServiceId: 7 },
};

class Writer {
  constructor() { this.parts = []; }
  varint(v) {
    let n = BigInt(v);
    const out = [];
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n > 0n) b |= 0x80;
      out.push(b);
    } while (n > 0n);
    this.parts.push(Buffer.from(out));
  }
  tag(field, wire) { this.varint((field << 3) | wire); }
  uint(field, v) { if (v === undefined || v === null) return; this.tag(field, 0); this.varint(v); }
  bytes(field, b) { if (b === undefined || b === null) return; this.tag(field, 2); this.varint(b.length); this.parts.push(Buffer.from(b)); }
  string(field, s) { if (s === undefined || s === null) return; this.bytes(field, Buffer.from(s, 'utf8')); }
  double(field, v) { if (v === undefined || v === null) return; this.tag(field, 1); const b = Buffer.alloc(8); b.writeDoubleLE(v); this.parts.push(b); }
  message(field, fn, v) { if (v === undefined || v === null) return; const w = new Writer(); fn(w, v); this.bytes(field, w.done()); }
  done() { return Buffer.concat(this.parts); }
}

function readFields(buf) {
  const out = [];
  let i = 0;
  const varint = () => {
    let n = 0n; let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++];
      n |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return n;
      shift += 7n;
      if (shift > 63n) throw new Error('varint too long');
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const field = key >> 3; const wire = key & 7;
    if (wire === 0) out.push({ field, value: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      if (i + len > buf.length) throw new Error('truncated field');
      out.push({ field, value: buf.subarray(i, i + len) }); i += len;
    } else if (wire === 1) { out.push({ field, value: buf.subarray(i, i + 8) }); i += 8; }
    else if (wire === 5) { out.push({ field, value: buf.subarray(i, i + 4) }); i += 4; }
    else throw new Error(`wire type ${wire}`);
  }
  return out;
}

const enc = {
  group(w, g) { w.string(F.group.id, g.id); w.uint(F.group.revision, g.revision); },
  location(w, l) { w.double(F.location.latitude, l.latitude); w.double(F.location.longitude, l.longitude); w.string(F.location.label, l.label); },
  attachment(w, a) {
    w.string(F.attachment.contentType, a.contentType); w.bytes(F.attachment.key, a.key); w.uint(F.attachment.size, a.size);
    w.bytes(F.attachment.thumbnail, a.thumbnail); w.bytes(F.attachment.digest, a.digest); w.string(F.attachment.fileName, a.fileName);
    w.uint(F.attachment.flags, a.flags); w.string(F.attachment.caption, a.caption); w.string(F.attachment.cdnKey, a.cdnKey);
  },
  data(w, d) {
    w.string(F.data.body, d.body);
    for (const a of d.attachments || []) w.message(F.data.attachments, enc.attachment, a);
    w.uint(F.data.flags, d.flags); w.uint(F.data.timestamp, d.timestamp);
    w.message(F.data.group, enc.group, d.group); w.message(F.data.location, enc.location, d.location);
  },
  receipt(w, r) { w.uint(F.receipt.type, r.type); for (const t of r.timestamps || []) w.uint(F.receipt.timestamp, t); },
  typing(w, t) { w.uint(F.typing.timestamp, t.timestamp); w.uint(F.typing.action, t.action); w.bytes(F.typing.groupId, t.groupId); },
  sent(w, s) { w.uint(F.sent.timestamp, s.timestamp); w.message(F.sent.message, enc.data, s.message); w.string(F.sent.destinationServiceId, s.destinationServiceId); },
  sync(w, s) { w.message(F.sync.sent, enc.sent, s.sent); },
  content(w, c) {
    w.message(F.content.dataMessage, enc.data, c.dataMessage); w.message(F.content.syncMessage, enc.sync, c.syncMessage);
    w.message(F.content.receiptMessage, enc.receipt, c.receiptMessage); w.message(F.content.typingMessage, enc.typing, c.typingMessage);
    w.bytes(F.content.senderKeyDistributionMessage, c.senderKeyDistributionMessage);
    w.bytes(F.content.decryptionErrorMessage, c.decryptionErrorMessage);
  },
};

function decodeWith(buf, spec) {
  const out = {};
  for (const { field, value } of readFields(buf)) {
    const s = spec[field];
    if (!s) continue; // unknown fields are skipped
    const [name, kind, repeated] = s;
    let v;
    if (kind === 'string') v = Buffer.from(value).toString('utf8');
    else if (kind === 'bytes') v = new Uint8Array(value);
    else if (kind === 'uint') v = Number(value);
    else if (kind === 'double') v = Buffer.from(value).readDoubleLE(0);
    else v = decodeWith(value, kind);
    if (repeated) (out[name] = out[name] || []).push(v); else out[name] = v;
  }
  return out;
}

const dec = {};
dec.group = { 1: ['id', 'string'], 2: ['revision', 'uint'] };
dec.location = { 1: ['latitude', 'double'], 2: ['longitude', 'double'], 3: ['label', 'string'] };
dec.attachment = { 2: ['contentType', 'string'], 3: ['key', 'bytes'], 4: ['size', 'uint'], 5: ['thumbnail', 'bytes'], 6: ['digest', 'bytes'], 7: ['fileName', 'string'], 8: ['flags', 'uint'], 11: ['caption', 'string'], 15: ['cdnKey', 'string'] };
dec.data = { 1: ['body', 'string'], 2: ['attachments', dec.attachment, true], 4: ['flags', 'uint'], 7: ['timestamp', 'uint'], 15: ['group', dec.group], 100: ['location', dec.location] };
dec.receipt = { 1: ['type', 'uint'], 2: ['timestamps', 'uint', true] };
dec.typing = { 1: ['timestamp', 'uint'], 2: ['action', 'uint'], 3: ['groupId', 'bytes'] };
dec.sent = { 2: ['timestamp', 'uint'], 3: ['message', dec.data], 7: ['destinationServiceId', 'string'] };
dec.sync = { 1: ['sent', dec.sent] };
dec.content = { 1: ['dataMessage', dec.data], 2: ['syncMessage', dec.sync], 5: ['receiptMessage', dec.receipt], 6: ['typingMessage', dec.typing], 7: ['senderKeyDistributionMessage', 'bytes'], 8: ['decryptionErrorMessage', 'bytes'] };

function pad(b) {
  const n = Math.ceil((b.length + 1) / PAD_BLOCK) * PAD_BLOCK;
  const out = Buffer.alloc(n);
  b.copy(out);
  out[b.length] = 0x80;
  return out;
}

function unpad(b) {
  let i = b.length - 1;
  while (i >= 0 && b[i] === 0) i--;
  if (i < 0 || b[i] !== 0x80) throw new Error('bad padding');
  return b.subarray(0, i);
}

function encode(c) {
  const w = new Writer();
  enc.content(w, c);
  return new Uint8Array(pad(w.done()));
}

function decode(plain) { return decodeWith(unpad(Buffer.from(plain)), dec.content); }

module.exports = { encode, decode, pad, unpad };
