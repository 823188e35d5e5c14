/** Text renderings for people: hop-by-hop traces and the cluster topology. */
import { formatCidr, formatIpv4, formatMac } from "../base/index.js";
import type { TraceEvent, TraceRuleStep } from "../netdev/index.js";
import type { Cluster } from "./build.js";
import type { ExchangeResult } from "./exchange.js";

/** The widest line the trace printers write. */
export const TRACE_WIDTH = 120;

/**
 * How much of a trace to print: `summary` (the default) one line per hop of each distinct
 * packet path, NAT as `DNAT a → b`, each rule path once; `verbose` every event with its rule
 * path, deciding rule and frame; `brief` only the endpoints' events, in the verbose form.
 */
export type TraceStyle = "summary" | "verbose" | "brief";

export interface TraceFormatOptions {
  style?: TraceStyle;
}

/** The hops of one exchange, headed by who talked to whom and ending with the result. */
export function formatTrace(result: ExchangeResult, options: TraceFormatOptions = {}): string[] {
  const style = options.style ?? "summary";
  const lines: string[] = [];
  lines.push(...wrapText(`${result.fromLabel} → ${result.to}`, "", "    "));
  if (style === "summary") lines.push(...summaryLines(result.events));
  else lines.push(...verboseLines(result, style === "brief" ? result.events.filter(isEndpointEvent) : result.events));
  lines.push(...wrapText(`result: ${result.ok ? "ok" : "FAILED"} — ${result.outcome}`, "  ", "      "));
  return lines;
}

function isEndpointEvent(e: TraceEvent): boolean {
  return e.action === "send" || e.action === "deliver" || e.action === "reply" || e.action === "drop" || e.action === "icmp-error" || e.action === "encap" || e.action === "decap";
}

// ------------------------------------------------------------------ line fitting

const BREAKS = [" → ", "; ", ", ", " "];

/**
 * `text` in lines of at most `width` columns, the first led by `first`, the rest by `rest`.
 * Breaks at the last of " → " (the arrow starts the next line), "; ", ", " or a space that
 * fits; only a piece with no break at all is cut, with an ellipsis.
 */
export function wrapText(text: string, first: string, rest: string, width = TRACE_WIDTH, breaks: readonly string[] = BREAKS): string[] {
  const out: string[] = [];
  let lead = first;
  let t = text;
  while (lead.length + t.length > width) {
    const room = width - lead.length;
    let cut = -1;
    let sep = "";
    // The first kind of break that leaves a line at least half full; else any break at all.
    for (const pass of [Math.floor(room / 2), 1]) {
      for (const s of breaks) {
        const keep = s === " → " ? 0 : s.trimEnd().length;
        let i = t.lastIndexOf(s, room - keep);
        // Never break next to an arrow at a plain space: the arrow goes with what follows it.
        while (s === " " && i > 0 && (t[i - 1] === "→" || t[i + 1] === "→" || t[i - 1] === "⇒")) i = t.lastIndexOf(s, i - 1);
        if (i >= pass && i + keep <= room) {
          cut = i;
          sep = s;
          break;
        }
      }
      if (cut >= 0) break;
    }
    if (cut < 0) {
      out.push(`${lead}${t.slice(0, Math.max(1, room - 1))}…`);
      return out;
    }
    out.push(`${lead}${t.slice(0, cut)}${sep === " → " ? "" : sep.trimEnd()}`);
    t = `${sep === " → " ? "→ " : ""}${t.slice(cut + sep.length)}`;
    lead = rest;
  }
  out.push(`${lead}${t}`);
  return out;
}

// ------------------------------------------------------------------ pieces of an event

/** `KUBE-SEP-…#2`, or `FORWARD policy ACCEPT`. */
function stepName(s: TraceRuleStep): string {
  return s.position === null ? `${s.chain} ${s.rule}` : `${s.chain}#${s.position}`;
}

/** A netfilter rule walk (iptables table or nft base chain), as opposed to a conntrack, IPVS or NAT line. */
function isRuleWalk(e: TraceEvent): boolean {
  return e.rules !== null && e.stage !== "ipvs";
}

