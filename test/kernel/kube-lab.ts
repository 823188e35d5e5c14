/**
 * Helpers for the kube-proxy-vs-kernel suite (kube-proxy.test.ts): random sets of Services
 * written as Service + EndpointSlice YAML, compiled with podwire's kube-proxy iptables
 * compiler for the router R of the kernel lab (kernel-lab.ts) as the node, loaded the way
 * kube-proxy loads them (`jumpRulesText()` then the sync text, both `--noflush`) into the
 * real R and into podwire's R, and the offline tracer's candidate set for every probe.
 *
 * The podwire side is podwire-lab.ts's `podwireRun`, given the ruleset built with the two
 * `--noflush` applies.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { stringify } from "yaml";
import { ipv4 } from "../../src/base/index.js";
import { buildKubeModel, jumpRulesText, syncIptablesRules, type IptablesProxierOptions, type KubeModel } from "../../src/kube/index.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import type { EngineKind } from "../../src/netfilter/engine.js";
import { newRuleset, type Ruleset } from "../../src/netfilter/model.js";
import { traceRules } from "../../src/netfilter/offline-trace.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { printRule } from "../../src/netfilter/save-print.js";
import { parseDocs } from "../kube/helpers.js";
import { FlowTracer } from "../kube/trace.js";
import { type Batch, CLIENT_IP, ENDPOINTS, type Outcome, type Probe, ROUTER_C, ROUTER_S, SERVER_PORTS } from "./common.js";
import type { KernelLab } from "./kernel-lab.js";
import { podwireRun } from "./podwire-lab.js";

/** The node name kube-proxy runs as on R; endpoints with this nodeName are local. */
export const NODE_NAME = "pw-router";
export const OTHER_NODE = "pw-other";

export interface KubeServiceSpec {
  type: "ClusterIP" | "NodePort";
  proto: "TCP" | "UDP";
  port: number;
  targetPort: (typeof SERVER_PORTS)[number];
  /** Endpoint addresses among S's, each local to R or not. */
  endpoints: { ip: string; local: boolean }[];
  /** Only meaningful for NodePort (the API server rejects Local on ClusterIP Services). */
  externalLocal: boolean;
  affinity: boolean;
}

export interface KubeCaseSpec {
  services: KubeServiceSpec[];
  /** The client 10.0.1.2 lies inside --cluster-cidr (10.0.0.0/16) or outside (10.244.0.0/16). */
  clientInCluster: boolean;
  randomFully: boolean;
}

export interface KubeServiceInstance extends KubeServiceSpec {
  namespace: string;
  name: string;
  clusterIP: string;
  nodePort: number | null;
}

export function instances(spec: KubeCaseSpec, caseIndex: number): KubeServiceInstance[] {
  return spec.services.map((s, j) => ({
    ...s,
    namespace: `kp${caseIndex}`,
    name: `svc${j}`,
    clusterIP: `10.96.${caseIndex + 1}.${10 + j}`,
    nodePort: s.type === "NodePort" ? 30000 + caseIndex * 10 + j : null,
  }));
}

/** The Services and EndpointSlices as one multi-document YAML text (`kubectl get -o yaml` shape). */
export function caseYaml(svcs: KubeServiceInstance[]): string {
  const docs: unknown[] = [];
  for (const s of svcs) {
    const port: Record<string, unknown> = { name: "p", port: s.port, protocol: s.proto, targetPort: s.targetPort };
    if (s.nodePort !== null) port["nodePort"] = s.nodePort;
    const spec: Record<string, unknown> = { type: s.type, clusterIP: s.clusterIP, ports: [port], selector: { app: s.name } };
    if (s.type === "NodePort") spec["externalTrafficPolicy"] = s.externalLocal ? "Local" : "Cluster";
    if (s.affinity) {
      spec["sessionAffinity"] = "ClientIP";
      spec["sessionAffinityConfig"] = { clientIP: { timeoutSeconds: 10800 } };
    }
    docs.push({ apiVersion: "v1", kind: "Service", metadata: { name: s.name, namespace: s.namespace }, spec });
    docs.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `${s.name}-abcde`, namespace: s.namespace, labels: { "kubernetes.io/service-name": s.name } },
      addressType: "IPv4",
      ports: [{ name: "p", port: s.targetPort, protocol: s.proto }],
      endpoints: s.endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: true }, nodeName: e.local ? NODE_NAME : OTHER_NODE })),
    });
  }
  return docs.map((d) => stringify(d)).join("---\n");
}

