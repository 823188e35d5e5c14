/**
 * The nftables ruleset model: tables of chains and sets, rules as flat arrays of typed
 * statements. Everything an evaluator needs is decoded at parse time (addresses and marks
 * are numbers, set keys are typed tuples), so nothing is re-parsed per packet.
 *
 * Ordering follows the kernel: tables, chains and sets keep creation order (Maps keep
 * insertion order); a set's `elements` read sorted the way `nft list` prints them. Elements
 * live in an `ElementStore` (a key index, sorted lazily when read), so adding or deleting one
 * element is O(1) whatever the set's size.
 */
import type { DataTypeName } from "./datatypes.js";
import { sortKey } from "./sort.js";

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

/** A deep copy (e.g. to change rules for an experiment without touching the loaded ruleset). */
export function cloneRuleset(rs: NftRuleset): NftRuleset {
  return {
    tables: rs.tables.map((t) => {
      const copy: NftTable = { family: t.family, name: t.name, flags: [...t.flags], chains: new Map(), sets: new Map(), nextHandle: t.nextHandle };
      if (t.comment !== undefined) copy.comment = t.comment;
      for (const [name, c] of t.chains) copy.chains.set(name, structuredClone(c));
      for (const [name, set] of t.sets) {
        const { elements, ...fields } = set;
        copy.sets.set(name, attachElements(structuredClone(fields) as NftSet, new ElementStore(set.keyType, structuredClone(elements))));
      }
      return copy;
    }),
  };
}

// ---------------------------------------------------------------- set elements

/** The identity of an element's key within its set (parts by kind; atoms of one part share a type). */
export function elementKey(key: readonly KeyPart[]): string {
  let out = "";
  for (let i = 0; i < key.length; i++) {
    const p = key[i]!;
    if (i > 0) out += "\u0000";
    out += p.kind === "value" ? String(p.v) : p.kind === "range" ? `${p.lo}\u0001${p.hi}` : `${p.v}\u0002${p.len}`;
  }
  return out;
}

type SortKey = number | bigint;

/**
 * A set's elements: an index by key, and the sorted list `nft list` prints, rebuilt only
 * when read after a change (merging the few elements added since, so reading after a small
 * change costs O(n) and no sort). A sorted list once handed out is never changed.
 */
export class ElementStore {
  private readonly byKey = new Map<string, SetElement>();
  /** Sorted elements and their sort keys as of the last read (null: sort everything). */
  private sorted: SetElement[] | null = null;
  private sortKeys: SortKey[] = [];
  /** Elements added and removed since `sorted`. */
  private added: SetElement[] = [];
  private removed = new Set<SetElement>();

  constructor(
    readonly types: readonly DataTypeName[],
    elements: readonly SetElement[] = [],
  ) {
    for (const e of elements) this.byKey.set(elementKey(e.key), e);
    if (elements.length === 0) this.sorted = [];
  }

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): SetElement | undefined {
    return this.byKey.get(key);
  }

  /** Adds or replaces the element with this key. */
  set(key: string, e: SetElement): void {
    const old = this.byKey.get(key);
    if (old === e) return;
    this.byKey.set(key, e);
    if (this.sorted === null) return;
    if (old !== undefined) this.removed.add(old);
    this.added.push(e);
    // Many changes without a read: the next read sorts everything anyway.
    if (this.added.length > 2 * this.byKey.size + 64) this.forget();
  }

  delete(key: string): boolean {
    const old = this.byKey.get(key);
    if (old === undefined) return false;
    this.byKey.delete(key);
    if (this.sorted === null) return true;
    this.removed.add(old);
    if (this.removed.size > 2 * this.byKey.size + 64) this.forget();
    return true;
  }

  private forget(): void {
    this.sorted = null;
    this.sortKeys = [];
    this.added = [];
    this.removed = new Set();
  }

  clear(): void {
    this.byKey.clear();
    this.sorted = [];
    this.sortKeys = [];
    this.added = [];
    this.removed.clear();
  }

  /** The elements in no particular order. */
  values(): IterableIterator<SetElement> {
    return this.byKey.values();
  }

  /** Element keys and elements, in no particular order. */
  entries(): IterableIterator<[string, SetElement]> {
    return this.byKey.entries();
  }

  copy(): ElementStore {
    const c = new ElementStore(this.types);
    for (const [k, e] of this.byKey) c.byKey.set(k, e);
    if (this.sorted !== null && this.added.length === 0 && this.removed.size === 0) {
      c.sorted = this.sorted;
      c.sortKeys = this.sortKeys;
    } else c.sorted = null;
    return c;
  }

  /** The elements sorted as `nft list` prints them (do not modify the array). */
  list(): SetElement[] {
    const sorted = this.sorted;
    if (sorted !== null && this.added.length === 0 && this.removed.size === 0) return sorted;
    if (sorted === null || this.added.length * 4 > sorted.length) return this.sortAll();
    // Merge the sorted survivors with the added elements that are still present.
    const add = this.added.filter((e) => !this.removed.has(e) && this.byKey.get(elementKey(e.key)) === e).map((e) => ({ e, k: sortKey(this.types, e.key) }));
    add.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
    const out: SetElement[] = [];
    const keys: SortKey[] = [];
    let j = 0;
    for (let i = 0; i < sorted.length; i++) {
      const e = sorted[i]!;
      if (this.removed.has(e)) continue;
      const k = this.sortKeys[i]!;
      while (j < add.length && add[j]!.k < k) {
        out.push(add[j]!.e);
        keys.push(add[j]!.k);
        j++;
      }
      out.push(e);
      keys.push(k);
    }
    for (; j < add.length; j++) {
      out.push(add[j]!.e);
      keys.push(add[j]!.k);
    }
    return this.keep(out, keys);
  }

  private sortAll(): SetElement[] {
    const keyed: { e: SetElement; k: SortKey }[] = [];
    for (const e of this.byKey.values()) keyed.push({ e, k: sortKey(this.types, e.key) });
    keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
    return this.keep(
      keyed.map((x) => x.e),
      keyed.map((x) => x.k),
    );
  }

  private keep(out: SetElement[], keys: SortKey[]): SetElement[] {
    this.sorted = out;
    this.sortKeys = keys;
    this.added = [];
    this.removed = new Set();
    return out;
  }
}

const STORES = new WeakMap<NftSet, ElementStore>();

/**
 * Gives `set` the store as its elements: `set.elements` then reads the store's sorted list,
 * and assigning `set.elements` replaces the store's contents.
 */
export function attachElements<S extends NftSet>(set: S, store: ElementStore): S {
  STORES.set(set, store);
  Object.defineProperty(set, "elements", {
    enumerable: true,
    configurable: true,
    get: () => STORES.get(set)!.list(),
    set: (els: SetElement[]) => STORES.set(set, new ElementStore(set.keyType, els)),
  });
  return set;
}

/** The store behind a set's elements (adopting a plain `elements` array of a set built by hand). */
export function elementStore(set: NftSet): ElementStore {
  let store = STORES.get(set);
  if (store === undefined) {
    store = new ElementStore(set.keyType, set.elements);
    attachElements(set, store);
  }
  return store;
}
