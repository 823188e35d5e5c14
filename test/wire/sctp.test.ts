import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import { WireError } from "../../src/base/errors.js";
import {
  crc32c, refillSctpChecksum, sctpChecksum, SctpPacket, SctpRepr, SCTP_CHUNK_INIT, SCTP_CHUNK_INIT_ACK, SCTP_HEADER_LEN,
  type SctpChunk,
} from "../../src/wire/sctp.js";
import { filled, hex, parsesOrWireError, toHex } from "./helpers.js";

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

test("CRC32c check value and the iSCSI test vectors (RFC 3720 §B.4)", (t) => {
  t.is(crc32c(ascii("123456789")), 0xe3069283);
  t.is(crc32c(new Uint8Array(32)), 0x8a9136aa);
  t.is(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  t.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  t.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  // The iSCSI Read (10) command PDU of RFC 3720 §B.4.
  const pdu = hex(
    "01c00000 00000000 00000000 00000000 14000000 00000400 00000014 00000018 28000000 00000000 02000000 00000000",
  );
  t.is(crc32c(pdu), 0xd9963a56);
  t.is(crc32c(new Uint8Array(0)), 0);
});

/** An INIT as a client sends it: tag 0 in the header, its own tag in the chunk. */
const INIT: SctpChunk = { type: "INIT", initiateTag: 0x11223344, aRwnd: 106496, outStreams: 10, inStreams: 65535, initialTsn: 0x01020304 };
const INIT_PACKET = hex(
  // ports 40000 → 3868, tag 0, checksum (filled below), INIT chunk of 20 bytes
  "9c40 0f1c 00000000 00000000" + "01 00 0014 11223344 0001a000 000a ffff 01020304",
);

test("INIT: the Repr emits the RFC 9260 layout and the checksum is CRC32c stored low byte first", (t) => {
  const repr = { srcPort: 40000, dstPort: 3868, verificationTag: 0, chunks: [INIT] };
  t.is(SctpRepr.bufferLen(repr), 32);
  const b = filled(34);
  t.is(SctpRepr.emit(repr, b, 1), 32);
  const crc = crc32c(INIT_PACKET); // the checksum field is zero in the fixture
  t.is(toHex(b.subarray(1, 9)), toHex(INIT_PACKET.subarray(0, 8)));
  t.deepEqual([...b.subarray(9, 13)], [crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24]);
  t.is(toHex(b.subarray(13, 33)), toHex(INIT_PACKET.subarray(12)));
  t.is(b[0], 0xa5);
  t.is(b[33], 0xa5);
  const p = new SctpPacket(b, 1, 32).checkLen(32);
  t.is(p.checksum(), crc);
  t.true(p.verifyChecksum());
  t.is(p.srcPort(), 40000);
  t.is(p.dstPort(), 3868);
  t.is(p.verificationTag(), 0);
  t.is(p.firstChunkType(), SCTP_CHUNK_INIT);
  t.deepEqual(SctpRepr.parse(b, 1, 32, true), repr);
});

test("a changed port needs the checksum recomputed over the whole packet", (t) => {
  const b = new Uint8Array(32);
  SctpRepr.emit({ srcPort: 40000, dstPort: 3868, verificationTag: 0, chunks: [INIT] }, b, 0);
  const p = new SctpPacket(b, 0, 32);
  p.setDstPort(8080);
  t.false(p.verifyChecksum(), "no pseudo header, but the ports are covered");
  refillSctpChecksum(b, 0, 32);
  t.true(p.verifyChecksum());
  t.is(p.checksum(), sctpChecksum(b, 0, 32));
  // A header cut short (inside an ICMP error) is left alone.
  const short = b.slice(0, 8);
  refillSctpChecksum(short, 0, 8);
  t.deepEqual(short, b.subarray(0, 8));
});

test("the chunks of a minimal association round-trip; the INIT ACK carries its State Cookie", (t) => {
  const cookie = ascii("cookie!"); // 7 bytes: the parameter is padded, the chunk length is not
  const chunks: SctpChunk[] = [
    INIT,
    { type: "INIT_ACK", initiateTag: 0xaabbccdd, aRwnd: 65536, outStreams: 1, inStreams: 1, initialTsn: 7, cookie },
    { type: "COOKIE_ECHO", cookie },
    { type: "COOKIE_ACK" },
    { type: "DATA", flags: 3, tsn: 0x01020304, streamId: 0, streamSeq: 0, ppid: 46, data: ascii("hello") },
    { type: "SACK", cumTsnAck: 0x01020304, aRwnd: 65536, gaps: [], dupTsns: [] },
    { type: "ABORT", tBit: true },
    { type: "SHUTDOWN", cumTsnAck: 9 },
    { type: "SHUTDOWN_ACK" },
    { type: "SHUTDOWN_COMPLETE", tBit: false },
    { type: "HEARTBEAT", info: ascii("hb") },
    { type: "other", code: 0xc0, flags: 0, value: ascii("abcd") },
  ];
  for (const c of chunks) {
    const repr = { srcPort: 1, dstPort: 2, verificationTag: 0xdeadbeef, chunks: [c] };
    const b = new Uint8Array(SctpRepr.bufferLen(repr));
    SctpRepr.emit(repr, b, 0);
    t.is(b.length % 4, 0, c.type);
    const back = SctpRepr.parse(b, 0, b.length, true);
    t.deepEqual(back, repr, c.type);
  }
  const ack = new Uint8Array(64);
  const n = SctpRepr.emit({ srcPort: 1, dstPort: 2, verificationTag: 5, chunks: [chunks[1]!] }, ack, 0);
  t.is(ack[SCTP_HEADER_LEN], SCTP_CHUNK_INIT_ACK);
  t.is((ack[SCTP_HEADER_LEN + 2]! << 8) | ack[SCTP_HEADER_LEN + 3]!, 4 + 16 + 4 + 7, "chunk length without the last parameter's padding");
  t.is(n, SCTP_HEADER_LEN + 32);
});

test("several chunks in one packet (COOKIE ECHO bundled with DATA)", (t) => {
  const repr = {
    srcPort: 5000, dstPort: 6000, verificationTag: 42,
    chunks: [{ type: "COOKIE_ECHO", cookie: ascii("abc") }, { type: "DATA", flags: 3, tsn: 1, streamId: 0, streamSeq: 0, ppid: 0, data: ascii("x") }] as SctpChunk[],
  };
  const b = new Uint8Array(SctpRepr.bufferLen(repr));
  SctpRepr.emit(repr, b, 0);
  const types: number[] = [];
  new SctpPacket(b).checkLen(b.length).forEachChunk((type) => void types.push(type));
  t.deepEqual(types, [10, 0]);
  t.deepEqual(SctpRepr.parse(b, 0, b.length, true), repr);
});

test("checkLen refuses short headers and chunks that overrun; a bad checksum is an error when verifying", (t) => {
  t.throws(() => new SctpPacket(new Uint8Array(11)).checkLen(11), { instanceOf: WireError });
  const b = new Uint8Array(32);
  SctpRepr.emit({ srcPort: 1, dstPort: 2, verificationTag: 0, chunks: [INIT] }, b, 0);
  t.throws(() => new SctpPacket(b).checkLen(30), { instanceOf: WireError });
  b[14] = 0;
  b[15] = 2; // chunk length 2 < 4
  t.throws(() => new SctpPacket(b).checkLen(32), { instanceOf: WireError });
  const c = new Uint8Array(32);
  SctpRepr.emit({ srcPort: 1, dstPort: 2, verificationTag: 0, chunks: [INIT] }, c, 0);
  c[31] ^= 1;
  t.throws(() => SctpRepr.parse(c, 0, 32, true), { instanceOf: WireError, message: /CRC32c/ });
  t.notThrows(() => SctpRepr.parse(c, 0, 32));
});

testProp("parse never throws anything but a WireError", [fc.uint8Array({ maxLength: 80 })], (t, bytes) => {
  parsesOrWireError(t, () => SctpRepr.parse(bytes, 0, bytes.length, true));
});
