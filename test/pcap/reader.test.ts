import test from "ava";
import { fc, testProp } from "@fast-check/ava";
import { WireError } from "../../src/base/errors.js";
import { MemorySink, PcapWriter, PcapngWriter, readCapture } from "../../src/pcap/index.js";
import { Bytes, END, block, epb, idb, option, shb, spb } from "./build.js";

function throwsOnlyWireError(bytes: Uint8Array): boolean {
  try {
    readCapture(bytes);
    return true;
  } catch (e) {
    if (e instanceof WireError && (e.protocol === "pcap" || e.protocol === "pcapng")) return true;
    throw e;
  }
}

function sampleFiles(): Uint8Array[] {
  const ng = new MemorySink();
  const w = new PcapngWriter(ng, { hardware: "hw", os: "os" });
  w.addInterface({ name: "eth0", description: "node", snaplen: 100 });
  w.writePacket(0, 5, Uint8Array.from({ length: 61 }, (_, i) => i), { comment: "één" });
  w.addInterface({ name: "cni0" });
  w.writePacket(1, 6, new Uint8Array(3));
  w.close();
  const p = new MemorySink();
  const pw = new PcapWriter(p, { nanos: false });
  pw.writePacket(1, new Uint8Array(17));
  pw.writePacket(2, new Uint8Array(0));
  pw.close();
  return [ng.bytes(), p.bytes()];
}

