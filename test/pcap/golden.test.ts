import test from "ava";
import { MemorySink, PcapWriter, PcapngWriter } from "../../src/pcap/index.js";

// Virtual 1.500000123 s after DEFAULT_EPOCH_SECONDS (1704067200 = 0x65920080).
const TS = 1_500_000_123;

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

test("pcap ns: file header and one record, byte for byte", (t) => {
  const sink = new MemorySink();
  const w = new PcapWriter(sink);
  w.writePacket(TS, Uint8Array.of(0xde, 0xad, 0xbe, 0xef), 60);
  w.close();
  const expected =
    // file header: magic a1b23c4d, 2.4, two reserved words, snaplen 262144, linktype 1
    "4d3cb2a1" + "0200" + "0400" + "00000000" + "00000000" + "00000400" + "01000000" +
    // record: sec 1704067201 (0x65920081), ns 500000123 (0x1dcd657b), caplen 4, origlen 60
    "81009265" + "7b65cd1d" + "04000000" + "3c000000" + "deadbeef";
  t.is(hex(sink.bytes()), expected);
});

test("pcap µs: magic a1b2c3d4 and the fraction rounded down to µs", (t) => {
  const sink = new MemorySink();
  const w = new PcapWriter(sink, { nanos: false, snaplen: 2, linktype: 101, epochSeconds: 0 });
  w.writePacket(TS, Uint8Array.of(1, 2, 3));
  const expected =
    "d4c3b2a1" + "0200" + "0400" + "00000000" + "00000000" + "02000000" + "65000000" +
    // sec 1, µs 500000 (0x7a120), caplen cut to the snaplen 2, origlen 3
    "01000000" + "20a10700" + "02000000" + "03000000" + "0102";
  t.is(hex(sink.bytes()), expected);
});

test("pcap writer rejects caplen > origLen and bad timestamps", (t) => {
  const w = new PcapWriter(new MemorySink());
  t.throws(() => w.writePacket(0, new Uint8Array(10), 9), { instanceOf: RangeError });
  t.throws(() => w.writePacket(-1, new Uint8Array(1)), { instanceOf: RangeError });
  t.throws(() => w.writePacket(1.5, new Uint8Array(1)), { instanceOf: RangeError });
  t.throws(() => w.writePacket(Number.NaN, new Uint8Array(1)), { instanceOf: RangeError });
});