/** Fell through to an ACCEPT policy without translating anything: worth no summary line. */
function isPolicyAccept(e: TraceEvent): boolean {
  const last = e.rules![e.rules!.length - 1];
  return e.verdict === "ACCEPT" && e.nat === null && (last === undefined || last.position === null);
}

/** `DNAT 10.96.0.10:53 → 10.244.0.2:53`; a reply's `un-DNAT 10.244.0.2:53 → 10.96.0.10:53`. */
function natText(e: TraceEvent): string {
  return e.nat === null ? "" : `${e.nat.reply ? "un-" : ""}${e.nat.kind} ${e.nat.from} → ${e.nat.to}`;
}

function pathText(e: TraceEvent): string {
  return e.rules!.map(stepName).join(" → ");
}

// ------------------------------------------------------------------ verbose

function verboseLines(result: ExchangeResult, events: readonly TraceEvent[]): string[] {
  const lines: string[] = [];
  const withFrames = events.some((e) => e.frame !== null);
  const where = (e: TraceEvent) => (e.device ? `${e.netns} ${e.device}` : e.netns);
  const whereWidth = Math.max(14, ...events.map((e) => where(e).length));
  const frameCol = withFrames ? `${"frame".padStart(5)}  ` : "";
  lines.push(`  ${"time µs".padStart(9)}  ${frameCol}${"where".padEnd(whereWidth)}  ${"what".padEnd(14)}  detail`);
  const packetIndent = " ".repeat(2 + 9 + 2 + frameCol.length);
  const detailIndent = " ".repeat(packetIndent.length + whereWidth + 2 + 14 + 2);
  let lastSummary = "";
  for (const e of events) {
    const t = ((e.time - result.startNs) / 1000).toFixed(3).padStart(9);
    const frame = withFrames ? `${(e.frame === null ? "-" : String(e.frame)).padStart(5)}  ` : "";
    const head = `  ${t}  ${frame}${where(e).padEnd(whereWidth)}  ${e.action.padEnd(14)}  `;
    if (isRuleWalk(e)) {
      // The path of the rules that matched, ending with the policy (`INPUT policy ACCEPT`) or
      // `⇒ VERDICT` of the rule that decided; that rule's text on a line of its own.
      const last = e.rules![e.rules!.length - 1];
      const byRule = last !== undefined && last.position !== null;
      lines.push(...wrapText(`${e.stage}: ${pathText(e)}${byRule ? ` ⇒ ${e.verdict}` : ""}`, head, `${detailIndent}  `));
      if (e.nat !== null) lines.push(...wrapText(natText(e), detailIndent, `${detailIndent}  `));
      if (byRule && last.rule !== "") lines.push(...wrapText(`${stepName(last)}: ${last.rule}`, "      ", "          ", TRACE_WIDTH, [" "]));
    } else {
      lines.push(...wrapText(e.detail, head, detailIndent));
    }
    if (e.summary && e.summary !== lastSummary) {
      lines.push(...wrapText(e.summary, `${packetIndent}│ `, `${packetIndent}│   `, TRACE_WIDTH, [", ", " "]));
      lastSummary = e.summary;
    }
  }
  return lines;
}

// ------------------------------------------------------------------ summary

/** One line of the summary: a packet at one device, with what happened there. */
interface Hop {
  netns: string;
  device: string;
  frame: number | null;
  parts: string[];
  /** Rule paths shown below the line (each path once per trace). */
  notes: string[];
  /** What makes two packets' paths the same. */
  key: string;
}

/** The events of one packet, in order. */
interface Journey {
  events: TraceEvent[];
}

function journeysOf(events: readonly TraceEvent[]): Journey[] {
  const byId = new Map<number, Journey>();
  const order: Journey[] = [];
  let previous: Journey | null = null;
  for (const e of events) {
    let j: Journey | null = e.packetId === 0 ? previous : (byId.get(e.packetId) ?? null);
    if (j === null) {
      j = { events: [] };
      order.push(j);
      if (e.packetId !== 0) byId.set(e.packetId, j);
    }
    j.events.push(e);
    previous = j;
  }
  return order;
}

