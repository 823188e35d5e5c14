/**
 * The operations of a script on a ruleset (the kernel side of `nft -f`): create, flush and
 * delete tables, chains, sets, rules and elements, with nft's errors for names that do not
 * exist (ENOENT), `create` of what exists (EEXIST) and deleting what is referenced (EBUSY).
 */
import type { DataTypeName } from "./datatypes.js";
import { NFT_ERROR, nftError, type NftLocation } from "./errors.js";
import { exprTypes } from "./expr-types.js";
import { findTable, type BaseChainSpec, type Family, type NftChain, type NftRule, type NftRuleset, type NftSet, type NftTable, type SetElement, type SetRef, type Stmt } from "./model.js";
import type { SetDecl } from "./parse-decl.js";
import type { ParsedRule } from "./parse-rule.js";
import type { Ref } from "./parse-values.js";
import { killDependencies, orderMergedPayloads, renameLaterTh } from "./dependency.js";
import { normaliseInterval, sortElements } from "./sort.js";

/** nft's default size of a set a dynset statement fills, when it has none (NFT_SET_MAX_SIZE… as 1.0.6 prints it). */
const DYNSET_DEFAULT_SIZE = 65535;

export class Ops {
  /** Where each rule added by this script came from, for errors found after the fact. */
  readonly ruleLocs = new Map<NftRule, { loc: NftLocation; stmtLocs: NftLocation[] }>();
  /** Sets created by this script: nft sizes them when a rule adds to them (see addRule). */
  private readonly newSets = new Set<NftSet>();

  constructor(
    private readonly rs: NftRuleset,
    private readonly file: string,
  ) {}

  private fail(code: (typeof NFT_ERROR)[keyof typeof NFT_ERROR], detail: string, loc: NftLocation, hint?: string): never {
    throw nftError(code, detail, loc, hint);
  }

  flushRuleset(): void {
    this.rs.tables.length = 0;
  }

  addTable(family: Family, name: string, create: boolean, loc: NftLocation): NftTable {
    const t = findTable(this.rs, family, name);
    if (t) {
      if (create) this.fail(NFT_ERROR.EXISTS, `table ${family} ${name} exists (File exists)`, loc);
      return t;
    }
    const table: NftTable = { family, name, flags: [], chains: new Map(), sets: new Map(), nextHandle: 1 };
    this.rs.tables.push(table);
    return table;
  }

  table(family: Family, name: string, loc: NftLocation): NftTable {
    return findTable(this.rs, family, name) ?? this.fail(NFT_ERROR.NOT_FOUND, `no such table ${family} ${name} (No such file or directory)`, loc, "add the table first");
  }

  tableOp(op: "delete" | "flush" | "destroy", ref: { family: Family; name: string; loc: NftLocation }): void {
    const i = this.rs.tables.findIndex((t) => t.family === ref.family && t.name === ref.name);
    if (i < 0) {
      if (op === "destroy") return;
      this.fail(NFT_ERROR.NOT_FOUND, `no such table ${ref.family} ${ref.name} (No such file or directory)`, ref.loc);
    }
    if (op === "flush") {
      // `flush table` empties every chain; sets keep their elements (nft 1.0.6).
      for (const c of this.rs.tables[i]!.chains.values()) c.rules = [];
      return;
    }
    this.rs.tables.splice(i, 1);
  }

  addChain(table: NftTable, name: string, base: BaseChainSpec | undefined, create: boolean, loc: NftLocation): NftChain {
    const existing = table.chains.get(name);
    if (existing) {
      if (create) this.fail(NFT_ERROR.EXISTS, `chain ${name} exists (File exists)`, loc);
      if (base) this.setBase(existing, base, loc);
      return existing;
    }
    const chain: NftChain = { name, rules: [], handle: table.nextHandle++ };
    if (base) chain.base = base;
    table.chains.set(name, chain);
    return chain;
  }

  setBase(chain: NftChain, base: BaseChainSpec, loc: NftLocation): void {
    const old = chain.base;
    if (old && (old.type !== base.type || old.hook !== base.hook)) this.fail(NFT_ERROR.EXISTS, `chain ${chain.name} exists with another type or hook (File exists)`, loc);
    if (!old && chain.rules.length > 0) this.fail(NFT_ERROR.EXISTS, `chain ${chain.name} exists as a regular chain (File exists)`, loc);
    chain.base = { ...base, policy: base.policy === "accept" && old ? old.policy : base.policy };
  }