test("pcapng: SHB + IDB + EPB with a comment, field by field and byte for byte", (t) => {
  const sink = new MemorySink();
  const w = new PcapngWriter(sink);
  t.is(w.addInterface({ name: "eth0" }), 0);
  w.writePacket(0, TS, Uint8Array.of(1, 2, 3, 4, 5), { comment: "hi" });
  w.close();
  const b = sink.bytes();
  const v = new DataView(b.buffer);

  // Section Header Block: 12 overhead + 16 fixed + shb_userappl "podwire" (4+8) + endofopt (4).
  t.is(v.getUint32(0, true), 0x0a0d0d0a);
  t.is(v.getUint32(4, true), 44);
  t.is(v.getUint32(8, true), 0x1a2b3c4d);
  t.is(v.getUint16(12, true), 1);
  t.is(v.getUint16(14, true), 0);
  t.is(v.getBigInt64(16, true), -1n);
  t.is(v.getUint16(24, true), 4); // shb_userappl
  t.is(v.getUint16(26, true), 7);
  t.is(Buffer.from(b.subarray(28, 35)).toString(), "podwire");
  t.is(b[35], 0); // padding
  t.is(v.getUint32(36, true), 0); // opt_endofopt
  t.is(v.getUint32(40, true), 44);

  // Interface Description Block at 44: 12 + 8 fixed + if_name (4+4) + if_tsresol (4+4) + endofopt.
  const i = 44;
  t.is(v.getUint32(i, true), 1);
  t.is(v.getUint32(i + 4, true), 40);
  t.is(v.getUint16(i + 8, true), 1); // LINKTYPE_ETHERNET
  t.is(v.getUint16(i + 10, true), 0);
  t.is(v.getUint32(i + 12, true), 262144);
  t.is(v.getUint16(i + 16, true), 2); // if_name
  t.is(v.getUint16(i + 18, true), 4);
  t.is(Buffer.from(b.subarray(i + 20, i + 24)).toString(), "eth0");
  t.is(v.getUint16(i + 24, true), 9); // if_tsresol
  t.is(v.getUint16(i + 26, true), 1);
  t.is(b[i + 28], 9);
  t.deepEqual([...b.subarray(i + 29, i + 32)], [0, 0, 0]);
  t.is(v.getUint32(i + 32, true), 0);
  t.is(v.getUint32(i + 36, true), 40);

  // Enhanced Packet Block at 84: 28 fixed + 5 data + 3 pad + opt_comment (4+4) + endofopt + 4.
  const e = 84;
  t.is(v.getUint32(e, true), 6);
  t.is(v.getUint32(e + 4, true), 52);
  t.is(v.getUint32(e + 8, true), 0);
  // 1704067201500000123 ns = 0x17a61017_5acd2f7b
  t.is(v.getUint32(e + 12, true), 0x17a61017);
  t.is(v.getUint32(e + 16, true), 0x5acd2f7b);
  t.is(v.getUint32(e + 20, true), 5);
  t.is(v.getUint32(e + 24, true), 5);
  t.deepEqual([...b.subarray(e + 28, e + 36)], [1, 2, 3, 4, 5, 0, 0, 0]);
  t.is(v.getUint16(e + 36, true), 1); // opt_comment
  t.is(v.getUint16(e + 38, true), 2);
  t.deepEqual([...b.subarray(e + 40, e + 44)], [0x68, 0x69, 0, 0]);
  t.is(v.getUint32(e + 44, true), 0);
  t.is(v.getUint32(e + 48, true), 52);
  t.is(b.length, e + 52);

  const expected =
    "0a0d0d0a2c0000004d3c2b1a01000000ffffffffffffffff" + "04000700" + "706f647769726500" + "00000000" + "2c000000" +
    "0100000028000000" + "0100" + "0000" + "00000400" + "02000400" + "65746830" + "09000100" + "09000000" + "00000000" + "28000000" +
    "0600000034000000" + "00000000" + "1710a617" + "7b2fcd5a" + "05000000" + "05000000" + "0102030405000000" +
    "01000200" + "68690000" + "00000000" + "34000000";
  t.is(hex(b), expected);
});

test("pcapng: SHB options hardware/os/userappl in order; EPB without options has no end marker", (t) => {
  const sink = new MemorySink();
  const w = new PcapngWriter(sink, { hardware: "x86_64", os: "Linux", userappl: "t", epochSeconds: 0 });
  w.addInterface({ name: "a", snaplen: 2 });
  w.writePacket(0, 1, Uint8Array.of(9, 8, 7, 6));
  const b = sink.bytes();
  const v = new DataView(b.buffer);
  t.is(v.getUint16(24, true), 2);
  t.is(Buffer.from(b.subarray(28, 34)).toString(), "x86_64");
  t.is(v.getUint16(36, true), 3);
  t.is(v.getUint16(48, true), 4);
  const shbLen = v.getUint32(4, true);
  const idbLen = v.getUint32(shbLen + 4, true);
  const e = shbLen + idbLen;
  t.is(v.getUint32(e + 4, true), 28 + 4 + 4); // 2 bytes kept by snaplen, padded to 4, no options
  t.is(v.getUint32(e + 16, true), 1);
  t.is(v.getUint32(e + 20, true), 2);
  t.is(v.getUint32(e + 24, true), 4);
  t.is(v.getUint32(e + 32, true), 36);
});

test("pcapng writer: unknown interface id and caplen > origLen throw RangeError", (t) => {
  const w = new PcapngWriter(new MemorySink());
  t.throws(() => w.writePacket(0, 0, new Uint8Array(1)), { instanceOf: RangeError });
  w.addInterface({ name: "x" });
  t.throws(() => w.writePacket(1, 0, new Uint8Array(1)), { instanceOf: RangeError });
  t.throws(() => w.writePacket(0, 0, new Uint8Array(5), { origLen: 4 }), { instanceOf: RangeError });
  t.notThrows(() => w.writePacket(0, 0, new Uint8Array(5), { origLen: 4000 }));
});
