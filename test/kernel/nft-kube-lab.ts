/**
 * Helpers for the kube-proxy nftables-mode suite (nftables-proxy.test.ts): random Service
 * sets (the Service + EndpointSlice YAML of kube-lab.ts) compiled by podwire's nftables
 * proxier (`syncNftablesRules`, a first full sync) for the router R of the kernel lab as the
 * node, loaded with the real `nft -f` into the real R and with `applyNftScript` into
 * podwire's R; what the Services say each probe may meet; and `conntrack -L` lines read per
 * flow.
 *
 * The nft binary is looked up in the system directories only: npm puts node_modules/.bin
 * first on PATH, where @vercel/nft's unrelated CLI is also called `nft`.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { buildKubeModel, syncNftablesRules, type KubeModel, type NftablesProxierOptions } from "../../src/kube/index.js";
import { applyNftScript, newRuleset, type NftRuleset } from "../../src/nftables/index.js";
import { parseDocs } from "../kube/helpers.js";
import { CLIENT_IP, type Outcome, type Probe, ROUTER_C, ROUTER_S } from "./common.js";
import { type KernelLab, kernelUnavailable } from "./kernel-lab.js";
import { caseYaml, instances, type KubeServiceInstance, type KubeServiceSpec, NODE_NAME } from "./kube-lab.js";

function systemTool(name: string): string | null {
  for (const dir of ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]) {
    const p = `${dir}/${name}`;
    // /usr/local/bin could hold a symlink into node_modules: only take a real nftables binary.
    if (existsSync(p) && !p.includes("node_modules")) return p;
  }
  return null;
}

export const NFT = systemTool("nft");
const IP = systemTool("ip");
const CONNTRACK = systemTool("conntrack");

const TIMEOUT_MS = 30_000;

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, timeout: TIMEOUT_MS, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], maxBuffer: 64 << 20 });
}

function errText(e: unknown): string {
  const err = e as { message?: string; stderr?: string };
  return (err.stderr || err.message || String(e)).trim().split("\n").slice(0, 4).join(" | ");
}

// ---------------------------------------------------------------- availability

/** Why the nft differential cannot run here (null: it can). Creates and deletes one `pw-k-<pid>-nftprobe` namespace. */
function unavailable(): string | null {
  if (kernelUnavailable !== null) return kernelUnavailable;
  if (!NFT) return "missing tools: nft (looked in /usr/sbin, /sbin, /usr/bin, /bin, /usr/local/sbin, /usr/local/bin)";
  try {
    run(NFT, ["--version"]);
  } catch (e) {
    return `${NFT} --version fails: ${errText(e)}`;
  }
  const ns = `pw-k-${process.pid}-nftprobe`;
  try {
    run(IP!, ["netns", "add", ns]);
  } catch (e) {
    return `cannot create a network namespace: ${errText(e)}`;
  }
  try {
    // What kube-proxy's table needs from the kernel: nat and filter base chains, masquerade
    // fully-random, dnat, reject, fib, numgen, verdict maps and dynamic sets with timeouts.
    run(
      IP!,
      ["netns", "exec", ns, NFT, "-f", "-"],
      [
        "add table ip pw-probe",
        "add chain ip pw-probe n { type nat hook prerouting priority -100 ; }",
        "add chain ip pw-probe p { type nat hook postrouting priority 100 ; }",
        "add chain ip pw-probe f { type filter hook forward priority 0 ; }",
        "add chain ip pw-probe e",
        "add set ip pw-probe a { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }",
        "add rule ip pw-probe e update @a { ip saddr }",
        "add rule ip pw-probe e meta l4proto tcp dnat to 10.0.2.10:8080",
        "add rule ip pw-probe n fib daddr type local numgen random mod 1 vmap { 0 : goto e }",
        "add rule ip pw-probe p masquerade fully-random",
        "add rule ip pw-probe f ct state new reject",
        "",
      ].join("\n"),
    );
    return null;
  } catch (e) {
    return `the kernel refuses a kube-proxy-shaped nftables table (nf_tables unavailable?): ${errText(e)}`;
  } finally {
    try {
      run(IP!, ["netns", "delete", ns]);
    } catch {
      // already gone
    }
  }
}

export const nftKubeUnavailable: string | null = unavailable();

// ---------------------------------------------------------------- cases

export interface NftKubeCaseSpec {
  services: KubeServiceSpec[];
  /** The client 10.0.1.2 lies inside --cluster-cidr (10.0.0.0/16) or outside (10.244.0.0/16). */
  clientInCluster: boolean;
  /** `--nodeport-addresses primary` (NodePorts on 10.0.1.1 only); else all local addresses (`fib daddr type local`). */
  nodePortPrimary: boolean;
}

/** The ServiceCIDR kube-proxy learns: traffic to unallocated addresses in it is dropped. */
export const SERVICE_CIDR = "10.96.0.0/12";

