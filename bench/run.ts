/**
 * `npm run bench`: every figure issue 12 lists, in one run, each beside the JS limit
 * measured in the same runs (src/bench/limit.ts):
 *   1. `podwire bench` (src/bench): the kube-proxy modes at each size, one fresh process per
 *      row (first-packet classification, new connections end to end, memory, control plane,
 *      the real kernel), written with its charts to --out (default bench/results/bench/);
 *   2. the conntrack fast path and end-to-end UDP with and without netfilter
 *      (bench/core-figures.ts);
 *   3. start-up: `podwire --help` and `podwire trace` beside bare `node -e 0`
 *      (bench/startup.ts);
 * then the summary table (bench/summary.ts) and bench/results/bench.json. Arguments are
 * `podwire bench`'s, plus --no-rows, --no-core and --no-startup, e.g.
 *   npm run bench -- --quick
 *   npm run bench -- --services 100,10000,50000 --modes iptables,nftables
 * The foundation benchmarks one by one are `npm run bench:foundation` (bench/foundation.ts).
 */
import { loadavg } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Command, CommanderError } from "commander";
import { PodwireError } from "../src/base/index.js";
import { type BenchFlags, addBenchOptions, benchOptions, runBenchCommand, wrapLine } from "../src/cli/bench-command.js";
import { measureCoreFigures } from "./core-figures.js";
import { measureStartup } from "./startup.js";
import { formatSummary, summaryRows } from "./summary.js";
import { BENCH_DIR, machineInfo, writeResult } from "./util.js";

interface RunFlags extends BenchFlags {
  rows: boolean;
  core: boolean;
  startup: boolean;
}

const ROOT = join(BENCH_DIR, "..");

async function main(flags: RunFlags): Promise<void> {
  const started = performance.now();
  const { results, lines } = flags.rows ? await runBenchCommand(flags) : { results: null, lines: [] };
  const repeats = results?.options.repeats ?? benchOptions(flags).repeats;
  const quick = flags.quick ?? false;
  const say = (s: string): void => {
    if (!flags.json) process.stderr.write(`${s}\n`);
  };
  let core = null;
  if (flags.core) {
    say("core figures: conntrack fast path and end-to-end UDP, beside the conntrack-style limit");
    core = measureCoreFigures({ repeats, quick, onStep: say });
  }
  let startup = null;
  if (flags.startup) {
    say("start-up: podwire --help and podwire trace beside node -e 0");
    // scripts/ is plain JavaScript beside bench/, not compiled into dist/bench: found from the package root.
    const { distState } = (await import(pathToFileURL(join(ROOT, "scripts", "dist-state.mjs")).href)) as typeof import("../scripts/dist-state.mjs");
    const state = distState(["src"], ROOT);
    startup = measureStartup(ROOT, repeats, state.fresh ? "dist (the compiled build)" : `tsx (the sources: ${state.reason})`);
  }
  const summary = summaryRows(results, core, startup);
  // Without the rows the file is named for its parts, so that it does not replace a full run's.
  const name = flags.rows ? "bench" : ["bench", ...(flags.core ? ["core"] : []), ...(flags.startup ? ["startup"] : [])].join("-");
  const path = writeResult(name, { machine: machineInfo(), loadAvg: loadavg(), summary, core, startup, podwireBench: results, totalMs: Math.round(performance.now() - started) });
  if (flags.json) {
    process.stdout.write(JSON.stringify({ summary, core, startup, podwireBench: results }, null, 2) + "\n");
    return;
  }
  const out = [
    ...(lines.length > 0 ? [...lines, ""] : []),
    `issue 12's figures (median of ${repeats} interleaved runs; ×limit = podwire's time ÷ the JS limit's, same runs)`,
    ...formatSummary(summary),
    ...(startup ? wrapLine(`start-up ran ${startup.ran}; CPU ms (user + system): node ${startup.node.cpuMs?.median ?? "-"}, --help ${startup.help.cpuMs?.median ?? "-"}, trace ${startup.trace.cpuMs?.median ?? "-"}`) : []),
    `written: ${path} (${((performance.now() - started) / 1000).toFixed(1)} s in all)`,
  ];
  process.stdout.write(out.join("\n") + "\n");
}

const program = addBenchOptions(new Command("npm run bench"), join(BENCH_DIR, "results", "bench"))
  .description("every figure of issue 12 beside the JS limit: podwire bench, the conntrack fast path, end-to-end UDP, start-up")
  .option("--no-rows", "skip podwire bench's rows (the modes at each size)")
  .option("--no-core", "skip the conntrack fast path and end-to-end UDP figures")
  .option("--no-startup", "skip the start-up figures")
  .exitOverride()
  .action(main);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? 0 : 2;
  else if (err instanceof PodwireError) {
    process.stderr.write(`podwire: error: ${err.message}\n`);
    process.exitCode = 2;
  } else throw err;
}
