/**
 * Capture-writing throughput: pcap and pcapng writers, 1514- and 64-byte frames, into a
 * FileSink (streamed to a temp file, deleted afterwards) and into a counting null sink.
 * Run: node --import=tsx bench/pcap-write.ts [--mb 200] [--repeats 5]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { hostNowMs } from "../src/base/clock.js";
import { type ByteSink, CountingSink, FileSink, PcapWriter, PcapngWriter } from "../src/pcap/index.js";
import { BENCH_DIR } from "./util.js";

export interface PcapBenchOptions {
  /** Frame bytes written per run; default 200 MB. */
  megabytes?: number;
  repeats?: number;
  frameSizes?: number[];
  /** Where to write the JSON results; null to skip. */
  jsonPath?: string | null;
  log?: (line: string) => void;
}

export interface PcapBenchRun {
  writer: "pcap" | "pcapng";
  sink: "file" | "null";
  frameBytes: number;
  repeat: number;
  packets: number;
  /** Bytes produced by the writer (headers included). */
  outputBytes: number;
  ms: number;
  /** Output megabytes (10^6 bytes) per second. */
  mbPerSec: number;
  packetsPerSec: number;
}

export interface PcapBenchMedian {
  mbPerSec: number;
  packetsPerSec: number;
}

export interface PcapBenchResult {
  machine: { cpus: number; cpuModel: string; node: string };
  config: { megabytes: number; repeats: number; frameSizes: number[] };
  runs: PcapBenchRun[];
  /** Keyed `writer/sink/frameBytes`, e.g. `pcapng/file/1514`. */
  medians: Record<string, PcapBenchMedian>;
}

const DEFAULT_JSON = join(BENCH_DIR, "results", "pcap-write.json");

function oneRun(
  writer: "pcap" | "pcapng",
  sinkKind: "file" | "null",
  frameBytes: number,
  megabytes: number,
  dir: string,
): Omit<PcapBenchRun, "repeat"> {
  const packets = Math.ceil((megabytes * 1e6) / frameBytes);
  const frame = Uint8Array.from({ length: frameBytes }, (_, i) => (i * 31) & 0xff);
  const path = join(dir, `bench.${writer}`);
  const sink: ByteSink & { bytesWritten: number } = sinkKind === "file" ? new FileSink(path) : new CountingSink();
  const t0 = hostNowMs();
  if (writer === "pcap") {
    const w = new PcapWriter(sink);
    for (let i = 0; i < packets; i++) w.writePacket(i * 1200, frame);
    w.close();
  } else {
    const w = new PcapngWriter(sink);
    const ids = [w.addInterface({ name: "eth0" }), w.addInterface({ name: "cni0" })];
    for (let i = 0; i < packets; i++) w.writePacket(ids[i & 1]!, i * 1200, frame);
    w.close();
  }
  const ms = hostNowMs() - t0;
  if (sinkKind === "file") rmSync(path, { force: true });
  const outputBytes = sink.bytesWritten;
  return {
    writer,
    sink: sinkKind,
    frameBytes,
    packets,
    outputBytes,
    ms,
    mbPerSec: outputBytes / 1e6 / (ms / 1000),
    packetsPerSec: packets / (ms / 1000),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function runPcapBench(opts: PcapBenchOptions = {}): PcapBenchResult {
  const megabytes = opts.megabytes ?? 200;
  const repeats = opts.repeats ?? 5;
  const frameSizes = opts.frameSizes ?? [1514, 64];
  const log = opts.log ?? ((line: string) => console.log(line));
  const dir = mkdtempSync(join(tmpdir(), "podwire-pcap-bench-"));
  const runs: PcapBenchRun[] = [];
  try {
    oneRun("pcapng", "null", 64, Math.min(megabytes, 10), dir); // warm-up (JIT)
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const writer of ["pcap", "pcapng"] as const) {
        for (const sink of ["file", "null"] as const) {
          for (const frameBytes of frameSizes) runs.push({ ...oneRun(writer, sink, frameBytes, megabytes, dir), repeat });
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const medians: Record<string, PcapBenchMedian> = {};
  log(`pcap write, ${megabytes} MB of frames per run, median of ${repeats}`);
  log("writer   sink  frame      MB/s     packets/s");
  for (const writer of ["pcap", "pcapng"] as const) {
    for (const sink of ["file", "null"] as const) {
      for (const frameBytes of frameSizes) {
        const these = runs.filter((r) => r.writer === writer && r.sink === sink && r.frameBytes === frameBytes);
        const m = { mbPerSec: median(these.map((r) => r.mbPerSec)), packetsPerSec: median(these.map((r) => r.packetsPerSec)) };
        medians[`${writer}/${sink}/${frameBytes}`] = m;
        log(
          `${writer.padEnd(8)} ${sink.padEnd(5)} ${String(frameBytes).padStart(5)} ${m.mbPerSec.toFixed(0).padStart(9)} ${m.packetsPerSec.toFixed(0).padStart(13)}`,
        );
      }
    }
  }
  const result: PcapBenchResult = {
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", node: process.version },
    config: { megabytes, repeats, frameSizes },
    runs,
    medians,
  };
  const jsonPath = opts.jsonPath === undefined ? DEFAULT_JSON : opts.jsonPath;
  if (jsonPath) {
    mkdirSync(dirname(jsonPath), { recursive: true });
    writeFileSync(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
    log(`wrote ${jsonPath}`);
  }
  return result;
}

function argValue(name: string): number | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runPcapBench({ megabytes: argValue("--mb"), repeats: argValue("--repeats") });
}