export function proxierOptions(spec: KubeCaseSpec): IptablesProxierOptions {
  return {
    hostname: NODE_NAME,
    nodeIP: ROUTER_C,
    localAddresses: [ROUTER_C, ROUTER_S, "127.0.0.1"],
    clusterCIDR: spec.clientInCluster ? "10.0.0.0/16" : "10.244.0.0/16",
    // No nfacct objects exist in the lab's namespaces.
    nfacct: false,
    randomFully: spec.randomFully,
  };
}

export interface CompiledCase {
  yaml: string;
  model: KubeModel;
  jumps: string;
  sync: string;
  ruleset: Ruleset;
}

export function compileCase(spec: KubeCaseSpec, caseIndex: number): CompiledCase {
  const yaml = caseYaml(instances(spec, caseIndex));
  const model = buildKubeModel(parseDocs(yaml, `kube-case-${caseIndex}.yaml`), [], { serviceCIDR: "10.96.0.0/12" });
  const jumps = jumpRulesText();
  const sync = syncIptablesRules(model, proxierOptions(spec)).text;
  const ruleset = newRuleset();
  applyRestore(ruleset, parseRestore(jumps, "jump rules"), { noflush: true });
  applyRestore(ruleset, parseRestore(sync, "sync"), { noflush: true });
  return { yaml, model, jumps, sync, ruleset };
}

// ---------------------------------------------------------------- kernel side

function findTool(name: string): string | null {
  for (const dir of ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8", timeout: 5000 });
  const p = r.stdout?.trim();
  return r.status === 0 && p ? p : null;
}

/** An empty nat and filter table (ACCEPT policies), loaded without --noflush to clear R. */
export const EMPTY_TABLES = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";

/**
 * Clears R's nat and filter tables (and conntrack, neighbours), then loads the jump rules
 * and the sync text as kube-proxy does: `iptables-restore --noflush [--counters]`.
 * Returns null, or the error text of a failed restore.
 */
export function kernelLoadNoflush(lab: KernelLab, c: CompiledCase): string | null {
  lab.load(EMPTY_TABLES);
  const ip = findTool("ip")!;
  const restore = findTool("iptables-restore")!;
  for (const [text, args] of [
    [c.jumps, ["--noflush"]],
    [c.sync, ["--noflush", "--counters"]],
  ] as const) {
    try {
      execFileSync(ip, ["netns", "exec", lab.r, restore, ...args], { input: text, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], timeout: 30_000 });
    } catch (e) {
      return (e as { stderr?: string }).stderr ?? String(e);
    }
  }
  return null;
}

// ---------------------------------------------------------------- expectations

export interface Expectation {
  /** Destinations the offline tracer can reach: `ip:port`, `drop`, `reject`, or the untranslated destination. */
  candidates: string[];
  masquerade: boolean;
  rejectWith: string | null;
}

/**
 * What podwire's offline tracer allows for the first packet of `p`. With `affinity`, the
 * candidate endpoints come from the kube tests' FlowTracer (a fresh engine per explored
 * path) instead: `traceRules` explores every statistic path with ONE engine, so the first
 * path's `recent --set` makes every later path's `--rcheck` match, and a ClientIP-affinity
 * Service shows only its first endpoint as a candidate (see the failing test
 * "traceRules lists every endpoint of a ClientIP-affinity Service").
 */
export function expectationFor(rs: Ruleset, p: Probe, affinity = false): Expectation {
  const r = traceRules(
    rs,
    {
      packet: { proto: p.proto === "icmp" ? "icmp" : p.proto, src: ipv4(CLIENT_IP), sport: p.sport, dst: ipv4(p.dst), dport: p.dport },
      hook: "prerouting",
      inIface: "r0",
      outIface: "r1",
      local: [ipv4(ROUTER_C), ipv4(ROUTER_S)],
      mark: 0,
      ctstate: "NEW",
      seed: 1,
    },
    (chain, rule) => printRule(chain, rule),
  );
  let candidates = r.candidates.map((c) => c.destination);
  if (affinity) {
    const flow = new FlowTracer(rs, [ROUTER_C, ROUTER_S]).trace(p.proto === "udp" ? "udp" : "tcp", CLIENT_IP, p.dst, p.dport);
    candidates = flow.output.split(", ").map((o) => (o === "DROP" ? "drop" : o === "REJECT" ? "reject" : o));
  }
  return { candidates, masquerade: r.masquerade, rejectWith: r.rejectWith };
}

