/**
 * The `podwire` command line: argument parsing and printing only. Exit status 0 on
 * success, 2 on bad input (one clear message, no stack), 1 on an internal error.
 */
import { join } from "node:path";
import { Command, CommanderError, Option } from "commander";
import { PodwireError, checkOutputFile, escapeControl, formatIpv4, parseCidr, prepareOutputDir } from "../base/index.js";
import type { TraceStyle } from "../cluster/report.js";
import type { KubeProxyFlags } from "../cluster/services.js";
import type { ClusterSpec, ProxyMode } from "../cluster/spec.js";
import { registerBench } from "./bench-command.js";
import { registerCheck } from "./check-command.js";
import { registerScenario } from "./scenario-command.js";
import { registerCompare } from "./compare-command.js";
import { registerMetrics } from "./metrics-command.js";
import { registerServe } from "./serve-command.js";
import type { TraceRulesArgs } from "./trace-rules.js";
import type { HttpTraceOptions } from "./trace-http.js";
// The emulator itself is loaded by the command that runs it: each action starts with
// `await import("./emulator.js")` (or ./trace-rules.js), so `podwire --help` starts at once.
// Import only types from the emulator here (test/cli/build.test.ts checks).

const EXIT_BAD_INPUT = 2;
const EXIT_INTERNAL = 1;

/** cluster/exchange.ts's DEFAULT_DNS_QUERY, for trace's help without loading the emulator (test/cli/build.test.ts checks they agree). */
const DEFAULT_DNS_QUERY_HELP = "kubernetes.default.svc.cluster.local";

const modeOption = () => new Option("--mode <mode>", "kube-proxy mode (default: the Cluster document's proxyMode)").choices(["iptables", "ipvs", "nftables"]);

/** A whole number option within [min, max]; anything else is a one-line error naming the option. */
function parseIntArg(text: string, option: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new PodwireError("E_ARG", `${option} ${JSON.stringify(text)} is not a whole number from ${min} to ${max}`, { field: option }, `pass e.g. ${option} ${min}`);
  }
  return Number(text);
}

/** Comma-separated IPv4 CIDRs, or the word primary. */
function parseCidrList(text: string, option: string): string[] {
  const items = text.split(",");
  for (const item of items) {
    if (item !== "primary" && parseCidr(item) === null) {
      throw new PodwireError("E_ARG", `${option}: ${JSON.stringify(item)} is neither an IPv4 CIDR nor primary`, { field: option }, `pass e.g. ${option} 192.168.56.0/24`);
    }
  }
  return items;
}