  chain(table: NftTable, name: string, loc: NftLocation): NftChain {
    return table.chains.get(name) ?? this.fail(NFT_ERROR.NOT_FOUND, `no such chain ${name} in table ${table.family} ${table.name} (No such file or directory)`, loc, "add the chain before its rules");
  }

  chainOp(op: "delete" | "flush" | "destroy", table: NftTable, name: string, loc: NftLocation): void {
    const chain = table.chains.get(name);
    if (!chain) {
      if (op === "destroy") return;
      this.fail(NFT_ERROR.NOT_FOUND, `no such chain ${name} (No such file or directory)`, loc);
    }
    if (op === "flush") {
      chain.rules = [];
      return;
    }
    const user = chainUsers(table, name).find((u) => u !== `chain ${name}`);
    if (user) this.fail(NFT_ERROR.IN_USE, `chain ${name} is still referenced by ${user} (Device or resource busy)`, loc, "delete or flush the rules and elements that jump to it first");
    table.chains.delete(name);
  }

  addSet(table: NftTable, name: string, isMap: boolean, decl: SetDecl, create: boolean, loc: NftLocation): NftSet {
    const existing = table.sets.get(name);
    if (existing) {
      if (create) this.fail(NFT_ERROR.EXISTS, `${isMap ? "map" : "set"} ${name} exists (File exists)`, loc);
      if (existing.isMap !== isMap || existing.keyType.join(".") !== decl.keyType.join(".") || (existing.dataType ?? []).join(".") !== (decl.dataType ?? []).join(".")) {
        this.fail(NFT_ERROR.EXISTS, `${name} exists with another type (File exists)`, loc);
      }
      if (decl.elements) this.elements("add", table, existing, decl.elements, loc);
      return existing;
    }
    if (decl.flags.includes("constant") && (decl.timeout !== undefined || decl.flags.includes("timeout"))) {
      this.fail(NFT_ERROR.SEMANTIC, "a constant set cannot have timeouts (Operation not supported)", loc);
    }
    const set: NftSet = { name, isMap, keyType: decl.keyType, flags: [...decl.flags], elements: [], handle: table.nextHandle++ };
    if (decl.dataType) set.dataType = decl.dataType;
    // A default timeout implies the timeout flag (nft adds NFT_SET_TIMEOUT).
    if (decl.timeout !== undefined) {
      set.timeout = decl.timeout;
      if (!set.flags.includes("timeout")) set.flags.push("timeout");
    }
    if (decl.size !== undefined) set.size = decl.size;
    if (decl.autoMerge) set.autoMerge = true;
    if (decl.comment !== undefined) set.comment = decl.comment;
    table.sets.set(name, set);
    this.newSets.add(set);
    if (decl.elements) this.elements("add", table, set, decl.elements, loc);
    return set;
  }

  set(table: NftTable, name: string, loc: NftLocation): NftSet {
    return table.sets.get(name) ?? this.fail(NFT_ERROR.NOT_FOUND, `no such set or map ${name} (No such file or directory)`, loc, "add the set or map first");
  }

  setOp(op: "delete" | "flush" | "destroy", table: NftTable, name: string, isMap: boolean, loc: NftLocation): void {
    const set = table.sets.get(name);
    if (!set || set.isMap !== isMap) {
      if (op === "destroy") return;
      this.fail(NFT_ERROR.NOT_FOUND, `no such ${isMap ? "map" : "set"} ${name} (No such file or directory)`, loc);
    }
    if (op === "flush") {
      set.elements = [];
      this.positions.delete(set);
      return;
    }
    const user = [...table.chains.values()].find((c) => c.rules.some((r) => r.stmts.some((s) => stmtSetNames(s).includes(name))));
    if (user) this.fail(NFT_ERROR.IN_USE, `${isMap ? "map" : "set"} ${name} is still used by a rule in chain ${user.name} (Device or resource busy)`, loc);
    table.sets.delete(name);
  }

  checkRefs(table: NftTable, refs: readonly Ref[]): void {
    for (const r of refs) {
      if (r.kind === "chain" && !table.chains.has(r.name)) this.fail(NFT_ERROR.NOT_FOUND, `no such chain ${r.name} (Could not process rule: No such file or directory)`, r.loc, "add the chain before anything jumps to it");
      if (r.kind === "set" && !table.sets.has(r.name)) this.fail(NFT_ERROR.NOT_FOUND, `no such set ${r.name} (No such file or directory)`, r.loc, "add the set or map before rules that use it");
    }
  }

