/**
 * The nftables ruleset model: tables of chains and sets, rules as flat arrays of typed
 * statements. Everything an evaluator needs is decoded at parse time (addresses and marks
 * are numbers, set keys are typed tuples), so nothing is re-parsed per packet.
 *
 * Ordering follows the kernel: tables, chains and sets keep creation order (Maps keep
 * insertion order); set elements are kept sorted the way `nft list` prints them.
 */
import type { DataTypeName } from "./datatypes.js";

export type Family = "ip" | "ip6" | "inet";
export const FAMILIES: readonly Family[] = ["ip", "ip6", "inet"];

export type ChainType = "filter" | "nat" | "route";
export type Hook = "prerouting" | "input" | "forward" | "output" | "postrouting";
export const HOOKS: readonly Hook[] = ["prerouting", "input", "forward", "output", "postrouting"];

export interface BaseChainSpec {
  type: ChainType;
  hook: Hook;
  /** The numeric priority; the printer derives `dstnat - 10` etc. from it and the hook. */
  priority: number;
  policy: "accept" | "drop";
}

export interface NftChain {
  name: string;
  comment?: string;
  base?: BaseChainSpec;
  rules: NftRule[];
  handle: number;
}

export interface NftRule {
  stmts: Stmt[];
  comment?: string;
  handle: number;
}

// ---------------------------------------------------------------- values

/** One scalar of a data type: numbers for addresses, ports, marks, protocols, bitmasks; strings for names. */
export type Atom = number | string;

/** One component of a key: a value, an inclusive range, or a prefix (ipv4 only). */
export type KeyPart =
  | { kind: "value"; v: Atom }
  | { kind: "range"; lo: Atom; hi: Atom }
  | { kind: "prefix"; v: number; len: number };

export type Verdict =
  | { kind: "accept" | "drop" | "return" | "continue" }
  | { kind: "jump" | "goto"; chain: string };

/** A map's data: a verdict, or a tuple of values (e.g. `ipv4_addr . inet_service`). */
export type ElementData = { kind: "verdict"; verdict: Verdict } | { kind: "values"; parts: KeyPart[] };

export interface SetElement {
  /** One part per key type (concatenation). */
  key: KeyPart[];
  data?: ElementData;
  /** Milliseconds. */
  timeout?: number;
  expires?: number;
  comment?: string;
}

export type SetFlag = "constant" | "interval" | "timeout" | "dynamic";
export const SET_FLAGS: readonly SetFlag[] = ["constant", "interval", "timeout", "dynamic"];

export interface NftSet {
  name: string;
  isMap: boolean;
  keyType: DataTypeName[];
  /** For maps: `["verdict"]` or the data's type tuple. */
  dataType?: DataTypeName[];
  flags: SetFlag[];
  /** Milliseconds. */
  timeout?: number;
  size?: number;
  autoMerge?: boolean;
  comment?: string;
  elements: SetElement[];
  handle: number;
}

export interface NftTable {
  family: Family;
  name: string;
  comment?: string;
  flags: string[];
  chains: Map<string, NftChain>;
  sets: Map<string, NftSet>;
  /** The kernel's per-table handle generator (chains, sets and rules draw from it). */
  nextHandle: number;
}

export interface NftRuleset {
  tables: NftTable[];
}

// ---------------------------------------------------------------- expressions

export type PayloadProto = "ip" | "ip6" | "tcp" | "udp" | "sctp" | "th";

export type Expr =
  | { kind: "payload"; proto: PayloadProto; field: string }
  | { kind: "meta"; key: string }
  | { kind: "ct"; key: "state" | "status" | "mark" }
  /** `ct original ip daddr`: a tuple address of one direction. */
  | { kind: "ctTuple"; dir: "original" | "reply"; proto: "ip"; field: "saddr" | "daddr" }
  | { kind: "fib"; flags: string[]; result: "type" | "oif" | "oifname" }
  | { kind: "numgen"; mode: "random" | "inc"; mod: number; offset: number }
  | { kind: "concat"; parts: Expr[] }
  | { kind: "binop"; op: "&" | "|" | "^"; left: Expr; right: number };

/** The right-hand side of a match, a lookup or a vmap. */
export type SetRef = { kind: "named"; name: string } | { kind: "anon"; elements: SetElement[] };

export type RelOp = "implicit" | "==" | "!=" | "<" | ">" | "<=" | ">=";

export type Stmt =
  /** `left op value`; for bitmask types (ct state/status) `implicit` means "any of these bits". */
  | { kind: "match"; left: Expr; op: RelOp; right: KeyPart[] }
  /** `left [!=] @set` or `left [!=] { … }` (an anonymous set of more than one element). */
  | { kind: "lookup"; left: Expr; negate: boolean; set: SetRef }
  | { kind: "vmap"; left: Expr; map: SetRef }
  | { kind: "verdict"; verdict: Verdict }
  | { kind: "counter"; packets: number; bytes: number }
  /** `meta mark set V`, `ct mark set V`, `meta mark set meta mark | 0x4000`. */
  | { kind: "set"; target: Expr; value: Expr | { kind: "const"; v: number } }
  | { kind: "nat"; type: "dnat" | "snat"; family?: "ip" | "ip6"; addr?: KeyPart; port?: KeyPart; flags: string[] }
  | { kind: "masquerade"; flags: string[] }
  | { kind: "reject"; with?: { type: "icmp" | "icmpv6" | "icmpx"; code: string } | { type: "tcp reset" } }
  | { kind: "log"; prefix?: string }
  | { kind: "notrack" }
  | { kind: "dynset"; op: "add" | "update"; set: string; key: Expr; timeout?: number };

export function newRuleset(): NftRuleset {
  return { tables: [] };
}

export function findTable(rs: NftRuleset, family: Family, name: string): NftTable | undefined {
  return rs.tables.find((t) => t.family === family && t.name === name);
}

/** A deep copy, so a script can be applied to a scratch ruleset and committed only if it all succeeds. */
export function cloneRuleset(rs: NftRuleset): NftRuleset {
  return structuredClone(rs);
}