function out(lines: string[]): void {
  process.stdout.write(lines.join("\n") + "\n");
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("podwire")
    .description("A packet-level emulator of a Kubernetes cluster's network dataplane: real frames through veths, bridges and a VXLAN overlay, captured to pcapng.")
    .version("0.1.0")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();

  program
    .command("demo")
    .description("run the kinds of Kubernetes traffic on the embedded default cluster, print hop-by-hop traces and write DIR/demo.pcapng")
    .option("--out <dir>", "directory for demo.pcapng", "captures")
    .option("--seed <n>", "seed for every random choice (ports, sequence numbers, MACs)")
    .addOption(modeOption())
    .option("--verbose", "print every event of each trace: rule paths, deciding rules, conntrack, frames")
    .option("--brief", "print only the endpoints' events of each trace, in the --verbose form")
    .option("--comments", "comment every captured frame with the device and direction")
    .option("--no-capture", "do not write a capture")
    .option("--quiet", "print only the summary")
    .option("--keylog <file>", "add an HTTPS step through the Gateway and write its TLS secrets (SSLKEYLOGFILE) here; TLS's random bytes make that capture differ run to run")
    .action(async (opts: { out: string; seed?: string; mode?: ProxyMode; verbose?: boolean; brief?: boolean; comments?: boolean; capture: boolean; quiet?: boolean; keylog?: string }) => {
      const { formatTrace, loadSpec, runDemo, wrapText } = await import("./emulator.js");
      const { formatHttpDetails, runDemoWithHttps } = await import("./emulator-l7.js");
      const spec = loadSpec(undefined, { seed: opts.seed, mode: opts.mode });
      let capturePath: string | null = null;
      if (opts.capture) {
        prepareOutputDir(opts.out, "--out");
        capturePath = join(opts.out, "demo.pcapng");
      }
      if (opts.keylog !== undefined) checkOutputFile(opts.keylog, "--keylog");
      const run = opts.keylog !== undefined ? await runDemoWithHttps(spec, { capturePath, comments: opts.comments ?? false, keylog: opts.keylog }) : runDemo(spec, { capturePath, comments: opts.comments ?? false });
      const lines: string[] = [];
      const style: TraceStyle = opts.verbose ? "verbose" : opts.brief ? "brief" : "summary";
      if (!opts.quiet) {
        lines.push(...wrapText(`podwire demo on cluster ${spec.name}: ${run.cluster.nodes.size} nodes, ${run.cluster.pods.size} pods, overlay ${spec.overlay}, kube-proxy ${spec.proxyMode} mode, seed ${spec.seed}`, "", "  "));
        for (const [i, r] of run.results.entries()) {
          lines.push("");
          lines.push(...wrapText(`── ${i + 1}. ${r.title}`, "", "      "));
          lines.push(...formatTrace(r, { style }));
          if ("log" in r) lines.push(...formatHttpDetails(run.cluster, r as Parameters<typeof formatHttpDetails>[1]));
        }
        lines.push("");
      }
      lines.push("summary:");
      for (const [i, r] of run.results.entries()) {
        const us = ((r.endNs - r.startNs) / 1000).toFixed(1);
        lines.push(...wrapText(`${r.ok ? "ok  " : "FAIL"} ${i + 1}. ${r.title} (${r.events.length} events, ${us} µs virtual)`, "  ", "          "));
      }
      if (run.capture) {
        lines.push(...wrapText(`capture: ${run.capture.path} (${run.capture.frames} frames, ${run.cluster.devices.length} interfaces)`, "", "  "));
        lines.push(...wrapText(`open it in Wireshark, or: tshark -r ${run.capture.path} -d udp.port==8472,vxlan${opts.keylog ? ` -o tls.keylog_file:${opts.keylog}` : ""}`, "  ", "    "));
      }
      lines.push("next: the failures people debug, reproduced and fixed: podwire scenario list");
      out(lines);
      if (run.results.some((r) => !r.ok)) process.exitCode = EXIT_INTERNAL;
    });

  program
    .command("trace")
    .description("trace one exchange, request and reply, hop by hop (kube-proxy's rules included); port 53 gets a real DNS query, other TCP ports an HTTP request, other UDP ports an echo")
    .option("-f, --file <file>", "cluster file (multi-document Kubernetes YAML); default: the embedded cluster")
    .option("--strict", "refuse objects that change traffic but are not emulated (NetworkPolicy, non-HTTP Gateway API routes, IPv6 families)")
    .requiredOption("--from <source>", "pod/NS/NAME, node/NAME or ext/NAME|IP")
    .requiredOption("--to <dest>", "pod/NS/NAME[:PORT], svc/NS/NAME[:PORT], node/NAME[:PORT] (NodePorts), IP[:PORT], or http(s)://HOST[:PORT]/PATH through the cluster's ingress controller")
    .addOption(new Option("--proto <proto>", "protocol").choices(["tcp", "udp", "icmp"]).default("tcp"))
    .option("--query <name>", `the name a DNS trace (port 53, UDP or TCP) asks for (default: ${DEFAULT_DNS_QUERY_HELP})`)
    .option("--verbose", "print every event: rule paths, deciding rules, conntrack, frames")
    .option("--json", "print the result as JSON (schemaVersion 1: see the README's Trace JSON schema)")
    .option("--pcap <file>", "write the exchange's frames to this pcapng file; each hop then names its frame number")
    .option("--seed <n>", "seed for every random choice")
    .addOption(modeOption())
    .option("--keylog <file>", "http(s):// only: write the TLS secrets in SSLKEYLOGFILE format, for Wireshark to decrypt the capture")
    .option("-k, --insecure", "https:// only: do not check the controller's certificate (curl -k)")
    .option("--method <method>", "http(s):// only: the request method (default GET)")
    .option("--header <header>", "http(s):// only: add a request header NAME: VALUE (repeatable)", (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option("--repeat <n>", "http(s):// only: send the request N times on one keep-alive connection")
    .action(async (opts: { file?: string; strict?: boolean; from: string; to: string; proto: "tcp" | "udp" | "icmp"; query?: string; verbose?: boolean; json?: boolean; pcap?: string; seed?: string; mode?: ProxyMode } & HttpTraceOptions) => {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(opts.to)) {
        // A URL: an HTTP request through the ingress controller (trace-http.ts).
        if (opts.proto !== "tcp" || opts.query !== undefined) throw new PodwireError("E_ARG", "--proto and --query do not apply to an http(s):// destination", { field: "--to" }, "leave them out: an http(s) trace is an HTTP request over TCP");
        const [{ loadSpec }, { traceHttp }] = await Promise.all([import("./emulator.js"), import("./trace-http.js")]);
        const spec = loadSpec(opts.file, { seed: opts.seed, mode: opts.mode, strict: opts.strict });
        const r = await traceHttp(spec, opts);
        process.stdout.write(r.text);
        if (!r.ok) process.exitCode = EXIT_INTERNAL;
        return;
      }
      for (const o of ["keylog", "insecure", "method", "header", "repeat"] as const) {
        if (opts[o] !== undefined) throw new PodwireError("E_ARG", `--${o} applies to http(s):// destinations only`, { field: `--${o}` }, "trace to http://HOST/PATH, or leave it out");
      }
      const { CaptureSession, bootCluster, formatTrace, loadSpec, parseDestination, parseSource, resolveTraceTarget, runTrace, traceJsonDocument, wrapText } = await import("./emulator.js");
      const spec = loadSpec(opts.file, { seed: opts.seed, mode: opts.mode, strict: opts.strict });
      const { cluster, services } = bootCluster(spec);
      const src = parseSource(cluster, opts.from);
      const dst = parseDestination(cluster, opts.to, "--to", services);
      const target = resolveTraceTarget(cluster, services, dst, opts.to, opts.proto, opts.query, {
        field: (arg) => `--${arg}`,
        show: (arg, value) => `--${arg} ${value}`,
        proto: "--proto",
        queryLead: "--query asks a DNS question",
        queryHint: "trace to port 53 over udp or tcp, e.g. --to svc/kube-system/kube-dns --proto udp",
      });
      if (opts.pcap !== undefined) checkOutputFile(opts.pcap, "--pcap");
      const capture = opts.pcap !== undefined ? CaptureSession.toFile(opts.pcap, cluster.devices, { numberTraceFrames: true }) : null;
      // A failed exchange aborts the capture: an earlier capture at the path stays as it was.
      const { result, path } = runTrace(cluster, src, dst, opts.proto, target, capture);
      if (opts.json) {
        const json = traceJsonDocument(src.label, dst.label, dst.ip, target.port, opts.proto, result, path, opts.pcap ?? null);
        process.stdout.write(JSON.stringify(json, null, 2) + "\n");
      } else {
        const lines = formatTrace(result, { style: opts.verbose ? "verbose" : "summary" });
        if (path.node !== null && path.verdict !== null) {
          lines.push(...wrapText(`kube-proxy rules on ${path.node}: ${path.verdict}${path.endpoint ? `, DNAT to ${path.endpoint}` : ""}${path.masquerade ? ", masqueraded" : ""}`, "  ", "    "));
          if (path.candidates.length > 1) {
            lines.push(...wrapText(`possible endpoints: ${path.candidates.map((c) => `${c.destination} (${(c.probability * 100).toFixed(1)}%)`).join(", ")}`, "  ", "    "));
          }
        }
        if (opts.pcap) lines.push(...wrapText(`capture: ${opts.pcap}`, "", "  "));
        out(lines);
      }
      if (!result.ok) process.exitCode = EXIT_INTERNAL;
    });

  program
    .command("trace-rules")
    .description("follow one packet through a node's rules, offline and without root: an iptables-save dump, nft text (nft list ruleset, or an nft -f transaction), or both; every rule that matched, the verdict, NAT, mark, masquerade, and where statistic/numgen rules could send it")
    .requiredOption("--rules <file>", "iptables-save text (`iptables-save > rules.txt`) or nft text (`nft list ruleset > rules.nft`), detected from the content; give it twice for a node's iptables and nft rules together", (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .addOption(new Option("--format <format>", "the format of the --rules files (default: detected from each file)").choices(["iptables", "nft"]))
    .requiredOption("--packet <spec>", 'the packet, e.g. "tcp 10.244.1.5:40000 > 10.96.0.1:443" or "icmp 10.0.0.1 > 10.0.0.2"')
    .addOption(new Option("--hook <hook>", "where the packet enters: prerouting (arrives on an interface) or output (sent by the node)").choices(["prerouting", "output"]).default("prerouting"))
    .option("--in <iface>", "input interface (for -i and meta iifname matches)")
    .option("--out <iface>", "output interface (for -o and meta oifname matches)")
    .option("--local <ips>", "the node's own addresses, comma-separated (loopback is always local); decides INPUT vs FORWARD, addrtype LOCAL and fib daddr type local")
    .option("--mark <n>", "initial packet mark (decimal or 0x hex)")
    .option("--ctstate <state>", "conntrack state: NEW, ESTABLISHED, RELATED, INVALID, UNTRACKED", "NEW")
    .option("--ipsets <file>", "ipset save text for -m set rules")
    .option("--noflush", "load iptables text like iptables-restore --noflush: a later *table section adds to the table (as kube-proxy loads `podwire rules` output)")
    .option("--json", "print the result as JSON")
    .option("--seed <n>", "seed for the statistic/numgen draws of the traced path")
    .action(async (opts: TraceRulesArgs & { json?: boolean }) => {
      const { formatTraceRules, runTraceRules, traceRulesJson } = await import("./trace-rules.js");
      // Rule text, comments and chain names come from the user's file: escaped before printing.
      const result = runTraceRules(opts, (w) => process.stderr.write(`podwire: warning: ${escapeControl(w)}\n`));
      if (opts.json) process.stdout.write(JSON.stringify(traceRulesJson(result), null, 2) + "\n");
      else out(formatTraceRules(opts, result).map(escapeControl));
    });

  program
    .command("rules")
    .description("print the iptables rules kube-proxy writes on a node (restore text, loadable with iptables-restore --noflush)")
    .option("-f, --file <file>", "cluster file; default: the embedded cluster")
    .option("--strict", "refuse objects that change traffic but are not emulated (NetworkPolicy, non-HTTP Gateway API routes, IPv6 families)")
    .requiredOption("--node <name>", "the node")
    .addOption(new Option("--mode <mode>", "proxy mode (default: the Cluster document's)").choices(["iptables", "ipvs", "nftables"]))
    .option("--cluster-cidr <cidr>", "kube-proxy's --cluster-cidr (the local-traffic detector); default: the cluster's")
    .option("--masquerade-all", "kube-proxy's --masquerade-all")
    .option("--no-random-fully", "as if iptables had no --random-fully")
    .option("--nfacct", "add kube-proxy's nfacct matches (kernels with nfacct)")
    .option("--no-localhost-nodeports", "kube-proxy's --iptables-localhost-nodeports=false")
    .option("--masquerade-bit <n>", "kube-proxy's --iptables-masquerade-bit (0-31, default 14)")
    .option("--nodeport-addresses <cidrs>", "kube-proxy's --nodeport-addresses: comma-separated CIDRs, or primary")
    .addOption(new Option("--detect-local-mode <mode>", "kube-proxy's --detect-local-mode").choices(["ClusterCIDR", "NodeCIDR"]))
    .option("--conntrack-tcp-be-liberal", "kube-proxy's conntrack.tcpBeLiberal (no INVALID drop rule; the node's nf_conntrack_tcp_be_liberal=1)")
    .option("--save-format", "print the node's whole ruleset as iptables-save prints it (flannel's rules and kube-proxy's, canonical form)")
    .action(async (opts: { file?: string; strict?: boolean; node: string; mode?: "iptables" | "ipvs" | "nftables"; clusterCidr?: string; masqueradeAll?: boolean; randomFully: boolean; nfacct?: boolean; localhostNodeports: boolean; masqueradeBit?: string; nodeportAddresses?: string; detectLocalMode?: "ClusterCIDR" | "NodeCIDR"; conntrackTcpBeLiberal?: boolean; saveFormat?: boolean }) => {
      const { bootCluster, loadSpec, printRuleset } = await import("./emulator.js");
      const spec = loadSpec(opts.file, { strict: opts.strict });
      if (opts.mode) spec.proxyMode = opts.mode;
      // Flags override the Cluster document's kubeProxy block only where they are given.
      const flags: KubeProxyFlags = {};
      if (!opts.randomFully) flags.randomFully = false;
      if (!opts.localhostNodeports) flags.localhostNodePorts = false;
      if (opts.clusterCidr !== undefined) flags.clusterCIDR = opts.clusterCidr;
      if (opts.masqueradeAll) flags.masqueradeAll = flags.nftablesMasqueradeAll = true;
      if (opts.nfacct) flags.nfacct = true;
      if (opts.masqueradeBit !== undefined) flags.masqueradeBit = flags.nftablesMasqueradeBit = parseIntArg(opts.masqueradeBit, "--masquerade-bit", 0, 31);
      if (opts.nodeportAddresses !== undefined) flags.nodePortAddresses = parseCidrList(opts.nodeportAddresses, "--nodeport-addresses");
      if (opts.detectLocalMode !== undefined) flags.detectLocalMode = opts.detectLocalMode;
      if (opts.conntrackTcpBeLiberal) flags.conntrackTCPLiberal = true;
      const { cluster, services } = bootCluster(spec, flags);
      const node = cluster.node(opts.node);
      if (!node) {
        throw new PodwireError("E_ARG", `no node ${JSON.stringify(opts.node)} in this cluster`, { field: "--node" }, `known: ${[...cluster.nodes.keys()].join(", ")}`);
      }
      if (opts.saveFormat) {
        process.stdout.write(printRuleset(node.netfilter.ruleset));
        return;
      }
      process.stdout.write(services.proxy.describe(node, services.model));
    });

  program
    .command("ipvs")
    .description("run the demo's traffic in IPVS mode and print a node's `ipvsadm -Ln` view (with connection counts) and `ipvsadm -Lnc` connections")
    .option("-f, --file <file>", "cluster file; default: the embedded cluster")
    .option("--strict", "refuse objects that change traffic but are not emulated (NetworkPolicy, non-HTTP Gateway API routes, IPv6 families)")
    .requiredOption("--node <name>", "the node")
    .option("--seed <n>", "seed for every random choice")
    .option("--no-traffic", "print the table without running any traffic first")
    .action(async (opts: { file?: string; strict?: boolean; node: string; seed?: string; traffic: boolean }) => {
      const { bootCluster, formatIpvsadmConnections, formatIpvsadmList, loadSpec, runDemo } = await import("./emulator.js");
      const spec = loadSpec(opts.file, { seed: opts.seed, mode: "ipvs", strict: opts.strict });
      const run = opts.traffic ? runDemo(spec, { capturePath: null }) : { cluster: bootCluster(spec).cluster, services: null };
      const table = run.cluster.node(opts.node)?.netfilter.ipvs;
      if (!table) {
        throw new PodwireError("E_ARG", `no node ${JSON.stringify(opts.node)} in this cluster`, { field: "--node" }, `known: ${[...run.cluster.nodes.keys()].join(", ")}`);
      }
      process.stdout.write(formatIpvsadmList(table.services()));
      process.stdout.write("\n");
      process.stdout.write(formatIpvsadmConnections(table.connections(), run.cluster.sim.now()));
    });

  program
    .command("cluster")
    .description("print the topology: nodes, podCIDRs, devices, routes, Pods and their IPs")
    .option("-f, --file <file>", "cluster file; default: the embedded cluster")
    .option("--strict", "refuse objects that change traffic but are not emulated (NetworkPolicy, non-HTTP Gateway API routes, IPv6 families)")
    .option("--json", "print the resolved cluster spec as JSON")
    .option("--yaml", "print the cluster as a cluster file (every allocated address pinned) that loads back unchanged: start your own from it")
    .action(async (opts: { file?: string; strict?: boolean; json?: boolean; yaml?: boolean }) => {
      const { Cluster, clusterDocumentYaml, formatTopology, loadSpec, nodeDocumentsYaml } = await import("./emulator.js");
      const spec = loadSpec(opts.file, { strict: opts.strict });
      if (opts.yaml) {
        if (opts.json) throw new PodwireError("E_ARG", "--yaml and --json print the cluster in two different forms", { field: "--yaml" }, "give one of them");
        const { clusterFileYaml } = await import("./emulator-l7.js");
        process.stdout.write(clusterFileYaml(spec));
        return;
      }
      const cluster = new Cluster(spec);
      if (opts.json) {
        process.stdout.write(JSON.stringify(specToJson(spec), null, 2) + "\n");
        return;
      }
      const lines = formatTopology(cluster);
      if (spec.inferred) {
        lines.push("", "# The file has no Cluster document; these settings were inferred:");
        for (const note of spec.inferred) lines.push(`#   ${note}`);
        const withNodes = spec.inferred.some((note) => note.startsWith("no Nodes"));
        const docs = clusterDocumentYaml(spec) + (withNodes ? "---\n" + nodeDocumentsYaml(spec) : "");
        lines.push(`# Pin them by putting ${withNodes ? "these documents" : "this document"} in front of the file:`, "---", ...docs.trimEnd().split("\n"), "---");
      }
      out(lines);
    });

  registerBench(program);
  registerCheck(program);
  registerScenario(program);
  registerCompare(program);
  registerServe(program);
  registerMetrics(program);
  return program;
}

function specToJson(spec: ClusterSpec): unknown {
  const cidr = (c: { net: number; prefixLen: number }) => `${formatIpv4(c.net)}/${c.prefixLen}`;
  return {
    name: spec.name,
    source: spec.source,
    clusterCIDR: cidr(spec.clusterCIDR),
    nodeCIDRMaskSize: spec.nodeCIDRMaskSize,
    serviceCIDR: cidr(spec.serviceCIDR),
    nodeNetwork: cidr(spec.nodeNetwork),
    nodeMTU: spec.nodeMTU,
    overlay: spec.overlay,
    proxyMode: spec.proxyMode,
    seed: spec.seed,
    nodes: spec.nodes.map((n) => ({ name: n.name, internalIP: formatIpv4(n.internalIP), podCIDR: cidr(n.podCIDR), schedulable: n.schedulable, controlPlane: n.controlPlane })),
    pods: spec.pods.map((p) => ({ namespace: p.namespace, name: p.name, nodeName: p.nodeName, podIP: formatIpv4(p.podIP), hostNetwork: p.hostNetwork, labels: p.labels, ownerReferences: p.owners ?? [], containers: p.containers })),
    externalHosts: spec.externalHosts.map((e) => ({ name: e.name, ip: formatIpv4(e.ip) })),
    inferred: spec.inferred ?? null,
    loaded: spec.summary?.text ?? null,
  };
}

export async function main(argv: string[]): Promise<number> {
  // `podwire … | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? 0 : EXIT_BAD_INPUT;
    }
    if (err instanceof PodwireError) {
      process.stderr.write(`podwire: error: ${escapeControl(err.message)}\n`);
      return EXIT_BAD_INPUT;
    }
    process.stderr.write(`podwire: internal error (please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT_INTERNAL;
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (invokedDirectly) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