function isArp(j: Journey): boolean {
  const first = j.events[0]!;
  return first.action === "arp-request" || first.action === "arp-reply";
}

/** Short words for an event in a summary line; "" for an event worth no words. */
function summaryPart(e: TraceEvent, shownPaths: Set<string>, notes: string[]): string {
  switch (e.action) {
    case "send":
      return "sent";
    case "forward":
      return "forwarded";
    case "loopback":
      return "sent via lo";
    case "deliver":
      return `delivered ${e.detail}`;
    case "reply":
      return `reply: ${e.detail}`;
    case "icmp-error":
      return `ICMP error: ${e.detail}`;
    case "drop":
      return e.detail === "netfilter" ? "" : `DROPPED: ${e.detail}`;
    case "bridge-forward":
      return `bridge ${e.detail}`;
    case "bridge-flood":
      return `bridge flood ${e.detail}`;
    case "bridge-local":
      return "bridge: up to the host";
    case "encap":
      return `encap ${e.detail}`;
    case "decap":
      return `decap ${e.detail}`;
    case "netfilter":
      return netfilterPart(e, shownPaths, notes);
    default:
      return `${e.action} ${e.detail}`;
  }
}

function netfilterPart(e: TraceEvent, shownPaths: Set<string>, notes: string[]): string {
  if (e.conntrack !== null) return e.drop !== null ? `DROPPED: ${e.drop.reason}` : `ct ${e.conntrack.state}`;
  if (e.stage === "ipvs") {
    if (e.drop !== null) return `IPVS ${e.verdict}: ${e.drop.reason}`;
    return `IPVS ${natText(e)}`;
  }
  if (!isRuleWalk(e)) return natText(e) || e.detail;
  const key = `${e.netns} ${e.stage} ${pathText(e)} ${e.verdict}`;
  const repeated = shownPaths.has(key);
  // A walk that only reached an ACCEPT policy, or an accept already shown: no noise.
  if (isPolicyAccept(e) || (repeated && e.verdict === "ACCEPT" && e.nat === null)) return "";
  if (!repeated) {
    shownPaths.add(key);
    notes.push(`${e.stage}: ${pathText(e)}`);
    const decider = e.rules![e.rules!.length - 1]!;
    if ((e.verdict === "DROP" || e.verdict === "REJECT") && decider.position !== null) notes.push(`${stepName(decider)}: ${decider.rule}`);
  }
  return e.nat !== null ? `${shortStage(e)}: ${natText(e)}` : `${shortStage(e)} ${e.verdict}`;
}

/** `nat PREROUTING`; an nft base chain by its name (`nft nat-prerouting`): the path below says the rest. */
function shortStage(e: TraceEvent): string {
  const base = e.rules![0];
  return base !== undefined && base.table.includes(" ") ? `nft ${base.chain}` : (e.stage ?? "");
}

/** The hops of a packet: its consecutive events at one place merged into one line. */
function hopsOf(j: Journey, shownPaths: Set<string>): Hop[] {
  const hops: Hop[] = [];
  for (const e of j.events) {
    let hop = hops[hops.length - 1];
    if (hop === undefined || hop.netns !== e.netns || hop.device !== e.device) {
      hop = { netns: e.netns, device: e.device, frame: null, parts: [], notes: [], key: `${e.netns}|${e.device}` };
      hops.push(hop);
    }
    const part = summaryPart(e, shownPaths, hop.notes);
    if (part !== "") hop.parts.push(part);
    if (hop.frame === null) hop.frame = e.frame;
    // The shape of the path, without what differs from packet to packet (addresses, states,
    // frames, whether a rule path was shown already).
    if (!isRuleWalk(e) || !isPolicyAccept(e)) hop.key += `|${e.action}${e.stage ? `:${e.stage}:${e.verdict}:${e.nat?.kind ?? ""}` : ""}`;
  }
  return hops.filter((h) => h.parts.length > 0);
}

