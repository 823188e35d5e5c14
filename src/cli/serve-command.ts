/**
 * `podwire serve`: the cluster running on the virtual clock paced to real time, a dashboard
 * page (topology, live counters, traces with their captures), a JSON API and `/metrics`,
 * on loopback unless told otherwise. Runs until interrupted (Ctrl-C, SIGTERM).
 */
import { Command, Option } from "commander";
import { PodwireError } from "../base/index.js";
import type { ProxyMode } from "../cluster/spec.js";

interface ServeFlags {
  file?: string;
  mode?: ProxyMode;
  seed?: string;
  strict?: boolean;
  listen: string;
  speed: string;
  traffic: "idle" | "mix" | "burst";
  watch?: boolean;
  allowRemote?: boolean;
}

/** A speed from 0.001 to 1000 virtual seconds per real second. */
export function parseSpeed(text: string): number {
  const v = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || !(v >= 0.001 && v <= 1000)) {
    throw new PodwireError("E_ARG", `--speed ${JSON.stringify(text)} is not a number from 0.001 to 1000`, { field: "--speed" }, "pass e.g. --speed 1 (real time) or --speed 10 (ten times faster)");
  }
  return v;
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("run the cluster continuously (virtual clock paced to real time) and serve a dashboard: topology, live packet rates and conntrack sizes, traces animated hop by hop with their pcapng; a JSON API and Prometheus /metrics")
    .option("-f, --file <file>", "cluster file (multi-document Kubernetes YAML); default: the embedded cluster")
    .addOption(new Option("--mode <mode>", "kube-proxy mode (default: the Cluster document's proxyMode)").choices(["iptables", "ipvs", "nftables"]))
    .option("--seed <n>", "seed for every random choice")
    .option("--strict", "refuse objects that change traffic but are not emulated (NetworkPolicy, non-HTTP Gateway API routes, IPv6 families)")
    .option("--listen <host:port>", "address to serve on (port 0: any free port); loopback only unless --allow-remote", "127.0.0.1:8080")
    .option("--speed <x>", "virtual seconds per real second (0.001 to 1000)", "1")
    .addOption(new Option("--traffic <profile>", "background traffic: idle, a steady mix of the four kinds of traffic, or bursts of new connections").choices(["idle", "mix", "burst"]).default("mix"))
    .option("--watch", "apply changes to the cluster file's Services and EndpointSlices as kube-proxy syncs would")
    .option("--allow-remote", "allow a --listen address other machines can reach")
    .action(async (flags: ServeFlags) => {
      const speed = parseSpeed(flags.speed);
      if (flags.watch && flags.file === undefined) throw new PodwireError("E_ARG", "--watch needs a cluster file to watch", { field: "--watch" }, "pass -f FILE with --watch");
      const [{ loadSpec, parseSeed }, { parseListen, startServe }] = await Promise.all([import("./load-spec.js"), import("../serve/index.js")]);
      const listen = parseListen(flags.listen, flags.allowRemote ?? false);
      const spec = loadSpec(flags.file, { seed: flags.seed, mode: flags.mode, strict: flags.strict });
      const override = (s: typeof spec) => {
        if (flags.seed !== undefined) s.seed = parseSeed(flags.seed);
        if (flags.mode !== undefined) s.proxyMode = flags.mode;
      };
      const handle = await startServe({ spec, listen, speed, traffic: flags.traffic, watch: flags.watch && flags.file !== undefined ? { file: flags.file, strict: flags.strict ?? false, override } : null });
      process.stdout.write(`podwire serve: cluster ${spec.name} (${spec.nodes.length} nodes, kube-proxy ${spec.proxyMode} mode, traffic ${flags.traffic}, speed ${speed}×) at ${handle.url}\n`);
      process.stdout.write(`  API: ${handle.url}api   metrics: ${handle.url}metrics   stop with Ctrl-C\n`);
      if (!listen.loopback) process.stderr.write(`podwire: warning: listening on ${listen.host}: anyone who can reach it can see and drive this cluster\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          void handle.close().then(resolve);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}
