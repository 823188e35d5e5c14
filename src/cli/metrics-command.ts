/**
 * `podwire metrics`: runs traffic through the cluster once and prints the Prometheus text
 * exposition `podwire serve` serves at /metrics (kube-proxy's, node_exporter's and podwire's
 * metrics), for scripts and CI.
 */
import { Command, Option } from "commander";
import { PodwireError } from "../base/index.js";
import type { ProxyMode } from "../cluster/spec.js";

interface MetricsFlags {
  file?: string;
  mode?: ProxyMode;
  seed?: string;
  strict?: boolean;
  traffic?: "demo" | "idle" | "mix" | "burst";
  duration: string;
}

export function registerMetrics(program: Command): void {
  program
    .command("metrics")
    .description("run traffic through the cluster (the demo's, by default) and print the Prometheus text exposition (0.0.4) of kube-proxy's, node_exporter's and podwire's metrics")
    .option("-f, --file <file>", "cluster file (multi-document Kubernetes YAML); default: the embedded cluster")
    .addOption(new Option("--mode <mode>", "kube-proxy mode (default: the Cluster document's proxyMode)").choices(["iptables", "ipvs", "nftables"]))
    .option("--seed <n>", "seed for every random choice")
    .option("--strict", "refuse objects that change traffic but are not emulated (NetworkPolicy, non-HTTP Gateway API routes, IPv6 families)")
    .addOption(new Option("--traffic <profile>", "the traffic first: the demo's exchanges (default on the embedded cluster), serve's mix (default with -f), burst, or none").choices(["demo", "idle", "mix", "burst"]))
    .option("--duration <seconds>", "virtual seconds of mix or burst traffic (1 to 600)", "2")
    .action(async (flags: MetricsFlags) => {
      const traffic = flags.traffic ?? (flags.file === undefined ? "demo" : "mix");
      if (!/^[0-9]{1,3}$/.test(flags.duration) || Number(flags.duration) < 1 || Number(flags.duration) > 600) {
        throw new PodwireError("E_ARG", `--duration ${JSON.stringify(flags.duration)} is not a whole number of seconds from 1 to 600`, { field: "--duration" }, "pass e.g. --duration 2");
      }
      const [{ loadSpec }, { runDemo }, { bootObserved, clusterExposition }, { TrafficGenerator, planFlows }] = await Promise.all([
        import("./load-spec.js"),
        import("../cluster/demo.js"),
        import("../metrics/index.js"),
        import("../serve/traffic.js"),
      ]);
      const spec = loadSpec(flags.file, { seed: flags.seed, mode: flags.mode, strict: flags.strict });
      const running = bootObserved(spec);
      const { cluster, services } = running;
      if (traffic === "demo") {
        runDemo(spec, { capturePath: null, running });
      } else if (traffic !== "idle") {
        const generator = new TrafficGenerator(cluster, traffic, planFlows(cluster, services));
        generator.start();
        cluster.sim.run(cluster.sim.now() + Number(flags.duration) * 1e9);
        generator.stop();
        // Let the last flows finish (their answers, FINs) before counting.
        cluster.sim.run(cluster.sim.now() + 1e9);
      }
      process.stdout.write(clusterExposition(cluster, running.recorder));
    });
}