test("big-endian pcap (µs and ns magics) reads correctly", (t) => {
  for (const nanos of [false, true]) {
    const b = new Bytes(false)
      .u32(nanos ? 0xa1b23c4d : 0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(101)
      .u32(1_700_000_000).u32(123_456).u32(3).u32(1500).u8(7, 8, 9)
      .u32(1_700_000_001).u32(0).u32(0).u32(0);
    const cap = readCapture(b.bytes());
    t.is(cap.format, "pcap");
    t.is(cap.nanos, nanos);
    t.is(cap.linktype, 101);
    t.deepEqual(cap.interfaces, [{ linktype: 101, snaplen: 65535, tsresol: nanos ? 9 : 6 }]);
    t.is(cap.packets.length, 2);
    t.is(cap.packets[0]!.tsNs, 1_700_000_000_000_000_000n + 123_456n * (nanos ? 1n : 1000n));
    t.deepEqual([...cap.packets[0]!.data], [7, 8, 9]);
    t.is(cap.packets[0]!.origLen, 1500);
    t.is(cap.packets[1]!.data.length, 0);
  }
});

test("big-endian pcapng with SPB, unknown blocks and tsresol forms reads correctly", (t) => {
  const le = false;
  const bytes = Uint8Array.from([
    ...shb(le, [...option(le, 4, "handmade"), ...END]),
    ...idb(le, 1, 0, [...option(le, 2, "eth0"), ...END]), // default tsresol: µs
    ...block(le, 0x0bad, [1, 2, 3, 4, 5]), // unknown block, skipped by length
    ...epb(le, 0, 0, 1_000_001, [0xaa, 0xbb], 2, [...option(le, 1, "first"), ...option(le, 1, "second"), ...END]),
    ...spb(le, 70, [1, 2, 3, 4, 5, 6, 7, 8]), // captured = min(origLen, data) = 8 (padded block)
    ...idb(le, 228, 9, [...option(le, 2, "if2"), ...option(le, 9, [0x80 | 10]), ...END]), // 2^-10 s
    ...epb(le, 1, 0, 3 * 1024 + 512, [1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ...idb(le, 1, 0, [...option(le, 9, [12]), ...option(le, 14, new Bytes(le).u32(0).u32(100).bytes()), ...END]), // ps, +100 s
    ...epb(le, 2, 0, 2_500_000_000, [0]),
  ]);
  const cap = readCapture(bytes);
  t.is(cap.format, "pcapng");
  t.deepEqual(cap.interfaces, [
    { name: "eth0", linktype: 1, snaplen: 0, tsresol: 6 },
    { name: "if2", linktype: 228, snaplen: 9, tsresol: 0x8a },
    { linktype: 1, snaplen: 0, tsresol: 12 },
  ]);
  t.deepEqual(
    cap.packets.map((p) => [p.interfaceId, p.tsNs, [...p.data], p.origLen, p.comment]),
    [
      [0, 1_000_001_000n, [0xaa, 0xbb], 2, "first"],
      [0, 0n, [1, 2, 3, 4, 5, 6, 7, 8], 70, undefined],
      [1, 3_500_000_000n, [1, 2, 3, 4, 5, 6, 7, 8, 9], 9, undefined],
      [2, 100_002_500_000n, [0], 1, undefined],
    ],
  );
});

test("a second section restarts interface ids and may switch byte order", (t) => {
  const bytes = Uint8Array.from([
    ...shb(true),
    ...idb(true, 1, 0, [...option(true, 2, "a"), ...END]),
    ...epb(true, 0, 0, 1, [1]),
    ...shb(false),
    ...idb(false, 1, 0, [...option(false, 2, "b"), ...END]),
    ...epb(false, 0, 0, 2, [2]),
  ]);
  const cap = readCapture(bytes);
  t.deepEqual(cap.interfaces.map((i) => i.name), ["a", "b"]);
  t.deepEqual(cap.packets.map((p) => [p.interfaceId, p.tsNs]), [[0, 1000n], [1, 2000n]]);
});

test("structural errors are WireErrors with the right protocol and kind", (t) => {
  const bad = (bytes: number[] | Uint8Array) => t.throws(() => readCapture(Uint8Array.from(bytes)), { instanceOf: WireError });
  t.is(bad([]).protocol, "pcap");
  t.is(bad([1, 2, 3, 4, 5, 6, 7, 8]).kind, "unsupported");
  const e1 = bad([...shb(true), ...epb(true, 0, 0, 0, [1])]);
  t.is(e1.protocol, "pcapng");
  t.regex(e1.message, /undefined interface/);
  const s = shb(true);
  s[s.length - 4] = 0; // trailing length differs
  t.is(bad(s).kind, "malformed");
  t.is(bad(shb(true).slice(0, 20)).kind, "truncated");
  const badOpt = [...shb(true), ...idb(true, 1, 0, [...new Bytes(true).u16(2).u16(400).bytes()])];
  t.regex(bad(badOpt).message, /overruns/);
});

testProp(
  "random bytes throw only WireError",
  [fc.uint8Array({ maxLength: 300 })],
  (t, bytes) => {
    t.true(throwsOnlyWireError(bytes));
  },
  { numRuns: 500 },
);

testProp(
  "random bytes behind a valid magic throw only WireError",
  [fc.constantFrom(0, 1, 2, 3, 4), fc.uint8Array({ maxLength: 300 })],
  (t, kind, tail) => {
    const heads = [
      shb(true),
      shb(false),
      [...shb(true), ...idb(true, 1, 0)],
      [0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, ...new Array(16).fill(0)],
      [0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4, ...new Array(16).fill(0)],
    ];
    t.true(throwsOnlyWireError(Uint8Array.from([...heads[kind]!, ...tail])));
  },
  { numRuns: 500 },
);

test("every truncation of valid files throws only WireError", (t) => {
  for (const file of sampleFiles()) {
    for (let n = 0; n < file.length; n++) t.true(throwsOnlyWireError(file.subarray(0, n)));
  }
});

testProp(
  "valid files with corrupted bytes throw only WireError",
  [fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 })],
  (t, which, edits) => {
    const files = sampleFiles();
    const f = files[which % files.length]!.slice();
    for (const [at, val] of edits) f[at % f.length] = val;
    t.true(throwsOnlyWireError(f));
  },
  { numRuns: 1000 },
);
