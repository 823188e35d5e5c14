/**
 * `podwire bench`: the kube-proxy modes benchmark (src/bench). Parses the options, shows a
 * progress bar on the terminal (none with --json), prints the tables and writes
 * results.json, results.csv, chart-*.svg and report.html into --out.
 */
import { Command } from "commander";
import { PodwireError } from "../base/index.js";
import { PROXY_MODES, type ProxyModeName } from "../bench/modes.js";
import type { BenchResults } from "../bench/results.js";
import type { BenchOptions } from "../bench/runner.js";

export const DEFAULT_SERVICES = "100,1000,5000,10000,50000";
export const QUICK_SERVICES = "100,1000,5000";
/** --quick loads at most this many Services into the real kernel (5,000 take the kernel minutes on a busy machine). */
export const QUICK_KERNEL_MAX = 1000;
export const DEFAULT_REPEATS = 5;
export const DEFAULT_MODES = PROXY_MODES.join(",");

export interface BenchFlags {
  services?: string;
  endpoints: string;
  modes: string;
  connections?: string;
  keepalive: string;
  quick?: boolean;
  seed: string;
  out: string;
  json?: boolean;
  kernel: boolean;
  kernelMax?: string;
  repeat?: string;
}

/** A whole number, digits only: `1,0` is not 10, and `1_000` not a thousand (say what you mean). */
function wholeNumber(text: string, flag: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new PodwireError("E_ARG", `${flag} ${JSON.stringify(text)} is not a whole number from ${min} to ${max}`, { field: flag }, `pass e.g. ${flag} ${min === 0 ? 1 : min}`);
  }
  return Number(text);
}

function numberList(text: string, flag: string, min: number, max: number): number[] {
  const items = text.split(",").map((s) => s.trim());
  if (items.every((s) => s === "")) throw new PodwireError("E_ARG", `${flag} is empty`, { field: flag }, `pass e.g. ${flag} 100,1000`);
  return items.map((s) => {
    // Whole numbers, optionally in thousands (`10k`); `1.5k` and empty items are refused.
    const m = /^([0-9]+)(k?)$/i.exec(s);
    const n = m ? Number(m[1]) * (m[2] ? 1000 : 1) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw new PodwireError("E_ARG", `${flag}: ${JSON.stringify(s)} is not a whole number from ${min} to ${max}`, { field: flag }, `pass e.g. ${flag} 100,1000,10k`);
    return n;
  });
}

function modeList(text: string): ProxyModeName[] {
  const items = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const m of items) {
    if (!(PROXY_MODES as readonly string[]).includes(m)) throw new PodwireError("E_ARG", `--modes: unknown mode ${JSON.stringify(m)}`, { field: "--modes" }, `choose from ${PROXY_MODES.join(", ")}`);
  }
  if (items.length === 0) throw new PodwireError("E_ARG", "--modes is empty", { field: "--modes" }, "pass e.g. --modes iptables");
  return [...new Set(items)] as ProxyModeName[];
}

export function benchOptions(flags: BenchFlags): BenchOptions {
  const quick = flags.quick ?? false;
  return {
    services: [...new Set(numberList(flags.services ?? (quick ? QUICK_SERVICES : DEFAULT_SERVICES), "--services", 1, 1_000_000))].sort((a, b) => a - b),
    endpoints: wholeNumber(flags.endpoints, "--endpoints", 1, 64),
    modes: modeList(flags.modes),
    connections: flags.connections !== undefined ? wholeNumber(flags.connections, "--connections", 100, 100_000_000) : quick ? 3000 : 20_000,
    keepalive: wholeNumber(flags.keepalive, "--keepalive", 1, 1_000_000),
    quick,
    seed: wholeNumber(flags.seed, "--seed", 0, 0xffffffff),
    repeats: wholeNumber(flags.repeat ?? String(DEFAULT_REPEATS), "--repeat", 1, 1000),
    kernel: flags.kernel,
    kernelMaxServices: flags.kernelMax !== undefined ? wholeNumber(flags.kernelMax, "--kernel-max", 0, 1_000_000) : quick ? QUICK_KERNEL_MAX : 10_000,
  };
}

/** What the columns mean (each line within 120 columns). */
export const BENCH_LEGEND = [
  "model = build kube-proxy's model; sync = generate the full sync; apply = load it into podwire (the first sync, once);",
  "  update = one endpoint change, add svc = one new Service; kernel load = iptables-restore / nft -f of the full sync.",
  "  RSS before / RSS / peak RSS: the row's own fresh process before setup, after setup (VmRSS), over the row (VmHWM).",
  "1st pkt / later = modelled rules evaluated on the client's node (nftables: nft rules + flannel's iptables rules;",
  "  IPVS: lookups + rules); path = every node; req K = per request; classifier = the core's own count.",
  "core = the classifier alone; new conn/s, est pkt/s = podwire end to end. ×limit = podwire's time per packet (or per",
  "  connection) over the JS limit's: first packet (limit 1st), established packet (limit ct), a new connection (both).",
];

