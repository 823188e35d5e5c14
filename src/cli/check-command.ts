/**
 * `podwire check`: boots the cluster (with one probe Pod per node), sends real traffic from
 * every source to every Service port and Pod port, and prints the matrix, the cells that
 * did not answer and a summary. Exit 0 when nothing failed unexpectedly, 1 when something
 * did, 2 on bad input (a PodwireError, printed by main's handler).
 */
import { Command, Option } from "commander";
import type { ProxyMode } from "../cluster/spec.js";

const EXIT_UNEXPECTED = 1;

interface CheckFlags {
  file?: string;
  mode?: ProxyMode;
  seed?: string;
  json?: boolean;
  strict?: boolean;
}

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description("the connectivity matrix of the cluster with real traffic: every Service port (ClusterIP, DNS name, NodePorts, external and LoadBalancer IPs) and Pod port from every node, judged against what Kubernetes says should happen")
    .option("-f, --file <file>", "cluster file (multi-document Kubernetes YAML); default: the embedded cluster")
    .addOption(new Option("--mode <mode>", "kube-proxy mode (default: the Cluster document's proxyMode)").choices(["iptables", "ipvs", "nftables"]))
    .option("--seed <n>", "seed for every random choice")
    .option("--json", "print the summary and every cell as JSON")
    .option("--strict", "refuse objects that change traffic but are not emulated (NetworkPolicy, non-HTTP Gateway API routes, IPv6 families)")
    .action(async (flags: CheckFlags) => {
      // Loaded when the command runs, so that `podwire --help` does not load the emulator.
      const [{ checkJson, formatCheck, runCheck }, { loadSpec }] = await Promise.all([import("../check/index.js"), import("./load-spec.js")]);
      const report = runCheck(loadSpec(flags.file, { seed: flags.seed, mode: flags.mode, strict: flags.strict }));
      if (flags.json) process.stdout.write(JSON.stringify(checkJson(report), null, 2) + "\n");
      else process.stdout.write(formatCheck(report).join("\n") + "\n");
      if (report.summary.unexpected > 0) process.exitCode = EXIT_UNEXPECTED;
    });
}