/** `traceRules`' candidate destinations for the first packet of `p`, unchanged. */
export function traceCandidates(rs: Ruleset, p: Probe): string[] {
  return traceRules(
    rs,
    {
      packet: { proto: p.proto === "icmp" ? "icmp" : p.proto, src: ipv4(CLIENT_IP), sport: p.sport, dst: ipv4(p.dst), dport: p.dport },
      hook: "prerouting",
      inIface: "r0",
      outIface: "r1",
      local: [ipv4(ROUTER_C), ipv4(ROUTER_S)],
      mark: 0,
      ctstate: "NEW",
      seed: 1,
    },
    (chain, rule) => printRule(chain, rule),
  ).candidates.map((c) => c.destination);
}

const REJECT_CODES: Record<string, number> = {
  "icmp-net-unreachable": 0,
  "icmp-host-unreachable": 1,
  "icmp-proto-unreachable": 2,
  "icmp-port-unreachable": 3,
  "icmp-net-prohibited": 9,
  "icmp-host-prohibited": 10,
  "icmp-admin-prohibited": 13,
};

/**
 * Whether an observed outcome is one the tracer allows: a reply from a candidate endpoint
 * with the peer address the masquerade decision implies, an ICMP port/… unreachable for a
 * REJECT, a timeout for a DROP. Returns null when it is, else the reason.
 */
export function explain(o: Outcome, e: Expectation): string | null {
  const peer = e.masquerade ? ROUTER_S : CLIENT_IP;
  switch (o.kind) {
    case "reply": {
      if (!e.candidates.includes(o.ep)) return `endpoint ${o.ep} is not a candidate (${e.candidates.join(", ")})`;
      const addr = o.peer.replace(/:\d+$/, "");
      if (addr !== peer) return `server saw ${addr}, the masquerade decision (${e.masquerade}) implies ${peer}`;
      return null;
    }
    case "icmp": {
      if (!e.candidates.includes("reject")) return `ICMP ${o.type}/${o.code} but no REJECT candidate (${e.candidates.join(", ")})`;
      const code = REJECT_CODES[e.rejectWith ?? "icmp-port-unreachable"] ?? 3;
      if (o.type !== 3 || o.code !== code) return `ICMP ${o.type}/${o.code}, REJECT --reject-with ${e.rejectWith} implies 3/${code}`;
      return null;
    }
    case "timeout":
      return e.candidates.includes("drop") ? null : `timeout but no DROP candidate (${e.candidates.join(", ")})`;
    default:
      return `${o.kind} is never expected (${e.candidates.join(", ")})`;
  }
}

/** The verdict kind of an outcome with the masquerade decision, but not the endpoint. */
export function verdictKind(o: Outcome): string {
  switch (o.kind) {
    case "reply":
      return `answered, server saw ${o.peer.replace(/:\d+$/, "")}`;
    case "icmp":
      return `rejected, ICMP ${o.type}/${o.code} from ${o.from}`;
    case "timeout":
      return "timed out";
    case "reset":
      return "reset";
    case "echo":
      return `echo from ${o.from}`;
    case "error":
      return `error ${o.detail}`;
  }
}

// ---------------------------------------------------------------- podwire side (copy of podwire-lab.ts podwireRun)

const enc = new TextEncoder();
const dec = new TextDecoder();

function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

interface Pending {
  probe: Probe;
  dst: number;
  outcome: Outcome | null;
  closing: boolean;
}

function parseReply(text: string): Outcome {
  const m = /^ep=(\S+) peer=(\S+)$/.exec(text);
  if (!m) return { kind: "error", detail: `unparsable reply ${JSON.stringify(text)}` };
  return { kind: "reply", ep: m[1]!, peer: m[2]! };
}

/** Runs the probes through podwire's C–R–S topology with `rs` (cloned) as R's ruleset. */
export function podwireRunRuleset(rs: Ruleset, batches: Batch[], timeoutSec: number, opts: { engine: EngineKind; seed?: number }): Outcome[][] {
  return podwireRun(rs, batches, timeoutSec, { ...opts, icmpRatemask: 0 }).outcomes;
}

export { ENDPOINTS };