/** Splits a long line at spaces so that it fits `width` columns (continuation lines indented). */
export function wrapLine(line: string, width = 120): string[] {
  if (line.length <= width) return [line];
  const out: string[] = [];
  let rest = line;
  let indent = "";
  while (indent.length + rest.length > width) {
    const room = width - indent.length;
    let cut = rest.lastIndexOf(" ", room);
    if (cut <= 0) cut = room;
    out.push(indent + rest.slice(0, cut));
    rest = rest.slice(cut).trimStart();
    indent = "  ";
  }
  out.push(indent + rest);
  return out;
}

/** Adds `podwire bench`'s options to `cmd` (bench/run.ts, `npm run bench`, adds them to its own command). */
export function addBenchOptions(cmd: Command, defaultOut = "podwire-bench"): Command {
  return cmd
    .option("--services <list>", `Service counts, comma-separated (default ${DEFAULT_SERVICES}; --quick: ${QUICK_SERVICES})`)
    .option("--endpoints <n>", "endpoints per Service", "10")
    .option("--modes <list>", `kube-proxy modes: ${PROXY_MODES.join(", ")}`, DEFAULT_MODES)
    .option("--connections <n>", "new connections timed end to end per size, over all repetitions (default 20000; --quick: 3000)")
    .option("--keepalive <n>", "requests per connection for the keepalive cost figure", "100")
    // No toLocaleString here: it loads ICU's data, 50 ms or more of every start (even --help's).
    .option("--quick", `small sizes and counts, the real kernel up to ${QUICK_KERNEL_MAX} Services: a run of about a minute, for a smoke test`)
    .option("--repeat <n>", "interleaved repetitions of every timed figure (each is reported as the median with min–max)", String(DEFAULT_REPEATS))
    .option("--seed <n>", "seed for the cluster and every random choice", "1")
    .option("--out <dir>", "directory for results.json, results.csv, chart-*.svg and report.html", defaultOut)
    .option("--json", "print results.json to stdout instead of the table (no progress bar)")
    .option("--no-kernel", "do not measure the real kernel (iptables-restore / nft -f, first packets through a namespace)")
    .option("--kernel-max <n>", `largest Service count loaded into the real kernel (default 10000; --quick: ${QUICK_KERNEL_MAX})`);
}

/**
 * Runs the benchmark for `flags` with a progress bar on a terminal's stderr (none with
 * --json), writes the report into --out, and returns the results with the lines to print.
 */
export async function runBenchCommand(flags: BenchFlags): Promise<{ results: BenchResults; lines: string[] }> {
  // Loaded when the command runs, so that `podwire --help` does not load the emulator.
  const [{ default: cliProgress }, { writeReport }, { formatTable }, { runBench }] = await Promise.all([import("cli-progress"), import("../bench/report.js"), import("../bench/results.js"), import("../bench/runner.js")]);
  const opts = benchOptions(flags);
  const json = flags.json ?? false;
  const tty = !json && process.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar({ format: "podwire bench {bar} {percentage}% | {step}", stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
    : null;
  let started = false;
  opts.onStep = (label, done, total) => {
    if (bar) {
      if (!started) {
        bar.start(total, 0, { step: label });
        started = true;
      }
      bar.update(done, { step: label });
    } else if (!json && label !== "done") process.stderr.write(`[${done + 1}/${total}] ${label}\n`);
  };
  let results: BenchResults;
  try {
    results = await runBench(opts);
  } finally {
    bar?.stop();
  }
  const written = writeReport(flags.out, results);
  const lines = [
    `podwire bench: ${opts.modes.join(", ")}; ${opts.endpoints} endpoints per Service; keepalive ${opts.keepalive}; ${opts.repeats} repetition${opts.repeats === 1 ? "" : "s"}; seed ${opts.seed}; ${(results.durationMs / 1000).toFixed(1)} s`,
    "",
    ...formatTable(results.runs),
    "",
    ...BENCH_LEGEND,
    ...results.notes.filter((n) => !n.startsWith("Modelled") && !n.startsWith("Every Service") && !n.startsWith("Timed figures")).map((n) => `note: ${n}`),
    `written: ${written.files.join(", ")}`,
  ].flatMap((l) => wrapLine(l));
  return { results, lines };
}

export function registerBench(program: Command): void {
  const cmd = program
    .command("bench")
    .description("benchmark kube-proxy modes at scale: rules and sync times, modelled first-packet cost, podwire's own throughput beside the JS limit, and the real kernel where possible");
  addBenchOptions(cmd).action(async (flags: BenchFlags) => {
    const { results, lines } = await runBenchCommand(flags);
    process.stdout.write(flags.json ? JSON.stringify(results, null, 2) + "\n" : lines.join("\n") + "\n");
  });
}
