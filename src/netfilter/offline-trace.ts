/**
 * Follows one packet through an `iptables-save` dump the way the kernel would, without a
 * kernel: PREROUTING (raw, mangle, nat for a new connection), the routing decision (local
 * addresses go to INPUT, others to FORWARD), then POSTROUTING; or from OUTPUT. It reports
 * every rule that matched, the verdict, DNAT/SNAT, the mark, whether the packet will be
 * masqueraded, and — where `statistic` rules split traffic — every destination the packet
 * could reach with its probability.
 */
import { PodwireError, Rng, VirtualClock, formatIpv4, parseIpv4 } from "../base/index.js";
import { RuleEngine, Traversal } from "./engine.js";
import { type IpsetLookup, createEnv } from "./env.js";
import {
  CT_STATE_BY_NAME,
  CT_STATE_DNAT,
  addressType,
  cloneRuleset,
  type BuiltinChain,
  type Rule,
  type Ruleset,
  type TableName,
} from "./model.js";
import { PacketContext } from "./packet-context.js";
import { ICMP_ECHO_REQUEST, IcmpPacket } from "../wire/icmp.js";
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HEADER_LEN, Ipv4Packet } from "../wire/ipv4.js";
import { ports } from "../wire/ports.js";
import { SCTP_CHUNK_INIT, SCTP_INIT_CHUNK_MIN_LEN, sctp } from "../wire/sctp.js";
import { TCP_MIN_HEADER_LEN, TCP_SYN, TcpPacket } from "../wire/tcp.js";

export interface PacketSpec {
  proto: "tcp" | "udp" | "sctp" | "icmp";
  src: number;
  sport: number;
  dst: number;
  dport: number;
}

export interface OfflineTraceOptions {
  packet: PacketSpec;
  hook: "prerouting" | "output";
  inIface: string;
  outIface: string;
  /** Addresses local to the node; loopback is always local. */
  local: number[];
  mark: number;
  ctstate: "NEW" | "ESTABLISHED" | "RELATED" | "INVALID" | "UNTRACKED";
  seed: number;
  /** Sets for `-m set` rules (e.g. from an `ipset save` dump). */
  ipsets?: IpsetLookup | null;
}

export interface TracedRule {
  table: TableName;
  chain: string;
  /** 1-based position in the chain, as `iptables -L --line-numbers` counts; 0 for a policy. */
  position: number;
  /** The rule as iptables-save prints it, or `policy ACCEPT`. */
  rule: string;
  /** Line in the rules file, when known. */
  line: number | null;
}

export interface OfflineTraceResult {
  verdict: "accept" | "drop" | "reject";
  rejectWith: string | null;
  /** `IP:PORT` after DNAT, or null. */
  dnat: string | null;
  /** `IP[:PORT]` after SNAT, `masquerade`, or null. */
  snat: string | null;
  masquerade: boolean;
  mark: number;
  /** The path: `local` (INPUT) or `forward`, or `output`. */
  path: "local" | "forward" | "output";
  rules: TracedRule[];
  /** Every destination reachable through statistic splits (one entry when there is no split). */
  candidates: { destination: string; probability: number }[];
  /** False when there were more statistic paths than are walked (MAX_PATHS): `candidates` is partial. */
  candidatesComplete: boolean;
  /** The probability the walked paths add up to (1 when complete). */
  candidatesCovered: number;
  rulesEvaluated: number;
}

const PROTO_NUMBERS = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, sctp: IPPROTO_SCTP, icmp: IPPROTO_ICMP } as const;
/** Enumeration stops after this many distinct random paths. */
const MAX_PATHS = 4096;

/** Parses `tcp 10.244.1.5:40000 > 10.96.0.1:443` (udp and sctp likewise; `icmp A > B` for an echo request). */
export function parsePacketSpec(text: string, field = "--packet"): PacketSpec {
  const m = /^\s*(tcp|udp|sctp|icmp)\s+(\S+)\s*>\s*(\S+)\s*$/i.exec(text);
  const hint = 'write it as "tcp 10.244.1.5:40000 > 10.96.0.1:443" (or udp …, sctp …, or "icmp 10.0.0.1 > 10.0.0.2")';
  if (!m) throw new PodwireError("E_PACKET", `cannot read ${JSON.stringify(text)} as a packet`, { field }, hint);
  const proto = m[1]!.toLowerCase() as PacketSpec["proto"];
  const end = (s: string, which: string): [number, number] => {
    const parts = proto === "icmp" ? [s] : s.split(":");
    if (parts.length > 2) throw new PodwireError("E_PACKET", `${which} ${JSON.stringify(s)} has more than one ":PORT"`, { field }, hint);
    const [ipText, portText] = parts;
    const ip = parseIpv4(ipText ?? "");
    if (ip < 0) throw new PodwireError("E_PACKET", `${which} address ${JSON.stringify(ipText)} is not an IPv4 address`, { field }, hint);
    if (proto === "icmp") return [ip, 0];
    if (portText === undefined || !/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new PodwireError("E_PACKET", `${which} port in ${JSON.stringify(s)} must be a number from 1 to 65535`, { field }, hint);
    }
    return [ip, Number(portText)];
  };
  const [src, sport] = end(m[2]!, "source");
  const [dst, dport] = end(m[3]!, "destination");
  return { proto, src, sport, dst, dport };
}

