/**
 * `podwire bench`: the kube-proxy modes benchmark (src/bench). Parses the options, shows a
 * progress bar on the terminal (none with --json), prints the table and writes
 * results.json, results.csv, chart-*.svg and report.html into --out.
 */
import { Command } from "commander";
import { PodwireError } from "../base/index.js";
import { PROXY_MODES, type ProxyModeName } from "../bench/modes.js";
import type { BenchOptions } from "../bench/runner.js";

export const DEFAULT_SERVICES = "100,1000,5000,10000,50000";
export const QUICK_SERVICES = "100,1000,5000";
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
  kernelMax: string;
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
    kernel: flags.kernel,
    kernelMaxServices: wholeNumber(flags.kernelMax, "--kernel-max", 0, 1_000_000),
  };
}

export function registerBench(program: Command): void {
  program
    .command("bench")
    .description("benchmark kube-proxy modes at scale: rules and sync times, modelled first-packet cost, podwire's own throughput, and the real kernel where possible")
    .option("--services <list>", `Service counts, comma-separated (default ${DEFAULT_SERVICES}; --quick: ${QUICK_SERVICES})`)
    .option("--endpoints <n>", "endpoints per Service", "10")
    .option("--modes <list>", `kube-proxy modes: ${PROXY_MODES.join(", ")}`, DEFAULT_MODES)
    .option("--connections <n>", "new connections timed end to end per size (default 20000; --quick: 3000)")
    .option("--keepalive <n>", "requests per connection for the keepalive cost figure", "100")
    .option("--quick", "small sizes and counts: a run of about a minute, for a smoke test")
    .option("--seed <n>", "seed for the cluster and every random choice", "1")
    .option("--out <dir>", "directory for results.json, results.csv, chart-*.svg and report.html", "podwire-bench")
    .option("--json", "print results.json to stdout instead of the table (no progress bar)")
    .option("--no-kernel", "do not measure the real kernel (iptables-restore / nft -f, first packets through a namespace)")
    .option("--kernel-max <n>", "largest Service count loaded into the real kernel", "10000")
    .action(async (flags: BenchFlags) => {
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
      let results;
      try {
        results = runBench(opts);
      } finally {
        bar?.stop();
      }
      const written = writeReport(flags.out, results);
      if (json) {
        process.stdout.write(JSON.stringify(results, null, 2) + "\n");
        return;
      }
      const lines = [
        `podwire bench: ${opts.modes.join(", ")}; ${opts.endpoints} endpoints per Service; keepalive ${opts.keepalive}; seed ${opts.seed}; ${(results.durationMs / 1000).toFixed(1)} s`,
        "",
        ...formatTable(results.runs),
        "",
        "columns: rules/VS/ipset = objects on one node; sync = generate the full sync, apply = load it into podwire's dataplane, update = one endpoint change, add svc = one new Service (ms, one node);",
        "  chains / set elems = nftables mode: chains and set/map elements of kube-proxy's nft table (rules = its nft rules);",
        "  1st pkt / later = modelled cost on the client's node (rules evaluated: iptables rules, or nft rules + flannel's iptables rules; IPVS: lookups + rules); nft exprs = nft expressions of the first packet;",
        "  req K=1 / K=n = modelled cost per request without / with keepalive;",
        "  new conn/s, est pkt/s = podwire end to end (compiled core); ref = the reference interpreter; core = the classifier alone; kernel = real iptables-restore / nft -f load and first-packet µs",
        ...results.notes.filter((n) => !n.startsWith("Modelled") && !n.startsWith("Every Service")).map((n) => `note: ${n}`),
        `written: ${written.files.join(", ")}`,
      ];
      process.stdout.write(lines.join("\n") + "\n");
    });
}
