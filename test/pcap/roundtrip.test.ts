import { fc, testProp } from "@fast-check/ava";
import { DEFAULT_EPOCH_SECONDS } from "../../src/base/clock.js";
import { MemorySink, PcapWriter, PcapngWriter, readCapture } from "../../src/pcap/index.js";

const EPOCH_NS = BigInt(DEFAULT_EPOCH_SECONDS) * 1_000_000_000n;

const packetArb = fc.record({
  iface: fc.nat({ max: 3 }),
  tsNs: fc.oneof(fc.maxSafeNat(), fc.nat({ max: 10_000_000_000 })),
  data: fc.uint8Array({ maxLength: 2000 }),
  extra: fc.nat({ max: 100 }), // origLen = data.length + extra
  comment: fc.option(fc.string({ unit: "binary", maxLength: 40 }), { nil: undefined }),
});

testProp(
  "pcapng: written packets read back with exact data, ns timestamps, names and comments",
  [
    fc.array(fc.string({ unit: "binary", minLength: 1, maxLength: 20 }), { minLength: 4, maxLength: 4 }),
    fc.array(packetArb, { maxLength: 30 }),
  ],
  (t, names, packets) => {
    const sink = new MemorySink();
    const w = new PcapngWriter(sink);
    // Interfaces appear lazily, so IDBs often follow EPBs of other interfaces.
    const ids = new Map<number, number>();
    const order: number[] = [];
    for (const p of packets) {
      if (!ids.has(p.iface)) {
        ids.set(p.iface, w.addInterface({ name: names[p.iface]!, description: `if ${p.iface} ✓` }));
        order.push(p.iface);
      }
      w.writePacket(ids.get(p.iface)!, p.tsNs, p.data, { comment: p.comment, origLen: p.data.length + p.extra });
    }
    w.close();
    const cap = readCapture(sink.bytes());
    t.is(cap.format, "pcapng");
    t.deepEqual(
      cap.interfaces.map((i) => [i.name, i.description, i.tsresol, i.linktype]),
      order.map((k) => [names[k], `if ${k} ✓`, 9, 1]),
    );
    t.is(cap.packets.length, packets.length);
    packets.forEach((p, k) => {
      const got = cap.packets[k]!;
      t.is(got.interfaceId, ids.get(p.iface)!);
      t.is(got.tsNs, EPOCH_NS + BigInt(p.tsNs));
      t.deepEqual(got.data, p.data);
      t.is(got.origLen, p.data.length + p.extra);
      t.is(got.comment, p.comment === "" ? undefined : p.comment);
    });
  },
  { numRuns: 150 },
);

testProp(
  "pcap: written packets read back; ns exact, µs rounded down, snaplen truncates",
  [fc.boolean(), fc.integer({ min: 1, max: 3000 }), fc.array(packetArb, { maxLength: 30 })],
  (t, nanos, snaplen, packets) => {
    const sink = new MemorySink();
    const w = new PcapWriter(sink, { nanos, snaplen });
    for (const p of packets) w.writePacket(p.tsNs, p.data, p.data.length + p.extra);
    w.close();
    const cap = readCapture(sink.bytes());
    t.is(cap.format, "pcap");
    t.is(cap.nanos, nanos);
    t.is(cap.linktype, 1);
    t.deepEqual(cap.interfaces, [{ linktype: 1, snaplen, tsresol: nanos ? 9 : 6 }]);
    t.is(cap.packets.length, packets.length);
    packets.forEach((p, k) => {
      const got = cap.packets[k]!;
      const ns = BigInt(p.tsNs);
      t.is(got.tsNs, EPOCH_NS + (nanos ? ns : (ns / 1000n) * 1000n));
      t.deepEqual(got.data, p.data.subarray(0, snaplen));
      t.is(got.origLen, p.data.length + p.extra);
    });
  },
  { numRuns: 150 },
);

testProp(
  "pcapng: 64-bit ns timestamps are exact for any epoch and virtual time",
  [fc.integer({ min: 0, max: 2 ** 34 - 1 - 2 ** 24 }), fc.maxSafeNat()],
  (t, epochSeconds, tsNs) => {
    const sink = new MemorySink();
    const w = new PcapngWriter(sink, { epochSeconds });
    w.writePacket(w.addInterface({ name: "e" }), tsNs, new Uint8Array(0));
    t.is(readCapture(sink.bytes()).packets[0]!.tsNs, BigInt(epochSeconds) * 1_000_000_000n + BigInt(tsNs));
  },
  { numRuns: 300 },
);
