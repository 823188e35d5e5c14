import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import {
  sumBytes,
  foldSum,
  finishChecksum,
  pseudoHeaderSum,
  updateChecksum16,
  updateChecksum32,
} from "../../src/wire/checksum.js";
import { hex } from "./helpers.js";

test("RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2", (t) => {
  const b = hex("0001f203f4f5f6f7");
  t.is(sumBytes(b, 0, 8), 0x2ddf0);
  t.is(foldSum(sumBytes(b, 0, 8)), 0xddf2);
  t.is(finishChecksum(sumBytes(b, 0, 8)), 0x220d);
});

test("odd trailing byte is padded with a zero byte", (t) => {
  t.is(sumBytes(hex("0102ab"), 0, 3), 0x0102 + 0xab00);
});

test("sums over an offset and in even-length pieces agree with one pass", (t) => {
  const b = hex("ff45000073000040004011b861c0a80001c0a800c7");
  const whole = sumBytes(b, 1, 20);
  t.is(sumBytes(b, 11, 10, sumBytes(b, 1, 10)), whole);
  t.is(foldSum(whole), 0xffff);
});

test("pseudo header sum adds addresses, protocol and length as words", (t) => {
  t.is(pseudoHeaderSum(0xc0a80001, 0xc0a800c7, 17, 0x5f), 0xc0a8 + 0x0001 + 0xc0a8 + 0x00c7 + 17 + 0x5f);
});

test("foldSum handles sums beyond 32 bits", (t) => {
  t.is(foldSum(0x1_0000_0000 * 3 + 5), foldSum(foldSum(0x1_0000_0000 * 3) + 5));
  t.is(foldSum(0xffff * 0x20000), 0xffff);
});

const words = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 40 });

// Real headers always hold a non-zero word (IPv4 version, the pseudo header's protocol). Without
// one, all-zero data has two encodings of zero (0x0000 and 0xffff) and the two methods may pick
// different ones, which RFC 1624 §3 discusses.
function checksumOf(ws: number[]): number {
  let s = 0x4500;
  for (const w of ws) s += w;
  return finishChecksum(s);
}

testProp("updateChecksum16 equals a full recompute", [words, fc.nat(), fc.integer({ min: 0, max: 0xffff })], (t, ws, i, v) => {
  const k = i % ws.length;
  const before = checksumOf(ws);
  const old = ws[k]!;
  ws[k] = v;
  t.is(updateChecksum16(before, old, v), checksumOf(ws));
});

testProp(
  "updateChecksum32 equals a full recompute",
  [words, fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff })],
  (t, ws, oldV, newV) => {
    const before = checksumOf([...ws, oldV >>> 16, oldV & 0xffff]);
    t.is(updateChecksum32(before, oldV, newV), checksumOf([...ws, newV >>> 16, newV & 0xffff]));
  },
);