/** The first packet of a connection as bytes (a TCP SYN, a UDP datagram, an SCTP INIT, an ICMP echo), for the offline walks. */
export function packetBytes(p: PacketSpec): Uint8Array {
  // The fields the rule engines look at; the rest (checksums included) stays zero.
  const b = new Uint8Array(60);
  const ip = new Ipv4Packet(b);
  ip.setVersion(4);
  ip.setHeaderLen(IPV4_MIN_HEADER_LEN);
  ip.setTotalLen(b.length);
  ip.setTtl(64);
  ip.setProtocol(PROTO_NUMBERS[p.proto]);
  ip.setSrcAddr(p.src);
  ip.setDstAddr(p.dst);
  const l4 = ip.payloadOffset();
  if (p.proto === "icmp") {
    new IcmpPacket(b, l4).setType(ICMP_ECHO_REQUEST);
  } else {
    ports.setSrc(b, l4, p.sport);
    ports.setDst(b, l4, p.dport);
    if (p.proto === "tcp") {
      const tcp = new TcpPacket(b, l4);
      tcp.setHeaderLen(TCP_MIN_HEADER_LEN);
      tcp.setFlags(TCP_SYN); // the first packet of a connection
    } else if (p.proto === "sctp") {
      // Verification tag 0 and an INIT chunk (RFC 9260 §3.3.2): an association's first packet.
      sctp.setChunkHeader(b, sctp.chunksOffset(b, l4), SCTP_CHUNK_INIT, 0, SCTP_INIT_CHUNK_MIN_LEN);
    }
  }
  return b;
}

/** Rewrites the destination of a `packetBytes` packet in place (a DNAT seen by the offline walk; checksums stay zero). */
export function setPacketDst(b: Uint8Array, proto: PacketSpec["proto"], dst: number, dport: number): void {
  const ip = new Ipv4Packet(b);
  ip.setDstAddr(dst);
  if (proto !== "icmp") ports.setDst(b, ip.payloadOffset(), dport);
}

interface Walk {
  verdict: "accept" | "drop" | "reject";
  rejectWith: string | null;
  dst: number;
  dport: number;
  dnat: boolean;
  snat: string | null;
  masquerade: boolean;
  mark: number;
  path: "local" | "forward" | "output";
  hits: { table: TableName; chain: string; index: number; rule: Rule | null }[];
  rulesEvaluated: number;
}

/** One walk of the packet through the hooks with the given engine. */
function walk(engine: RuleEngine, opts: OfflineTraceOptions, isLocal: (ip: number) => boolean): Walk {
  const bytes = packetBytes(opts.packet);
  const ctx = new PacketContext().load(bytes, 0, bytes.length);
  const out = new Traversal();
  const w: Walk = { verdict: "accept", rejectWith: null, dst: opts.packet.dst, dport: opts.packet.dport, dnat: false, snat: null, masquerade: false, mark: opts.mark, path: "forward", hits: [], rulesEvaluated: 0 };
  const isNew = opts.ctstate === "NEW";
  let ctState: number = CT_STATE_BY_NAME[opts.ctstate];
  let inIface = opts.hook === "output" ? "" : opts.inIface;
  let outIface = "";

  // Runs one table; returns false when the packet's fate is decided (dropped or rejected).
  const step = (table: TableName, chain: BuiltinChain): boolean => {
    if (!engine.hasTable(table)) return true;
    ctx.at(chain, inIface, outIface, w.mark, ctState, 0);
    engine.run(table, chain, ctx, out.reset(true));
    w.mark = ctx.mark;
    w.rulesEvaluated += out.rulesEvaluated;
    for (const h of out.hits!) w.hits.push({ table: h.table, chain: h.chain, index: h.ruleIndex, rule: h.rule });
    if (out.verdict === "DROP") {
      w.verdict = "drop";
      return false;
    }
    if (out.verdict === "REJECT") {
      w.verdict = "reject";
      w.rejectWith = out.rejectWith;
      return false;
    }
    const nat = out.nat;
    if (nat?.kind === "DNAT" && nat.range) {
      if (nat.range.minIp !== 0) w.dst = nat.range.minIp;
      if (nat.range.minPort !== 0) w.dport = nat.range.minPort;
      setPacketDst(bytes, opts.packet.proto, w.dst, w.dport);
      ctx.load(bytes, 0, bytes.length);
      w.dnat = true;
      ctState |= CT_STATE_DNAT;
    } else if (nat?.kind === "MASQUERADE") {
      w.masquerade = true;
      w.snat = "masquerade";
    } else if (nat?.kind === "SNAT") {
      w.snat = `${formatIpv4(nat.range.minIp)}${nat.range.minPort ? `:${nat.range.minPort}` : ""}`;
    }
    return true;
  };

  if (opts.hook === "output") {
    w.path = "output";
    outIface = opts.outIface;
    if (!step("raw", "OUTPUT") || !step("mangle", "OUTPUT")) return w;
    if (isNew && !step("nat", "OUTPUT")) return w;
    if (!step("filter", "OUTPUT")) return w;
    if (!step("mangle", "POSTROUTING")) return w;
    if (isNew) step("nat", "POSTROUTING");
    return w;
  }
  if (!step("raw", "PREROUTING") || !step("mangle", "PREROUTING")) return w;
  if (isNew && !step("nat", "PREROUTING")) return w;
  if (isLocal(w.dst)) {
    w.path = "local";
    if (!step("mangle", "INPUT") || !step("filter", "INPUT")) return w;
    if (isNew) step("nat", "INPUT");
    return w;
  }
  w.path = "forward";
  outIface = opts.outIface;
  if (!step("mangle", "FORWARD") || !step("filter", "FORWARD")) return w;
  if (!step("mangle", "POSTROUTING")) return w;
  if (isNew) step("nat", "POSTROUTING");
  return w;
}