function packetLabel(j: Journey): string {
  const p = j.events.find((e) => e.packet !== null)?.packet;
  if (!p) return "";
  return `${p.proto} ${p.src} → ${p.dst}${p.info ? ` ${p.info}` : ""}`;
}

function summaryLines(events: readonly TraceEvent[]): string[] {
  const journeys = journeysOf(events);
  const withFrames = events.some((e) => e.frame !== null);
  const whereWidth = Math.max(8, ...events.map((e) => e.netns.length));
  const devWidth = Math.max(6, ...events.map((e) => e.device.length));
  const frameCol = (f: number | null) => (withFrames ? `${(f === null ? "-" : String(f)).padStart(5)}  ` : "");
  const lead = (h: { netns: string; device: string; frame: number | null }) => `    ${frameCol(h.frame)}${h.netns.padEnd(whereWidth)}  ${h.device.padEnd(devWidth)}  `;
  const whatIndent = " ".repeat(4 + (withFrames ? 7 : 0) + whereWidth + 2 + devWidth + 2);
  const lines: string[] = [`    ${withFrames ? `${"frame".padStart(5)}  ` : ""}${"where".padEnd(whereWidth)}  ${"device".padEnd(devWidth)}  what`];
  const shownPaths = new Set<string>();
  /** Path shapes already printed, by the packet number that showed them. */
  const shapes = new Map<string, number>();
  /** Packets not printed, by the packet whose path they took. */
  const folded = new Map<number, { n: number; info: string }[]>();
  let n = 0;
  let arpOpen = false;
  for (const j of journeys) {
    if (isArp(j)) {
      // ARP in one line per message, where it was sent: the rest is the bridge flooding it.
      const e = j.events[0]!;
      if (!arpOpen) lines.push("  ARP");
      arpOpen = true;
      const what = e.packet?.info ?? e.detail;
      lines.push(...wrapText(`${e.action === "arp-request" ? "asks " : "answers "}${what}`, lead(e), whatIndent));
      continue;
    }
    arpOpen = false;
    // Rule paths count as shown only once a packet that shows them is printed.
    const seen = new Set(shownPaths);
    const hops = hopsOf(j, seen);
    if (hops.length === 0) continue;
    n++;
    const label = packetLabel(j);
    const shape = `${label.split(" ").slice(0, 4).join(" ")}#${hops.map((h) => h.key).join("#")}`;
    const like = shapes.get(shape);
    if (like !== undefined) {
      const p = j.events.find((e) => e.packet !== null)?.packet;
      folded.set(like, [...(folded.get(like) ?? []), { n, info: p?.info || p?.proto || "?" }]);
      continue;
    }
    shapes.set(shape, n);
    for (const k of seen) shownPaths.add(k);
    lines.push(...wrapText(`packet ${n}: ${label}`, "  ", "      "));
    for (const h of hops) {
      // One line for the hop; when it does not fit, one line per thing that happened there.
      const joined = h.parts.join("; ");
      if (lead(h).length + joined.length <= TRACE_WIDTH) lines.push(`${lead(h)}${joined}`);
      else h.parts.forEach((p, i) => lines.push(...wrapText(p, i === 0 ? lead(h) : whatIndent, `${whatIndent}  `)));
      for (const note of h.notes) lines.push(...wrapText(note, `${whatIndent}  `, `${whatIndent}    `));
    }
  }
  const more = [...folded.values()].reduce((a, b) => a + b.length, 0);
  if (more > 0) {
    const likes = [...folded].map(([p, ps]) => `${ps.length === 1 ? "packet" : "packets"} ${ps.map((x) => x.n).join(", ")} like packet ${p} (${ps.map((x) => x.info).join(", ")})`).join("; ");
    lines.push(...wrapText(`and ${more} more packet${more === 1 ? "" : "s"} along the same paths: ${likes}`, "  ", "      "));
  }
  return lines;
}

