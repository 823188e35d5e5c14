import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import { EthernetFrame, EthernetRepr, ETHERNET_HEADER_LEN, ETHERTYPE_ARP } from "../../src/wire/ethernet.js";
import { WireError } from "../../src/base/errors.js";
import { parseMac } from "../../src/base/ipv4-int.js";
import { FRAMES, filled } from "./helpers.js";

const HEADER = FRAMES.arpRequest.subarray(0, 14);

test("deconstruct", (t) => {
  const f = new EthernetFrame(FRAMES.arpRequest).checkLen(FRAMES.arpRequest.length);
  t.is(f.dstMac(), 0xffffffffffff);
  t.is(f.srcMac(), parseMac("0a:58:0a:f4:01:02"));
  t.is(f.etherType(), ETHERTYPE_ARP);
  t.is(f.payloadOffset(), 14);
});

test("construct", (t) => {
  const b = filled(20);
  const f = new EthernetFrame(b, 3);
  f.setDstMac(0xffffffffffff);
  f.setSrcMac(parseMac("0a:58:0a:f4:01:02"));
  f.setEtherType(ETHERTYPE_ARP);
  t.deepEqual(b.subarray(3, 17), HEADER);
  t.is(b[2], 0xa5);
  t.is(b[17], 0xa5);
  t.is(f.payloadOffset(), 17);
});

test("wrap rebinds the same view", (t) => {
  const f = new EthernetFrame(new Uint8Array(0));
  t.is(f.wrap(FRAMES.udp, 0), f);
  t.is(f.etherType(), 0x0800);
});

test("repr parse and emit", (t) => {
  const repr = EthernetRepr.parse(FRAMES.arpRequest, 0, FRAMES.arpRequest.length);
  t.deepEqual(repr, { dst: 0xffffffffffff, src: parseMac("0a:58:0a:f4:01:02"), etherType: ETHERTYPE_ARP });
  const b = filled(14);
  t.is(EthernetRepr.emit(repr, b, 0), ETHERNET_HEADER_LEN);
  t.deepEqual(b, HEADER);
  t.is(EthernetRepr.bufferLen(repr), 14);
});

test("short frames are truncated", (t) => {
  const e = t.throws(() => EthernetRepr.parse(FRAMES.udp, 0, 13), { instanceOf: WireError });
  t.is(e?.kind, "truncated");
  t.throws(() => EthernetRepr.parse(FRAMES.udp.subarray(0, 10), 0, 14), { instanceOf: WireError });
});

test("emit range-checks and refuses to write past the buffer", (t) => {
  t.throws(() => EthernetRepr.emit({ dst: 2 ** 48, src: 0, etherType: 0x800 }, new Uint8Array(14), 0), { instanceOf: RangeError });
  t.throws(() => EthernetRepr.emit({ dst: 0, src: 0, etherType: 0x800 }, new Uint8Array(13), 0), { instanceOf: RangeError });
});

const mac = fc.integer({ min: 0, max: 2 ** 48 - 1 });

testProp("parse ∘ emit is the identity", [mac, mac, fc.integer({ min: 0, max: 0xffff })], (t, dst, src, etherType) => {
  const b = new Uint8Array(14);
  EthernetRepr.emit({ dst, src, etherType }, b, 0);
  t.deepEqual(EthernetRepr.parse(b, 0, 14), { dst, src, etherType });
});
