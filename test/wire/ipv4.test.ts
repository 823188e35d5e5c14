import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import { Ipv4Packet, Ipv4Repr, IPPROTO_UDP } from "../../src/wire/ipv4.js";
import { WireError } from "../../src/base/errors.js";
import { ipv4 } from "../../src/base/ipv4-int.js";
import { hex, filled } from "./helpers.js";

// The header from Wikipedia's "IPv4 header checksum" worked example (checksum 0xb861).
const HEADER = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7");
const PACKET = new Uint8Array(0x73);
PACKET.set(HEADER);
PACKET.fill(0x11, 20);

// IGMPv2 report to 224.0.0.251 with the Router Alert option (RFC 2113): IHL 6.
const WITH_OPTIONS = hex(`46c0 0020 0000 4000 0102 f726 0af40102 e00000fb 94040000
  1600 0904 e00000fb`);

test("deconstruct", (t) => {
  const p = new Ipv4Packet(PACKET).checkLen(PACKET.length);
  t.is(p.version(), 4);
  t.is(p.headerLen(), 20);
  t.is(p.dscp(), 0);
  t.is(p.ecn(), 0);
  t.is(p.totalLen(), 0x73);
  t.is(p.ident(), 0);
  t.true(p.dontFrag());
  t.false(p.moreFrags());
  t.is(p.fragOffset(), 0);
  t.is(p.ttl(), 64);
  t.is(p.protocol(), IPPROTO_UDP);
  t.is(p.checksum(), 0xb861);
  t.is(p.srcAddr(), ipv4("192.168.0.1"));
  t.is(p.dstAddr(), ipv4("192.168.0.199"));
  t.is(p.options().length, 0);
  t.is(p.payloadOffset(), 20);
  t.is(p.payloadLen(), 0x73 - 20);
  t.true(p.verifyChecksum());
});

test("deconstruct with options", (t) => {
  const p = new Ipv4Packet(WITH_OPTIONS).checkLen(WITH_OPTIONS.length);
  t.is(p.headerLen(), 24);
  t.is(p.dscp(), 48); // CS6
  t.is(p.ttl(), 1);
  t.is(p.protocol(), 2);
  t.deepEqual(p.options(), hex("94040000"));
  t.is(p.payloadOffset(), 24);
  t.deepEqual(p.payload(), hex("16000904e00000fb"));
  t.true(p.verifyChecksum());
});

test("construct", (t) => {
  const b = filled(22);
  const p = new Ipv4Packet(b, 1);
  p.setVersion(4);
  p.setHeaderLen(20);
  p.setDscp(0);
  p.setEcn(0);
  p.setTotalLen(0x73);
  p.setIdent(0);
  b[1 + 6] = 0; // flags and fragment offset start from zero; setters only touch their bits
  b[1 + 7] = 0;
  p.setDontFrag(true);
  p.setMoreFrags(false);
  p.setFragOffset(0);
  p.setTtl(64);
  p.setProtocol(IPPROTO_UDP);
  p.setSrcAddr(ipv4("192.168.0.1"));
  p.setDstAddr(ipv4("192.168.0.199"));
  p.fillChecksum();
  t.deepEqual(b.subarray(1, 21), HEADER);
  t.is(b[0], 0xa5);
  t.is(b[21], 0xa5);
});

test("flag and fragment setters keep each other's bits", (t) => {
  const p = new Ipv4Packet(new Uint8Array(20));
  p.setFragOffset(1480);
  p.setMoreFrags(true);
  p.setDontFrag(true);
  t.is(p.fragOffset(), 1480);
  t.true(p.moreFrags());
  p.setDontFrag(false);
  t.is(p.fragOffset(), 1480);
  t.true(p.moreFrags());
  t.false(p.dontFrag());
  p.setDscp(46);
  p.setEcn(3);
  t.is(p.dscp(), 46);
  t.is(p.ecn(), 3);
});

test("checkLen rejects what Linux's ip_rcv would", (t) => {
  const kind = (b: Uint8Array, len = b.length) => t.throws(() => new Ipv4Packet(b).checkLen(len), { instanceOf: WireError })?.kind;
  const with_ = (at: number, v: number) => {
    const b = PACKET.slice();
    b[at] = v;
    return b;
  };
  t.is(kind(PACKET, 19), "truncated");
  t.is(kind(PACKET, 0x72), "truncated"); // total length beyond the bytes
  t.is(kind(with_(0, 0x65)), "unsupported"); // IPv6
  t.is(kind(with_(0, 0x55)), "malformed"); // version 5
  t.is(kind(with_(0, 0x44)), "malformed"); // IHL 4
  t.is(kind(with_(0, 0x4f).subarray(0, 40)), "truncated"); // 60-byte header in 40 bytes
  t.is(kind(with_(3, 19)), "malformed"); // total length below header length
  t.notThrows(() => new Ipv4Packet(PACKET).checkLen(PACKET.length)); // exact fit
  const padded = new Uint8Array(200);
  padded.set(PACKET);
  t.notThrows(() => new Ipv4Packet(padded).checkLen(200)); // trailing padding is fine
});

