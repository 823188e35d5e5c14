/**
 * `npm run bench`: the kube-proxy modes benchmark, `podwire bench` (src/bench,
 * src/cli/bench-command.ts). Arguments pass through, e.g.
 *   npm run bench -- --quick
 *   npm run bench -- --services 100,1000,10000 --modes iptables --out bench/standard
 * The foundation benchmarks (pcap writing, end-to-end UDP, conntrack, netfilter) are
 * `npm run bench:foundation` (bench/foundation.ts).
 */
import { CommanderError } from "commander";
import { PodwireError } from "../src/base/index.js";
import { registerBench } from "../src/cli/bench-command.js";
import { buildProgram } from "../src/cli/main.js";

const program = buildProgram();
if (!program.commands.some((c) => c.name() === "bench")) registerBench(program);
try {
  await program.parseAsync([process.argv[0]!, process.argv[1]!, "bench", ...process.argv.slice(2)]);
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? 0 : 2;
  else if (err instanceof PodwireError) {
    process.stderr.write(`podwire: error: ${err.message}\n`);
    process.exitCode = 2;
  } else throw err;
}
