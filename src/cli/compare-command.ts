/**
 * `podwire compare-modes`: runs the flows of `podwire check` through the same cluster in
 * every runnable kube-proxy mode and prints the flows whose outcome differs (verdict,
 * endpoint set, source the endpoint saw), each with its documented reason or
 * "undocumented". Exit 0 when it ran, whatever it found; 2 on bad input (a PodwireError,
 * printed by main's handler).
 */
import type { Command } from "commander";

interface CompareFlags {
  file?: string;
  seed?: string;
  json?: boolean;
  strict?: boolean;
}

export function registerCompare(program: Command): void {
  program
    .command("compare-modes")
    .description("run the flows of check through the cluster in every kube-proxy mode and print the flows whose verdict, endpoint set or source differs, with kube-proxy's documented reason")
    .option("-f, --file <file>", "cluster file (multi-document Kubernetes YAML); default: the embedded cluster; its proxyMode is overridden per run")
    .option("--seed <n>", "seed for every random choice (the same in every mode)")
    .option("--json", "print {modes, flows, differences: [{from, to, proto, port, outcomes, documented, reason}]} as JSON")
    .option("--strict", "refuse objects that change traffic but are not emulated (NetworkPolicy, non-HTTP Gateway API routes, IPv6 families)")
    .action(async (flags: CompareFlags) => {
      // Loaded when the command runs, so that `podwire --help` does not load the emulator.
      const [{ compareJson, formatCompare, runCompare }, { loadSpec }] = await Promise.all([import("../compare/index.js"), import("./load-spec.js")]);
      const report = runCompare(loadSpec(flags.file, { seed: flags.seed, strict: flags.strict }));
      if (flags.json) process.stdout.write(JSON.stringify(compareJson(report), null, 2) + "\n");
      else process.stdout.write(formatCompare(report).join("\n") + "\n");
    });
}