export function nftProxierOptions(spec: Pick<NftKubeCaseSpec, "clientInCluster" | "nodePortPrimary">): NftablesProxierOptions {
  return {
    hostname: NODE_NAME,
    nodeIP: ROUTER_C,
    localAddresses: [ROUTER_C, ROUTER_S, "127.0.0.1"],
    clusterCIDR: spec.clientInCluster ? "10.0.0.0/16" : "10.244.0.0/16",
    serviceCIDRs: [SERVICE_CIDR],
    ...(spec.nodePortPrimary ? { nodePortAddresses: ["primary"] } : {}),
  };
}

export interface NftCompiledCase {
  yaml: string;
  model: KubeModel;
  /** The first (full) sync's `nft -f` transaction. */
  text: string;
  /** podwire's model after `applyNftScript` of `text` on an empty ruleset. */
  ruleset: NftRuleset;
}

export function compileNftYaml(yaml: string, options: NftablesProxierOptions, file: string): NftCompiledCase {
  const model = buildKubeModel(parseDocs(yaml, file), [], { serviceCIDR: SERVICE_CIDR });
  const r = syncNftablesRules(model, options);
  if (r.cleanupText !== "") throw new Error(`a first sync has no cleanup transaction, got:\n${r.cleanupText}`);
  const ruleset = applyNftScript(newRuleset(), r.text, `${file} (kube-proxy nftables sync)`);
  return { yaml, model, text: r.text, ruleset };
}

export function compileNftCase(spec: NftKubeCaseSpec, caseIndex: number): NftCompiledCase {
  return compileNftYaml(caseYaml(instances({ ...spec, randomFully: true }, caseIndex)), nftProxierOptions(spec), `nft-case-${caseIndex}.yaml`);
}

// ---------------------------------------------------------------- kernel side

/**
 * Empties R's nftables ruleset (R has no other tables), loads `text` with `nft -f -`, and
 * empties conntrack and every neighbour table (podwire starts each case with empty ones).
 * Returns null, or nft's error text.
 */
export function kernelLoadNft(lab: KernelLab, text: string): string | null {
  try {
    run(IP!, ["netns", "exec", lab.r, NFT!, "flush", "ruleset"]);
    run(IP!, ["netns", "exec", lab.r, NFT!, "-f", "-"], text);
  } catch (e) {
    return errText(e);
  }
  for (const ns of [lab.c, lab.r, lab.s]) run(IP!, ["-n", ns, "neigh", "flush", "all"]);
  lab.flushConntrack();
  return null;
}

/** `nft list ruleset` in R. */
export function kernelListRuleset(lab: KernelLab): string {
  return run(IP!, ["netns", "exec", lab.r, NFT!, "list", "ruleset"]);
}

/** Empties R's ruleset (at the end of the suite). */
export function kernelFlushNft(lab: KernelLab): void {
  try {
    run(IP!, ["netns", "exec", lab.r, NFT!, "flush", "ruleset"]);
  } catch {
    // the namespace goes anyway
  }
}

export { CONNTRACK };

// ---------------------------------------------------------------- what the Services say

/** What one probe may meet, from the Services and EndpointSlices alone (not from the rules). */
export type Expectation =
  | { kind: "reply"; endpoints: string[]; peer: string; why: string }
  | { kind: "icmp"; type: number; code: number; why: string }
  | { kind: "reset"; why: string }
  | { kind: "timeout"; why: string };

export type TargetKind = "cluster-ip" | "node-port" | "cluster-ip-wrong-port" | "unallocated";

export function expectationFor(spec: NftKubeCaseSpec, svc: KubeServiceInstance | null, kind: TargetKind, dst: string): Expectation {
  if (kind === "cluster-ip-wrong-port") return { kind: "icmp", type: 3, code: 3, why: "cluster-ips-check rejects other ports of a ClusterIP" };
  if (kind === "unallocated") return { kind: "timeout", why: "cluster-ips-check drops unallocated ServiceCIDR addresses" };
  const s = svc!;
  const all = s.endpoints.map((e) => `${e.ip}:${s.targetPort}`);
  const local = s.endpoints.filter((e) => e.local).map((e) => `${e.ip}:${s.targetPort}`);
  if (kind === "cluster-ip") {
    if (all.length === 0) return { kind: "icmp", type: 3, code: 3, why: "no endpoints: reject" };
    return { kind: "reply", endpoints: all, peer: spec.clientInCluster ? CLIENT_IP : ROUTER_S, why: spec.clientInCluster ? "cluster endpoints, no masquerade (client in the cluster CIDR)" : "cluster endpoints, masqueraded (client outside the cluster CIDR)" };
  }
  // A NodePort on one of R's addresses.
  const served = !spec.nodePortPrimary || dst === ROUTER_C;
  if (!served) {
    return s.proto === "UDP"
      ? { kind: "icmp", type: 3, code: 3, why: "not a NodePort address: R's own closed UDP port" }
      : { kind: "reset", why: "not a NodePort address: R's own closed TCP port" };
  }
  if (all.length === 0) return { kind: "icmp", type: 3, code: 3, why: "no endpoints: reject" };
  if (!s.externalLocal) return { kind: "reply", endpoints: all, peer: ROUTER_S, why: "eTP Cluster: any endpoint, masqueraded" };
  if (spec.clientInCluster) return { kind: "reply", endpoints: all, peer: CLIENT_IP, why: "eTP Local, Pod-CIDR client short-circuited to the cluster chain" };
  if (local.length === 0) return { kind: "timeout", why: "eTP Local without a local endpoint: drop" };
  return { kind: "reply", endpoints: local, peer: CLIENT_IP, why: "eTP Local: local endpoints, source kept" };
}

