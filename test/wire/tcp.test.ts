import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import {
  TcpPacket,
  TcpRepr,
  parseTcpOptions,
  tcpMssOption,
  buildMssOption,
  tcpFlagsString,
  TCP_ACK,
  TCP_CWR,
  TCP_ECE,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TCP_URG,
} from "../../src/wire/tcp.js";
import { WireError } from "../../src/base/errors.js";
import { ipv4 } from "../../src/base/ipv4-int.js";
import { FRAMES, filled, hex } from "./helpers.js";

const SRC = ipv4("10.244.1.2");
const DST = ipv4("10.244.2.3");
const SYN = FRAMES.tcpSyn.subarray(34);
const DATA = FRAMES.tcpData.subarray(34);
const SYN_OPTIONS = hex("020405b4 0402 080a0000000100000000 01 030307");
const GET = new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n");

test("deconstruct a SYN with options", (t) => {
  const p = new TcpPacket(SYN).checkLen();
  t.is(p.srcPort(), 40000);
  t.is(p.dstPort(), 80);
  t.is(p.seq(), 1000);
  t.is(p.ack(), 0);
  t.is(p.dataOffset(), 10);
  t.is(p.headerLen(), 40);
  t.is(p.flags(), TCP_SYN);
  t.is(p.window(), 64240);
  t.is(p.checksum(), 0x93a9);
  t.is(p.urgent(), 0);
  t.deepEqual(p.options(), SYN_OPTIONS);
  t.is(p.payloadOffset(), 40);
  t.is(p.payloadLen(), 0);
  t.true(p.verifyChecksum(SRC, DST));
});

test("deconstruct a data segment", (t) => {
  const p = new TcpPacket(DATA, 0, DATA.length).checkLen();
  t.is(p.seq(), 1001);
  t.is(p.ack(), 5001);
  t.is(p.flags(), TCP_PSH | TCP_ACK);
  t.is(p.window(), 502);
  t.is(p.options().length, 0);
  t.deepEqual(p.payload(), GET);
  t.true(p.verifyChecksum(SRC, DST));
});

test("construct a SYN", (t) => {
  const b = filled(42);
  const p = new TcpPacket(b, 1, 40);
  p.setSrcPort(40000);
  p.setDstPort(80);
  p.setSeq(1000);
  p.setAck(0);
  p.setHeaderLen(40);
  p.setFlags(TCP_SYN);
  p.setWindow(64240);
  p.setUrgent(0);
  b.set(SYN_OPTIONS, 21);
  p.fillChecksum(SRC, DST);
  t.deepEqual(b.subarray(1, 41), SYN);
  t.is(b[0], 0xa5);
  t.is(b[41], 0xa5);
});

test("sequence numbers are unsigned 32-bit", (t) => {
  const p = new TcpPacket(new Uint8Array(20));
  p.setSeq(0xfffffffe);
  p.setAck(0x80000000);
  t.is(p.seq(), 0xfffffffe);
  t.is(p.ack(), 0x80000000);
});

test("repr parse and emit", (t) => {
  const syn = TcpRepr.parse(SYN, 0, SYN.length, SRC, DST);
  t.deepEqual(syn, { srcPort: 40000, dstPort: 80, seq: 1000, ack: 0, flags: TCP_SYN, window: 64240, urgent: 0, options: SYN_OPTIONS, payload: new Uint8Array(0) });
  for (const [bytes, repr] of [
    [SYN, syn],
    [DATA, TcpRepr.parse(DATA, 0, DATA.length, SRC, DST)],
  ] as const) {
    const b = filled(bytes.length);
    t.is(TcpRepr.emit(repr, b, 0, SRC, DST), bytes.length);
    t.deepEqual(b, bytes);
    t.is(TcpRepr.bufferLen(repr), bytes.length);
  }
});

test("options are padded to 4 bytes on emit", (t) => {
  const b = filled(24);
  TcpRepr.emit({ srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: TCP_SYN, window: 5, options: hex("030307"), payload: new Uint8Array(0) }, b, 0, SRC, DST);
  t.is(b[12], 0x60);
  t.deepEqual(b.subarray(20), hex("03030700"));
});

test("checkLen: data offset below 5 is malformed, beyond the bytes truncated", (t) => {
  const kind = (b: Uint8Array, len = b.length) => t.throws(() => TcpRepr.parse(b, 0, len), { instanceOf: WireError })?.kind;
  t.is(kind(SYN, 19), "truncated");
  t.is(kind(SYN, 39), "truncated");
  const b = SYN.slice();
  b[12] = 0x40;
  t.is(kind(b), "malformed");
  const bad = DATA.slice();
  bad[30] ^= 4;
  t.notThrows(() => TcpRepr.parse(bad, 0, bad.length)); // no addresses, no verification
  t.is(t.throws(() => TcpRepr.parse(bad, 0, bad.length, SRC, DST), { instanceOf: WireError })?.kind, "malformed");
});