export function traceRules(ruleset: Ruleset, opts: OfflineTraceOptions, printRule: (chain: string, rule: Rule) => string): OfflineTraceResult {
  const local = new Set(opts.local);
  const isLocal = (ip: number): boolean => local.has(ip) || ip >>> 24 === 127;
  const addrType = (ip: number): number => addressType(ip, isLocal);
  const engineFor = (rs: Ruleset) => new RuleEngine("reference", rs, createEnv({ addrType, rng: new Rng(opts.seed), clock: new VirtualClock(), ipsets: opts.ipsets ?? null }));

  // The trace proper: one walk with the seeded RNG.
  const main = walk(engineFor(ruleset), opts, isLocal);
  const describe = (w: Walk): string => {
    if (w.verdict !== "accept") return w.verdict;
    if (opts.packet.proto === "icmp") return formatIpv4(w.dst);
    return `${formatIpv4(w.dst)}:${w.dport}`;
  };

  // Candidates: every sequence of statistic outcomes, depth first ("match" before "no
  // match"), each with its probability. The next sequence follows from the last one alone
  // (flip its last "match" to "no match" and cut there), so memory stays O(rules) however
  // many paths there are; the number of paths walked is capped.
  const totals = new Map<string, number>();
  let prefix: boolean[] | null = [];
  let paths = 0;
  let covered = 0;
  // One copy of the ruleset for all the exploring walks, so the trace's counters stay true.
  const engine = engineFor(cloneRuleset(ruleset));
  while (prefix !== null && paths < MAX_PATHS) {
    const forced: boolean[] = prefix;
    const choices: boolean[] = [];
    let prob = 1;
    // Every path is a first packet from a fresh state: no `recent` entries or nth counts
    // left over from the paths explored before it.
    engine.env.recent.clear();
    engine.env.nthCounters.clear();
    engine.env.chooser = (p: number): boolean => {
      const k = choices.length;
      const pick = k < forced.length ? forced[k]! : true;
      choices.push(pick);
      const pTrue = Math.min(1, Math.max(0, p));
      prob *= pick ? pTrue : 1 - pTrue;
      return pick;
    };
    const w = walk(engine, opts, isLocal);
    paths++;
    covered += prob;
    if (prob > 0) totals.set(describe(w), (totals.get(describe(w)) ?? 0) + prob);
    const last = choices.lastIndexOf(true);
    prefix = last < 0 ? null : [...choices.slice(0, last), false];
  }
  const complete = prefix === null;
  const candidates = [...totals].map(([destination, probability]) => ({ destination, probability: Number(probability.toFixed(10)) }));
  candidates.sort((a, b) => b.probability - a.probability || (a.destination < b.destination ? -1 : 1));

  return {
    verdict: main.verdict,
    rejectWith: main.rejectWith,
    dnat: main.dnat ? describe({ ...main, verdict: "accept" }) : null,
    snat: main.snat,
    masquerade: main.masquerade,
    mark: main.mark,
    path: main.path,
    rules: main.hits.map((h) => ({
      table: h.table,
      chain: h.chain,
      position: h.index + 1,
      rule: h.rule ? printRule(h.chain, h.rule) : `policy ${ruleset.tables.get(h.table)?.chains.get(h.chain)?.policy ?? "ACCEPT"}`,
      line: h.rule?.source?.line ?? null,
    })),
    candidates,
    candidatesComplete: complete,
    candidatesCovered: Number(Math.min(1, covered).toFixed(10)),
    rulesEvaluated: main.rulesEvaluated,
  };
}