/** Null when `o` is what `e` allows, else why not. */
export function explain(o: Outcome, e: Expectation): string | null {
  switch (e.kind) {
    case "reply": {
      if (o.kind !== "reply") return `expected an answer (${e.why})`;
      if (!e.endpoints.includes(o.ep)) return `endpoint ${o.ep} is not one of the Service's {${e.endpoints.join(", ")}} (${e.why})`;
      const addr = o.peer.replace(/:\d+$/, "");
      if (addr !== e.peer) return `server saw ${addr}, expected ${e.peer} (${e.why})`;
      return null;
    }
    case "icmp":
      return o.kind === "icmp" && o.type === e.type && o.code === e.code ? null : `expected ICMP ${e.type}/${e.code} (${e.why})`;
    case "reset":
      return o.kind === "reset" ? null : `expected a TCP reset (${e.why})`;
    case "timeout":
      return o.kind === "timeout" ? null : `expected silence (${e.why})`;
  }
}

// ---------------------------------------------------------------- conntrack per flow

export interface CtEntry {
  /** The line without the timeout column and `use=`. */
  line: string;
  proto: string;
  state: string;
  origDst: string;
  replySrc: string;
  replyDst: string;
}

/** R's `conntrack -L` lines by the client port of their original tuple (flows from C only). */
export function conntrackByClientPort(lines: string[]): Map<number, CtEntry[]> {
  const m = new Map<number, CtEntry[]>();
  for (const raw of lines) {
    const words = raw.trim().split(/\s+/);
    if (words.length < 4 || !/^\d+$/.test(words[1]!)) continue;
    const tuples: Record<string, string>[] = [];
    let state = "";
    let cur: Record<string, string> | null = null;
    const rest: string[] = [];
    for (const w of words.slice(3)) {
      if (/^(use|zone)=/.test(w)) continue;
      rest.push(w);
      if (w.startsWith("src=")) {
        cur = {};
        tuples.push(cur);
      }
      const kv = /^(src|dst|sport|dport|type|code|id)=(.*)$/.exec(w);
      if (kv && cur) cur[kv[1]!] = kv[2]!;
      else if (tuples.length === 0 && /^[A-Z_]+$/.test(w)) state = w;
    }
    if (tuples.length < 2) continue;
    const [o, r] = tuples as [Record<string, string>, Record<string, string>];
    if (o["src"] !== CLIENT_IP || o["sport"] === undefined) continue;
    const entry: CtEntry = {
      line: `${words[0]} ${words[1]} ${rest.join(" ")}`,
      proto: words[0]!,
      state,
      origDst: `${o["dst"]}:${o["dport"]}`,
      replySrc: `${r["src"]}:${r["sport"]}`,
      replyDst: `${r["dst"]}:${r["dport"]}`,
    };
    const k = Number(o["sport"]);
    m.set(k, [...(m.get(k) ?? []), entry]);
  }
  return m;
}

/**
 * One flow's entry in comparable form: the reply tuple's source written `EP` when it is the
 * endpoint that answered the probe (chosen at random, may differ between the two sides), and
 * the reply destination port written `*` when the flow was masqueraded (fully-random).
 */
export function comparableCt(e: CtEntry, answeredBy: string | null): string {
  let s = e.line;
  const [rsrc, rsport] = e.replySrc.split(":") as [string, string];
  const [rdst, rdport] = e.replyDst.split(":") as [string, string];
  // Replace inside the reply tuple only (the second src=…).
  const i = s.indexOf(" src=", s.indexOf("src=") + 1);
  if (i >= 0) {
    let tail = s.slice(i);
    if (answeredBy !== null && e.replySrc === answeredBy) tail = tail.replace(` src=${rsrc} `, " src=EP ").replace(` sport=${rsport} `, " sport=EPPORT ");
    if (rdst === ROUTER_S) tail = tail.replace(` dport=${rdport}`, " dport=*");
    s = s.slice(0, i) + tail;
  }
  return s;
}

export type { Probe };
