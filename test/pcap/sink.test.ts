import test from "ava";
import { fc, testProp } from "@fast-check/ava";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FILE_SINK_BUFFER_BYTES, FileSink, MemorySink, PcapngWriter, readCapture } from "../../src/pcap/index.js";

const dir = mkdtempSync(join(tmpdir(), "podwire-pcap-sink-"));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

testProp(
  "FileSink with a small buffer writes the same bytes as MemorySink",
  [fc.integer({ min: 1, max: 64 }), fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 40 })],
  (t, bufferBytes, chunks) => {
    const path = join(dir, `small-${n++}.bin`);
    const file = new FileSink(path, bufferBytes);
    const mem = new MemorySink();
    for (const c of chunks) {
      file.write(c);
      mem.write(c);
    }
    file.close();
    mem.close();
    t.deepEqual(new Uint8Array(readFileSync(path)), mem.bytes());
  },
  { numRuns: 100 },
);

test("FileSink streams more than its 256 KiB buffer through a writer, same bytes as MemorySink", (t) => {
  const path = join(dir, "big.pcapng");
  const sinks = [new FileSink(path), new MemorySink()] as const;
  const writers = sinks.map((s) => new PcapngWriter(s));
  for (const w of writers) w.addInterface({ name: "eth0" });
  const frame = Uint8Array.from({ length: 1514 }, (_, i) => i * 7);
  const huge = new Uint8Array(FILE_SINK_BUFFER_BYTES * 2 + 3).fill(0x5a); // larger than the buffer
  let total = 0;
  for (let i = 0; i < 600; i++) {
    const data = i === 300 ? huge : frame.subarray(0, (i * 37) % 1515);
    for (const w of writers) w.writePacket(0, i * 1000, data, { origLen: Math.max(data.length, 1514), comment: i % 50 ? undefined : `#${i}` });
    total += data.length;
  }
  for (const w of writers) w.close();
  t.true(total > FILE_SINK_BUFFER_BYTES * 3);
  const onDisk = new Uint8Array(readFileSync(path));
  t.deepEqual(onDisk, sinks[1].bytes());
  t.is(sinks[0].bytesWritten, onDisk.length);
  t.is(readCapture(onDisk).packets.length, 600);
});

test("sinks refuse writes after close", (t) => {
  const f = new FileSink(join(dir, "closed.bin"));
  f.close();
  f.close(); // idempotent
  t.throws(() => f.write(new Uint8Array(1)));
  const m = new MemorySink();
  m.close();
  t.throws(() => m.write(new Uint8Array(1)));
});