test("parseTcpOptions recognises MSS, window scale, SACK-permitted, timestamps and keeps the rest", (t) => {
  const opts = parseTcpOptions(SYN_OPTIONS);
  t.deepEqual(
    opts.map((o) => [o.kind, Array.from(o.data)]),
    [
      [2, [0x05, 0xb4]],
      [4, []],
      [8, [0, 0, 0, 1, 0, 0, 0, 0]],
      [1, []],
      [3, [7]],
    ],
  );
  t.deepEqual(
    parseTcpOptions(hex("1e 04 abcd 00 ffff")).map((o) => [o.kind, Array.from(o.data)]),
    [[30, [0xab, 0xcd]]],
    "unknown kinds are kept and End of Option List stops the walk",
  );
  t.is(tcpMssOption(SYN_OPTIONS), 1460);
  t.is(tcpMssOption(hex("01 01")), undefined);
});

test("parseTcpOptions rejects impossible lengths", (t) => {
  for (const bad of ["02", "02 01", "02 05 05b4 00", "1e 09 00", "03 04 07 00", "08 0a 00"]) {
    t.is(t.throws(() => parseTcpOptions(hex(bad)), { instanceOf: WireError })?.kind, "malformed", bad);
  }
});

test("buildMssOption", (t) => {
  t.deepEqual(buildMssOption(1410), hex("0204 0582"));
  t.throws(() => buildMssOption(70000), { instanceOf: RangeError });
});

test("tcpFlagsString prints tcpdump's letters", (t) => {
  t.is(tcpFlagsString(TCP_SYN), "[S]");
  t.is(tcpFlagsString(TCP_SYN | TCP_ACK), "[S.]");
  t.is(tcpFlagsString(TCP_ACK), "[.]");
  t.is(tcpFlagsString(TCP_PSH | TCP_ACK), "[P.]");
  t.is(tcpFlagsString(TCP_FIN | TCP_ACK), "[F.]");
  t.is(tcpFlagsString(TCP_FIN | TCP_PSH | TCP_ACK), "[FP.]");
  t.is(tcpFlagsString(TCP_RST), "[R]");
  t.is(tcpFlagsString(TCP_RST | TCP_ACK), "[R.]");
  t.is(tcpFlagsString(TCP_SYN | TCP_ECE | TCP_CWR), "[SEW]");
  t.is(tcpFlagsString(TCP_URG | TCP_ACK), "[.U]");
  t.is(tcpFlagsString(0), "[none]");
});

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const optionBytes = fc.integer({ min: 1, max: 10 }).chain((w) => fc.uint8Array({ minLength: w * 4, maxLength: w * 4 }));
const tcpRepr = fc
  .record({
    srcPort: u16,
    dstPort: u16,
    seq: u32,
    ack: u32,
    flags: fc.integer({ min: 0, max: 0xff }),
    window: u16,
    urgent: u16,
    options: fc.option(optionBytes, { nil: undefined }),
    payload: fc.uint8Array({ maxLength: 1500 }),
  })
  .map(({ options, ...rest }) => (options ? { ...rest, options } : rest) as TcpRepr);

testProp("parse ∘ emit is the identity", [tcpRepr, u32, u32], (t, repr, src, dst) => {
  const b = new Uint8Array(TcpRepr.bufferLen(repr));
  TcpRepr.emit(repr, b, 0, src, dst);
  t.deepEqual(TcpRepr.parse(b, 0, b.length, src, dst), repr);
});

testProp("incremental port and address rewrites equal a full recompute", [tcpRepr, u32, u32, u16, u16, u32, u32], (t, repr, src, dst, sp, dp, nsrc, ndst) => {
  const b = new Uint8Array(TcpRepr.bufferLen(repr));
  TcpRepr.emit(repr, b, 0, src, dst);
  const p = new TcpPacket(b);
  p.setSrcPortWithChecksumUpdate(sp);
  p.setDstPortWithChecksumUpdate(dp);
  p.updateChecksumForAddrChange(src, nsrc);
  p.updateChecksumForAddrChange(dst, ndst);
  const incremental = p.checksum();
  t.true(p.verifyChecksum(nsrc, ndst));
  p.fillChecksum(nsrc, ndst);
  t.is(incremental, p.checksum());
});