  addRule(table: NftTable, chain: NftChain, parsed: ParsedRule, loc: NftLocation, where: { insert: boolean; position?: { kind: "handle" | "index"; n: number; loc: NftLocation } } | undefined): void {
    this.checkRefs(table, parsed.refs);
    if (parsed.portWithoutL4) this.fail(NFT_ERROR.SEMANTIC, "transport protocol mapping is only valid after transport protocol match", parsed.portWithoutL4, "match the protocol first, e.g. meta l4proto tcp dnat to …");
    parsed.stmts.forEach((s, i) => this.checkStmt(table, s, parsed.locs[i]!));
    renameLaterTh(parsed.stmts);
    const drop = killDependencies(parsed.stmts, table.family);
    const stmts = parsed.stmts.filter((_, i) => !drop.has(i));
    orderMergedPayloads(stmts);
    const stmtLocs = parsed.locs.filter((_, i) => !drop.has(i));
    const rule: NftRule = { stmts, handle: table.nextHandle++ };
    if (parsed.comment !== undefined) rule.comment = parsed.comment;
    let at = where?.insert ? 0 : chain.rules.length;
    const pos = where?.position;
    if (pos) {
      const idx = pos.kind === "index" ? (pos.n < chain.rules.length ? pos.n : -1) : chain.rules.findIndex((r) => r.handle === pos.n);
      if (idx < 0) this.fail(NFT_ERROR.NOT_FOUND, `no rule with ${pos.kind} ${pos.n} in chain ${chain.name} (No such file or directory)`, pos.loc);
      at = where.insert ? idx : idx + 1;
    }
    chain.rules.splice(at, 0, rule);
    this.ruleLocs.set(rule, { loc, stmtLocs });
  }

  deleteRule(chain: NftChain, handle: number, loc: NftLocation): void {
    const i = chain.rules.findIndex((r) => r.handle === handle);
    if (i < 0) this.fail(NFT_ERROR.NOT_FOUND, `no rule with handle ${handle} in chain ${chain.name} (No such file or directory)`, loc);
    chain.rules.splice(i, 1);
  }

  /** Type checks of lookups against named sets, and the forms nft stores anonymous sets in. */
  private checkStmt(table: NftTable, s: Stmt, loc: NftLocation): void {
    if (s.kind === "match" && s.left.kind === "meta" && s.left.key === "nfproto" && table.family !== "inet") {
      this.fail(NFT_ERROR.SEMANTIC, "meta nfproto is only useful in the inet family", loc);
    }
    if (s.kind === "lookup" || s.kind === "vmap") {
      const ref: SetRef = s.kind === "lookup" ? s.set : s.map;
      const types = exprTypes(s.left);
      if (ref.kind === "named") {
        const set = table.sets.get(ref.name)!;
        if (set.keyType.join(" . ") !== types.join(" . ")) this.fail(NFT_ERROR.SEMANTIC, `datatype mismatch: expected ${set.keyType.join(" . ")}, expression has type ${types.join(" . ")}`, loc);
        if (s.kind === "vmap" && set.dataType?.[0] !== "verdict") this.fail(NFT_ERROR.SEMANTIC, `${ref.name} is not a verdict map`, loc);
        if (s.kind === "lookup" && set.isMap) this.fail(NFT_ERROR.SEMANTIC, `${ref.name} is a map, not a set`, loc);
      } else {
        normaliseAnon(types, ref.elements);
      }
    }
    if (s.kind === "dynset") {
      const set = table.sets.get(s.set)!;
      const types = exprTypes(s.key);
      if (set.keyType.join(" . ") !== types.join(" . ")) this.fail(NFT_ERROR.SEMANTIC, `datatype mismatch: set ${s.set} has type ${set.keyType.join(" . ")}, expression has type ${types.join(" . ")}`, loc);
      if (s.timeout !== undefined && !set.flags.includes("timeout")) this.fail(NFT_ERROR.SEMANTIC, `set ${s.set} has no timeout flag`, loc, "declare the set with flags timeout");
      // nft evaluates the whole script before sending it, so a set created in the same
      // script gets the default size of a dynamic set; an older set keeps its own.
      if (set.size === undefined && this.newSets.has(set)) set.size = DYNSET_DEFAULT_SIZE;
    }
  }