// ------------------------------------------------------------------ JSON

/** The version of the trace JSON's shape (`trace --json`); see the README's "Trace JSON schema". */
export const TRACE_JSON_SCHEMA_VERSION = 1;

/** One hop of `trace --json`: every field present, null when it does not apply. */
export function traceHopJson(e: TraceEvent, startNs: number): Record<string, unknown> {
  return {
    timeNs: e.time - startNs,
    netns: e.netns,
    device: e.device,
    action: e.action,
    packetId: e.packetId === 0 ? null : e.packetId,
    frame: e.frame,
    packet: e.packet === null ? null : { ...e.packet, summary: e.summary },
    hook: e.hook,
    detail: isRuleWalk(e) ? e.stage : e.detail,
    rules: e.rules,
    verdict: e.verdict,
    nat: e.nat,
    conntrack: e.conntrack,
    drop: e.drop,
  };
}

// ------------------------------------------------------------------ topology

/** `podwire cluster`: nodes, devices, addresses, routes, neighbours and Pods. */
export function formatTopology(cluster: Cluster): string[] {
  const s = cluster.spec;
  const lines: string[] = [];
  lines.push(`cluster ${s.name} (${s.source})`);
  lines.push(`  node network ${formatCidr(s.nodeNetwork)}, pod network ${formatCidr(s.clusterCIDR)} (/${s.nodeCIDRMaskSize} per node), service network ${formatCidr(s.serviceCIDR)}`);
  lines.push(`  overlay ${s.overlay}${s.overlay === "vxlan" ? " (flannel.1, VNI 1, UDP 8472)" : ""}, Pod MTU ${cluster.podMTU}, proxy mode ${s.proxyMode}, seed ${s.seed}`);
  for (const node of cluster.nodes.values()) {
    lines.push("");
    lines.push(`node ${node.spec.name}${node.spec.controlPlane ? " (control plane)" : ""}${node.spec.schedulable ? "" : " [NoSchedule]"}: ${formatIpv4(node.spec.internalIP)}, podCIDR ${formatCidr(node.spec.podCIDR)}`);
    lines.push("  devices:");
    for (const iface of node.ns.interfaces.values()) {
      const d = iface.dev;
      const addrs = iface.addrs.map((a) => `${formatIpv4(a.ip)}/${a.prefixLen}`).join(" ");
      const master = node.cni0.ports.includes(d) ? " master cni0" : "";
      lines.push(`    ${d.name.padEnd(13)} ${d.kind.padEnd(8)} ${formatMac(d.mac)} mtu ${String(d.mtu).padEnd(5)}${master}${addrs ? ` ${addrs}` : ""}`);
    }
    lines.push("  routes:");
    for (const r of node.ns.routeLines()) lines.push(`    ${r}`);
    if (node.flannel) {
      lines.push("  flannel.1 fdb / neighbours:");
      for (const f of node.flannel.fdbLines()) lines.push(`    ${f}`);
      const iface = node.ns.interfaces.get(node.flannel)!;
      for (const n of iface.neigh.lines("flannel.1", cluster.sim.now())) lines.push(`    ${n}`);
    }
    lines.push("  pods:");
    for (const p of node.pods) {
      const containers = p.spec.containers.map((c) => `${c.name}${c.ports.length ? `(${c.ports.map((x) => `${x.containerPort}/${x.protocol}`).join(",")})` : ""}`).join(" ");
      const where = p.hostVeth ? `eth0 ${formatMac(p.eth0!.mac)} ⇄ ${p.hostVeth.name}` : "hostNetwork";
      lines.push(`    ${p.key.padEnd(24)} ${formatIpv4(p.spec.podIP).padEnd(15)} ${where}  ${containers}`);
    }
  }
  if (cluster.externals.size > 0) {
    lines.push("");
    lines.push("outside the cluster (on the node network):");
    for (const e of cluster.externals.values()) lines.push(`    ${e.spec.name.padEnd(24)} ${formatIpv4(e.spec.ip)}`);
  }
  return lines;
}
