/**
 * The iptables data model: tables of chains of rules, as `iptables-save` shows them and
 * the kernel's x_tables holds them. A rule is the IP-header part (`-s -d -i -o -p -f`),
 * a list of match extensions (`-m NAME …`) in the order given, and one target. Every
 * extension option iptables would print is kept, so printing a parsed ruleset gives the
 * canonical `iptables-save` text back. This module is types and small constructors only:
 * the parser, the printer and the two engines all work on these values.
 */

import type { NatRange } from "../conntrack/nat-range.js";

export type TableName = "raw" | "mangle" | "nat" | "filter";
export const TABLE_NAMES: readonly TableName[] = ["raw", "mangle", "nat", "filter"];

export type BuiltinChain = "PREROUTING" | "INPUT" | "FORWARD" | "OUTPUT" | "POSTROUTING";

/** Built-in chains of each table, in the order iptables-save lists them. */
export const BUILTIN_CHAINS: Record<TableName, readonly BuiltinChain[]> = {
  raw: ["PREROUTING", "OUTPUT"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  filter: ["INPUT", "FORWARD", "OUTPUT"],
};

export interface Counters {
  packets: number;
  bytes: number;
}

/** Where a rule or chain came from in restore text (1-based). */
export interface SourceRef {
  line: number;
}

// ---------------------------------------------------------------- IP header part

/** `-s`/`-d`: an address with a mask (iptables-save prints `/32` for hosts). */
export interface AddrMatch {
  net: number;
  mask: number;
  prefixLen: number;
  invert: boolean;
}

/** `-i`/`-o`: an interface name; a trailing `+` matches every name with that prefix. */
export interface IfaceMatch {
  name: string;
  /** The name without its trailing `+`, when `wildcard`. */
  prefix: string;
  wildcard: boolean;
  invert: boolean;
}

/** `-p`: IP protocol number; `name` is how it was written (`tcp`, `udp`, `icmp`, `sctp`, `47`). */
export interface ProtoMatch {
  proto: number;
  name: string;
  invert: boolean;
}

// ---------------------------------------------------------------- match extensions

export interface PortRange {
  min: number;
  max: number;
}

/** `-m tcp` / `-m udp` (also loaded implicitly by `-p tcp --dport …`). */
export interface TcpUdpMatch {
  module: "tcp" | "udp";
  sport?: PortRange & { invert: boolean };
  dport?: PortRange & { invert: boolean };
  /** `--tcp-flags MASK COMP` (tcp only); `--syn` is stored as mask SYN,RST,ACK,FIN comp SYN. */
  tcpFlags?: { mask: number; comp: number; invert: boolean };
}

/**
 * `-m sctp` (xt_sctp, also loaded implicitly by `-p sctp --dport …`): source and destination
 * port ranges, read from the SCTP common header at the TCP/UDP offsets (RFC 9260 §3.1).
 * `--chunk-types` is refused by the parser: podwire does not model chunk matching.
 */
export interface SctpMatch {
  module: "sctp";
  sport?: PortRange & { invert: boolean };
  dport?: PortRange & { invert: boolean };
}

/** `-m multiport --sports|--dports|--ports a,b:c` (up to 15 entries). */
export interface MultiportMatch {
  module: "multiport";
  kind: "sports" | "dports" | "ports";
  ports: PortRange[];
  invert: boolean;
}

export interface CommentMatch {
  module: "comment";
  comment: string;
}

/** `-m statistic --mode random --probability P` or `--mode nth --every N [--packet P]`. */
export type StatisticMatch =
  | { module: "statistic"; mode: "random"; probability: number; invert: boolean }
  | { module: "statistic"; mode: "nth"; every: number; packet: number; invert: boolean };

/** `-m mark --mark VALUE[/MASK]`. */
export interface MarkMatch {
  module: "mark";
  value: number;
  mask: number;
  invert: boolean;
}

/** Conntrack states as bits (the kernel's XT_CONNTRACK_STATE_* values). */
export const CT_STATE_INVALID = 1 << 0;
export const CT_STATE_ESTABLISHED = 1 << 1;
export const CT_STATE_RELATED = 1 << 2;
export const CT_STATE_NEW = 1 << 3;
export const CT_STATE_UNTRACKED = 1 << 8;
export const CT_STATE_SNAT = 1 << 9;
export const CT_STATE_DNAT = 1 << 10;

/** The XT_CONNTRACK_STATE bit of each conntrack state name. */
export const CT_STATE_BY_NAME = {
  NEW: CT_STATE_NEW,
  ESTABLISHED: CT_STATE_ESTABLISHED,
  RELATED: CT_STATE_RELATED,
  INVALID: CT_STATE_INVALID,
  UNTRACKED: CT_STATE_UNTRACKED,
} as const;

/** Conntrack status bits (IPS_*) that `--ctstatus` names. */
export {
  IPS_EXPECTED as CT_STATUS_EXPECTED,
  IPS_SEEN_REPLY as CT_STATUS_SEEN_REPLY,
  IPS_ASSURED as CT_STATUS_ASSURED,
  IPS_CONFIRMED as CT_STATUS_CONFIRMED,
} from "../conntrack/conn.js";

/** `-m conntrack [!] --ctstate S,… [!] --ctstatus S,…`. */
export interface ConntrackMatch {
  module: "conntrack";
  ctstate?: { states: number; invert: boolean };
  ctstatus?: { bits: number; invert: boolean };
}

/** The old `-m state [!] --state S,…` (same bits as --ctstate, without SNAT/DNAT). */
export interface StateMatch {
  module: "state";
  states: number;
  invert: boolean;
}

/** Address types as the kernel's XT_ADDRTYPE_* bits (RTN_* as 1 << type). */
export const ADDRTYPE_UNSPEC = 1 << 0;
export const ADDRTYPE_UNICAST = 1 << 1;
export const ADDRTYPE_LOCAL = 1 << 2;
export const ADDRTYPE_BROADCAST = 1 << 3;
export const ADDRTYPE_ANYCAST = 1 << 4;
export const ADDRTYPE_MULTICAST = 1 << 5;
export const ADDRTYPE_BLACKHOLE = 1 << 6;
export const ADDRTYPE_UNREACHABLE = 1 << 7;
export const ADDRTYPE_PROHIBIT = 1 << 8;

/** `-m addrtype [!] --src-type T,… [!] --dst-type T,… [--limit-iface-in|--limit-iface-out]`. */
export interface AddrtypeMatch {
  module: "addrtype";
  srcType?: { types: number; invert: boolean };
  dstType?: { types: number; invert: boolean };
  limitIfaceIn: boolean;
  limitIfaceOut: boolean;
}

/** `-m recent`: one of --set/--rcheck/--update/--remove, with its options. */
export interface RecentMatch {
  module: "recent";
  mode: "set" | "rcheck" | "update" | "remove";
  name: string;
  /** 0 when not given. */
  seconds: number;
  /** 0 when not given. */
  hitcount: number;
  reap: boolean;
  rttl: boolean;
  /** Which address is remembered: `--rsource` (default) or `--rdest`. */
  side: "source" | "dest";
  /** `--mask`, default 255.255.255.255. */
  mask: number;
  invert: boolean;
}

/** `-m set [!] --match-set NAME src|dst[,src|dst…]` (the `dst,dst` of kube-proxy's IPVS mode). */
export interface SetMatch {
  module: "set";
  setName: string;
  /** One direction per dimension of the set: `src` or `dst`. */
  flags: ("src" | "dst")[];
  invert: boolean;
  /** `--return-nomatch`, `! --update-counters` and the like are kept as raw words for printing. */
  extra: string[];
}

/** `-m physdev [!] --physdev-is-in [!] --physdev-is-out [!] --physdev-is-bridged [--physdev-in|out NAME]`. */
export interface PhysdevMatch {
  module: "physdev";
  isIn?: { invert: boolean };
  isOut?: { invert: boolean };
  isBridged?: { invert: boolean };
  physdevIn?: IfaceMatch;
  physdevOut?: IfaceMatch;
}

/** `-m nfacct --nfacct-name NAME`: always matches, counts into the named accounting object. */
export interface NfacctMatch {
  module: "nfacct";
  name: string;
}

/** `-m icmp [!] --icmp-type TYPE[/CODE]` (names such as `echo-request` resolved to numbers). */
export interface IcmpMatch {
  module: "icmp";
  /** 0xff matches any type (`--icmp-type any`). */
  type: number;
  /** Inclusive code range; `any code` is 0..0xff. */
  codeMin: number;
  codeMax: number;
  /** The name it was written with, for printing (`echo-request`, `any`) or null for numbers. */
  typeName: string | null;
  invert: boolean;
}

/** IPVS forwarding methods as `--vmethod` names them (masquerading, direct routing, tunnelling). */
export type IpvsMethod = "MASQ" | "GATE" | "IPIP";

/**
 * `-m ipvs` (xt_ipvs): properties of the IPVS connection a packet belongs to. Every option
 * but `--ipvs` implies `--ipvs`; `! --ipvs` may only stand alone. `ipvsInvert` is the `!`
 * of a lone `--ipvs` and is false whenever another option is present.
 */
export interface IpvsMatch {
  module: "ipvs";
  ipvsInvert: boolean;
  /** Compared with the packet's own protocol, as the kernel does. */
  vproto?: { proto: number; invert: boolean };
  /** The address as written (not masked) and its prefix length; both sides are masked on compare. */
  vaddr?: { addr: number; mask: number; prefixLen: number; invert: boolean };
  vport?: { port: number; invert: boolean };
  /** Not invertible: REPLY is how the kernel stores "not ORIGINAL". */
  vdir?: "ORIGINAL" | "REPLY";
  vmethod?: { method: IpvsMethod; invert: boolean };
  vportctl?: { port: number; invert: boolean };
}

export type MatchSpec =
  | TcpUdpMatch
  | SctpMatch
  | MultiportMatch
  | CommentMatch
  | StatisticMatch
  | MarkMatch
  | ConntrackMatch
  | StateMatch
  | AddrtypeMatch
  | RecentMatch
  | SetMatch
  | PhysdevMatch
  | NfacctMatch
  | IcmpMatch
  | IpvsMatch;

export type MatchModule = MatchSpec["module"];

// ---------------------------------------------------------------- targets

/** One `--to-destination`/`--to-source` range: `ip[-ip][:port[-port]]`; 0 means "not given". */
export type { NatRange };

export type RejectWith =
  | "icmp-net-unreachable"
  | "icmp-host-unreachable"
  | "icmp-port-unreachable"
  | "icmp-proto-unreachable"
  | "icmp-net-prohibited"
  | "icmp-host-prohibited"
  | "icmp-admin-prohibited"
  | "tcp-reset";

export type TargetSpec =
  | { kind: "ACCEPT" }
  | { kind: "DROP" }
  | { kind: "RETURN" }
  /** A rule with no `-j`: it only counts. */
  | { kind: "NONE" }
  | { kind: "jump"; chain: string }
  | { kind: "goto"; chain: string }
  | { kind: "REJECT"; with: RejectWith }
  | { kind: "DNAT"; range: NatRange | null; random: boolean; persistent: boolean }
  | { kind: "SNAT"; range: NatRange; random: boolean; randomFully: boolean; persistent: boolean }
  | { kind: "MASQUERADE"; toPorts: PortRange | null; random: boolean; randomFully: boolean }
  /** Every MARK form is kept as the kernel stores it: mark = (mark & ~mask) ^ value. */
  | { kind: "MARK"; value: number; mask: number; written: "set-xmark" | "set-mark" | "or-mark" | "and-mark" | "xor-mark" }
  | { kind: "LOG"; prefix: string | null; level: number | null; options: string[] }
  | { kind: "TRACE" }
  | { kind: "NOTRACK" }
  | { kind: "CT"; notrack: boolean; options: string[] };

// ---------------------------------------------------------------- rules, chains, tables

export interface Rule {
  src?: AddrMatch;
  dst?: AddrMatch;
  inIface?: IfaceMatch;
  outIface?: IfaceMatch;
  proto?: ProtoMatch;
  /** `-f` / `! -f`: matches non-first fragments (never true in podwire: no fragments). */
  fragment?: { invert: boolean };
  matches: MatchSpec[];
  target: TargetSpec;
  counters: Counters;
  source?: SourceRef;
}

export interface Chain {
  name: string;
  /** Policy of a built-in chain; null for user-defined chains (printed `-`). */
  policy: "ACCEPT" | "DROP" | null;
  /** Policy counters for built-ins (`[packets:bytes]` on the `:CHAIN` line); user chains print theirs too. */
  counters: Counters;
  rules: Rule[];
  source?: SourceRef;
}

export interface Table {
  name: TableName;
  /**
   * Built-in chains first (in iptables-save order), then user chains in the order they were
   * created; iptables-save sorts user chains by name when printing (`chainsInSaveOrder`).
   */
  chains: Map<string, Chain>;
}

/** All tables of one namespace. Tables never loaded are absent (iptables-save omits them). */
export interface Ruleset {
  tables: Map<TableName, Table>;
}

/**
 * An address's XT_ADDRTYPE bits as inet_addr_type sees it: 0.0.0.0 and 255.255.255.255 are
 * BROADCAST, 224/4 MULTICAST, the namespace's own addresses LOCAL, subnet broadcast
 * addresses BROADCAST, the rest UNICAST.
 */
export function addressType(ip: number, isLocal: (ip: number) => boolean, isSubnetBroadcast: (ip: number) => boolean = () => false): number {
  if (ip === 0 || ip === 0xffffffff) return ADDRTYPE_BROADCAST;
  if (ip >>> 28 === 0xe) return ADDRTYPE_MULTICAST;
  if (isLocal(ip)) return ADDRTYPE_LOCAL;
  return isSubnetBroadcast(ip) ? ADDRTYPE_BROADCAST : ADDRTYPE_UNICAST;
}

export function emptyCounters(): Counters {
  return { packets: 0, bytes: 0 };
}

/** A table with its built-in chains, policies ACCEPT, no rules. */
export function newTable(name: TableName): Table {
  const chains = new Map<string, Chain>();
  for (const c of BUILTIN_CHAINS[name]) chains.set(c, { name: c, policy: "ACCEPT", counters: emptyCounters(), rules: [] });
  return { name, chains };
}

export function newRuleset(): Ruleset {
  return { tables: new Map() };
}

export function isBuiltinChain(table: TableName, chain: string): boolean {
  return (BUILTIN_CHAINS[table] as readonly string[]).includes(chain);
}

/**
 * A copy of a ruleset to run without touching the original: new tables, chains, rules and
 * counters (plain values, whatever engine counts the original), sharing the match and
 * target values, which no engine changes.
 */
export function cloneRuleset(rs: Ruleset): Ruleset {
  const tables = new Map<TableName, Table>();
  for (const [name, t] of rs.tables) {
    const chains = new Map<string, Chain>();
    for (const [cn, c] of t.chains) {
      chains.set(cn, { ...c, counters: { packets: c.counters.packets, bytes: c.counters.bytes }, rules: c.rules.map((r) => ({ ...r, counters: { packets: r.counters.packets, bytes: r.counters.bytes } })) });
    }
    tables.set(name, { name: t.name, chains });
  }
  return { tables };
}