  elements(op: string, _table: NftTable, set: NftSet, els: SetElement[], loc: NftLocation): void {
    const interval = set.flags.includes("interval");
    for (const e of els) {
      e.key = e.key.map((p, i) => (interval ? normaliseInterval(set.keyType[i]!, p) : p));
      if (!interval && e.key.some((p) => p.kind !== "value")) {
        this.fail(NFT_ERROR.SEMANTIC, `you must add 'flags interval' to the declaration of ${set.name} for range or prefix elements`, loc);
      }
      if ((e.timeout !== undefined || e.expires !== undefined) && !set.flags.includes("timeout")) this.fail(NFT_ERROR.SEMANTIC, `set ${set.name} has no timeout flag`, loc);
    }
    // Elements are found through a key index and removed by swapping with the last, so a
    // transaction of n element operations is O(n); the set is sorted once, in finish().
    const pos = this.positionsOf(set);
    const keyOf = (e: SetElement): string => JSON.stringify(e.key);
    this.unsorted.add(set);
    if (op === "delete" || op === "destroy") {
      for (const e of els) {
        const key = keyOf(e);
        const i = pos.get(key);
        if (i === undefined) {
          if (op === "destroy") continue;
          this.fail(NFT_ERROR.NOT_FOUND, `element not found in ${set.name} (No such file or directory)`, loc);
        }
        const last = set.elements.pop()!;
        pos.delete(key);
        if (i !== set.elements.length) {
          set.elements[i] = last;
          pos.set(keyOf(last), i);
        }
      }
      return;
    }
    for (const e of els) {
      const key = keyOf(e);
      const i = pos.get(key);
      if (i !== undefined) {
        const old = set.elements[i]!;
        if (op === "create" || JSON.stringify(old.data) !== JSON.stringify(e.data)) this.fail(NFT_ERROR.EXISTS, `element exists in ${set.name} (File exists)`, loc);
        continue;
      }
      pos.set(key, set.elements.length);
      set.elements.push(e);
    }
  }

  /** Element positions by key, per set touched in this transaction. */
  private readonly positions = new Map<NftSet, Map<string, number>>();
  /** Sets whose elements changed and must be sorted again (nft lists them sorted). */
  private readonly unsorted = new Set<NftSet>();

  private positionsOf(set: NftSet): Map<string, number> {
    let pos = this.positions.get(set);
    if (pos === undefined) {
      pos = new Map();
      set.elements.forEach((e, i) => pos!.set(JSON.stringify(e.key), i));
      this.positions.set(set, pos);
    }
    return pos;
  }

  /** Ends the transaction: every set whose elements changed is sorted once. */
  finish(): void {
    for (const set of this.unsorted) sortElements(set.keyType, set.elements);
    this.unsorted.clear();
    this.positions.clear();
  }
}

/** An anonymous set of several elements is an interval set when any element is a range or prefix; nft sorts it. */
function normaliseAnon(types: DataTypeName[], els: SetElement[]): void {
  if (els.some((e) => e.key.some((p) => p.kind !== "value"))) {
    for (const e of els) e.key = e.key.map((p, i) => normaliseInterval(types[i]!, p));
  }
  sortElements(types, els);
}

function stmtSetNames(s: Stmt): string[] {
  if (s.kind === "lookup" && s.set.kind === "named") return [s.set.name];
  if (s.kind === "vmap" && s.map.kind === "named") return [s.map.name];
  if (s.kind === "dynset") return [s.set];
  return [];
}

/** Who jumps or goes to chain `name`: rules (as `chain X`) and map elements (as `map M`). */
export function chainUsers(table: NftTable, name: string): string[] {
  const users: string[] = [];
  const hits = (els: SetElement[]): boolean => els.some((e) => e.data?.kind === "verdict" && "chain" in e.data.verdict && e.data.verdict.chain === name);
  for (const c of table.chains.values()) {
    for (const r of c.rules) {
      for (const s of r.stmts) {
        const direct = s.kind === "verdict" && "chain" in s.verdict && s.verdict.chain === name;
        const anon = s.kind === "vmap" && s.map.kind === "anon" && hits(s.map.elements);
        if (direct || anon) users.push(`chain ${c.name}`);
      }
    }
  }
  for (const set of table.sets.values()) if (hits(set.elements)) users.push(`map ${set.name}`);
  return users;
}
