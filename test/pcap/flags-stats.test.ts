/**
 * epb_flags (pcapng §4.3.1, option 2: bits 0-1 direction) on Enhanced Packet Blocks and
 * Interface Statistics Blocks (§4.6), written byte for byte and read back, in both byte orders.
 */
import test from "ava";
import {
  EPB_FLAGS_INBOUND,
  EPB_FLAGS_OUTBOUND,
  MemorySink,
  PcapngWriter,
  readCapture,
} from "../../src/pcap/index.js";
import { Bytes, END, block, epb, idb, option, shb } from "./build.js";

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

test("EPB with epb_flags: option 2, length 4, the flags word, then opt_endofopt", (t) => {
  const sink = new MemorySink();
  const w = new PcapngWriter(sink, { epochSeconds: 0 });
  w.addInterface({ name: "lo" });
  const start = sink.length;
  w.writePacket(0, 7, Uint8Array.of(1, 2, 3), { flags: EPB_FLAGS_OUTBOUND });
  const epbBytes = sink.bytes().subarray(start);
  t.is(
    hex(epbBytes),
    // type 6, length 48, if 0, ts 0:7, caplen 3, origlen 3, data + pad, epb_flags 2 (outbound), endofopt, length
    "06000000" + "30000000" + "00000000" + "00000000" + "07000000" + "03000000" + "03000000" + "01020300" +
      "02000400" + "02000000" + "00000000" + "30000000",
  );
  // With a comment too: both options, flags first.
  const s2 = new MemorySink();
  const w2 = new PcapngWriter(s2, { epochSeconds: 0 });
  w2.addInterface({ name: "lo" });
  const at = s2.length;
  w2.writePacket(0, 7, Uint8Array.of(1, 2, 3, 4), { flags: EPB_FLAGS_INBOUND, comment: "x" });
  t.is(
    hex(s2.bytes().subarray(at)),
    "06000000" + "38000000" + "00000000" + "00000000" + "07000000" + "04000000" + "04000000" + "01020304" +
      "02000400" + "01000000" + "01000100" + "78000000" + "00000000" + "38000000",
  );
  t.throws(() => w2.writePacket(0, 0, new Uint8Array(1), { flags: -1 }), { instanceOf: RangeError });
});

test("ISB: interface id, timestamp, starttime/endtime as EPB timestamps, 64-bit counters", (t) => {
  const sink = new MemorySink();
  const w = new PcapngWriter(sink, { epochSeconds: 0 });
  w.addInterface({ name: "eth0" });
  const start = sink.length;
  w.writeInterfaceStatistics(0, 5_000_000_001, { startNs: 1, endNs: 5_000_000_001, ifRecv: 10, ifDrop: 2n, usrDeliv: 10 });
  t.is(
    hex(sink.bytes().subarray(start)),
    "05000000" + "58000000" + "00000000" +
      // timestamp 5000000001 ns = 0x1_2a05f201: high 1, low 0x2a05f201
      "01000000" + "01f2052a" +
      "02000800" + "00000000" + "01000000" + // isb_starttime: high 0, low 1
      "03000800" + "01000000" + "01f2052a" + // isb_endtime
      "04000800" + "0a00000000000000" + // isb_ifrecv 10
      "05000800" + "0200000000000000" + // isb_ifdrop 2
      "08000800" + "0a00000000000000" + // isb_usrdeliv 10
      "00000000" + "58000000",
  );
  t.throws(() => w.writeInterfaceStatistics(1, 0, {}), { instanceOf: RangeError });
  t.throws(() => w.writeInterfaceStatistics(0, 0, { ifRecv: -1 }), { instanceOf: RangeError });
});

test("the reader returns epb_flags, the direction and the ISBs the writer wrote", (t) => {
  const sink = new MemorySink();
  const w = new PcapngWriter(sink);
  w.addInterface({ name: "a" });
  w.addInterface({ name: "b" });
  w.writePacket(0, 1_000, Uint8Array.of(1), { flags: EPB_FLAGS_OUTBOUND });
  w.writePacket(1, 2_000, Uint8Array.of(2), { flags: EPB_FLAGS_INBOUND, comment: "c" });
  w.writePacket(1, 3_000, Uint8Array.of(3));
  w.writeInterfaceStatistics(0, 4_000, { comment: "Counters provided by podwire", startNs: 0, endNs: 4_000, ifRecv: 1, ifDrop: 0, osDrop: 0, usrDeliv: 1 });
  w.writeInterfaceStatistics(1, 4_000, { ifRecv: 2n ** 40n, ifDrop: 3 });
  w.close();
  const cap = readCapture(sink.bytes());
  t.deepEqual(cap.packets.map((p) => [p.flags, p.direction, p.comment]), [
    [2, "outbound", undefined],
    [1, "inbound", "c"],
    [undefined, undefined, undefined],
  ]);
  const epoch = 1_704_067_200_000_000_000n;
  t.deepEqual(cap.statistics, [
    { interfaceId: 0, tsNs: epoch + 4_000n, comment: "Counters provided by podwire", startNs: epoch, endNs: epoch + 4_000n, ifRecv: 1n, ifDrop: 0n, osDrop: 0n, usrDeliv: 1n },
    { interfaceId: 1, tsNs: epoch + 4_000n, ifRecv: 2n ** 40n, ifDrop: 3n },
  ]);
});

test("big-endian epb_flags and ISB read correctly; an ISB for an undefined interface is malformed", (t) => {
  const le = false;
  const u64 = (hi: number, lo: number) => [...new Bytes(le).u32(hi).u32(lo).bytes()];
  const bytes = Uint8Array.from([
    ...shb(le),
    ...idb(le, 1, 0, [...option(le, 9, [9]), ...END]),
    ...epb(le, 0, 0, 5, [0xaa], 1, [...option(le, 2, [0, 0, 0, 2]), ...END]),
    ...block(le, 5, [
      ...new Bytes(le).u32(0).u32(0).u32(9).bytes(),
      ...option(le, 2, u64(0, 1)),
      ...option(le, 3, u64(0, 9)),
      ...option(le, 4, u64(1, 2)),
      ...option(le, 5, u64(0, 7)),
      ...END,
    ]),
  ]);
  const cap = readCapture(bytes);
  t.is(cap.packets[0]!.flags, 2);
  t.is(cap.packets[0]!.direction, "outbound");
  t.deepEqual(cap.statistics, [{ interfaceId: 0, tsNs: 9n, startNs: 1n, endNs: 9n, ifRecv: 2n ** 32n + 2n, ifDrop: 7n }]);
  const bad = Uint8Array.from([...shb(le), ...idb(le, 1, 0), ...block(le, 5, [...new Bytes(le).u32(3).u32(0).u32(0).bytes()])]);
  t.throws(() => readCapture(bad), { message: /undefined interface 3/ });
});
