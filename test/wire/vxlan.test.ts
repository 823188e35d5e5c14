import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import { VxlanHeader, VxlanRepr, VXLAN_FLAG_I, VXLAN_HEADER_LEN, VXLAN_PORT } from "../../src/wire/vxlan.js";
import { WireError } from "../../src/base/errors.js";
import { FRAMES, filled, hex } from "./helpers.js";

// Ethernet 14 + IPv4 20 + UDP 8.
const HEADER = FRAMES.vxlan.subarray(42, 50);

test("flannel's port", (t) => {
  t.is(VXLAN_PORT, 8472);
});

test("deconstruct", (t) => {
  const v = new VxlanHeader(FRAMES.vxlan, 42).checkLen(FRAMES.vxlan.length - 42);
  t.is(v.flags(), VXLAN_FLAG_I);
  t.is(v.vni(), 1);
  t.is(v.payloadOffset(), 50);
});

test("construct", (t) => {
  const b = filled(10);
  b.fill(0, 1, 9);
  const v = new VxlanHeader(b, 1);
  v.setFlags(VXLAN_FLAG_I);
  v.setVni(1);
  t.deepEqual(b.subarray(1, 9), HEADER);
  t.is(b[0], 0xa5);
  t.is(b[9], 0xa5);
});

test("repr parse and emit", (t) => {
  t.deepEqual(VxlanRepr.parse(HEADER, 0, 8), { vni: 1 });
  const b = filled(8);
  t.is(VxlanRepr.emit({ vni: 1 }, b, 0), VXLAN_HEADER_LEN);
  t.deepEqual(b, HEADER);
  t.deepEqual(VxlanRepr.parse(hex("0c ffffff 123456 ff"), 0, 8), { vni: 0x123456 }, "reserved bits are ignored");
});

test("without the I flag the header is malformed; short is truncated", (t) => {
  t.is(t.throws(() => VxlanRepr.parse(hex("00000000 00000100"), 0, 8), { instanceOf: WireError })?.kind, "malformed");
  t.is(t.throws(() => VxlanRepr.parse(HEADER, 0, 7), { instanceOf: WireError })?.kind, "truncated");
});

test("emitting a VNI outside 24 bits is a RangeError", (t) => {
  const b = new Uint8Array(8);
  t.throws(() => VxlanRepr.emit({ vni: 0x1000000 }, b, 0), { instanceOf: RangeError });
  t.throws(() => VxlanRepr.emit({ vni: -1 }, b, 0), { instanceOf: RangeError });
  t.throws(() => VxlanRepr.emit({ vni: 1.5 }, b, 0), { instanceOf: RangeError });
  t.notThrows(() => VxlanRepr.emit({ vni: 0xffffff }, b, 0));
});

testProp("parse ∘ emit is the identity", [fc.integer({ min: 0, max: 0xffffff })], (t, vni) => {
  const b = new Uint8Array(8);
  VxlanRepr.emit({ vni }, b, 0);
  t.deepEqual(VxlanRepr.parse(b, 0, 8), { vni });
});