test("repr parse and emit", (t) => {
  const repr = Ipv4Repr.parse(PACKET, 0, PACKET.length);
  t.deepEqual(repr, {
    src: ipv4("192.168.0.1"),
    dst: ipv4("192.168.0.199"),
    protocol: IPPROTO_UDP,
    payloadLen: 0x73 - 20,
    ttl: 64,
    ident: 0,
    dontFrag: true,
    moreFrags: false,
    fragOffset: 0,
    dscp: 0,
    ecn: 0,
  });
  const b = filled(20);
  t.is(Ipv4Repr.emit(repr, b, 0), 20);
  t.deepEqual(b, HEADER);
  t.is(Ipv4Repr.bufferLen(repr), 0x73);
  t.is(Ipv4Repr.headerLen(repr), 20);
});

test("options survive parse and emit", (t) => {
  const repr = Ipv4Repr.parse(WITH_OPTIONS, 0, WITH_OPTIONS.length);
  t.deepEqual(repr.options, hex("94040000"));
  const b = filled(24);
  t.is(Ipv4Repr.emit(repr, b, 0), 24);
  t.deepEqual(b, WITH_OPTIONS.subarray(0, 24));
});

test("odd-length options are padded with zeros", (t) => {
  const repr: Ipv4Repr = { src: 1, dst: 2, protocol: 6, payloadLen: 0, ttl: 9, ident: 3, dontFrag: false, options: hex("940400") };
  const b = filled(24);
  t.is(Ipv4Repr.emit(repr, b, 0), 24);
  t.is(b[0], 0x46);
  t.deepEqual(b.subarray(20), hex("94040000"));
  t.true(new Ipv4Packet(b).verifyChecksum());
});

test("a bad checksum is malformed unless verification is off", (t) => {
  const b = PACKET.slice();
  b[11] ^= 1;
  t.is(t.throws(() => Ipv4Repr.parse(b, 0, b.length), { instanceOf: WireError })?.kind, "malformed");
  t.is(Ipv4Repr.parse(b, 0, b.length, false).ttl, 64);
});

test("emit range-checks its fields", (t) => {
  const base: Ipv4Repr = { src: 1, dst: 2, protocol: 6, payloadLen: 0, ttl: 9, ident: 3, dontFrag: false };
  const b = new Uint8Array(64);
  t.throws(() => Ipv4Repr.emit({ ...base, fragOffset: 12 }, b, 0), { instanceOf: RangeError });
  t.throws(() => Ipv4Repr.emit({ ...base, ttl: 256 }, b, 0), { instanceOf: RangeError });
  t.throws(() => Ipv4Repr.emit({ ...base, payloadLen: 65516 }, b, 0), { instanceOf: RangeError });
  t.throws(() => Ipv4Repr.emit({ ...base, options: new Uint8Array(41) }, b, 0), { instanceOf: RangeError });
  t.throws(() => Ipv4Repr.emit(base, new Uint8Array(19), 0), { instanceOf: RangeError });
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 0xff });
const optionBytes = fc.integer({ min: 1, max: 10 }).chain((words) => fc.uint8Array({ minLength: words * 4, maxLength: words * 4 }));

const ipv4Repr = fc
  .record({
    src: u32,
    dst: u32,
    protocol: u8,
    payloadLen: fc.integer({ min: 0, max: 1500 }),
    ttl: u8,
    ident: u16,
    dontFrag: fc.boolean(),
    moreFrags: fc.boolean(),
    fragOffset: fc.integer({ min: 0, max: 0x1fff }).map((x) => x * 8),
    dscp: fc.integer({ min: 0, max: 63 }),
    ecn: fc.integer({ min: 0, max: 3 }),
    options: fc.option(optionBytes, { nil: undefined }),
  })
  .map((r) => {
    const { options, ...rest } = r;
    return options ? { ...rest, options } : rest;
  });

testProp("parse ∘ emit is the identity", [ipv4Repr], (t, repr) => {
  const b = new Uint8Array(Ipv4Repr.bufferLen(repr));
  Ipv4Repr.emit(repr, b, 0);
  t.deepEqual(Ipv4Repr.parse(b, 0, b.length), repr);
});

testProp("incremental TTL and address rewrites equal a full recompute", [ipv4Repr, u8, u32, u32], (t, repr, ttl, src, dst) => {
  const b = new Uint8Array(Ipv4Repr.bufferLen(repr));
  Ipv4Repr.emit(repr, b, 0);
  const p = new Ipv4Packet(b);
  p.setTtlWithChecksumUpdate(ttl);
  p.setSrcAddrWithChecksumUpdate(src);
  p.setDstAddrWithChecksumUpdate(dst);
  const incremental = p.checksum();
  t.true(p.verifyChecksum());
  p.fillChecksum();
  t.is(incremental, p.checksum());
});
