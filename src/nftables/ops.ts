/**
 * The operations of a script on a ruleset (the kernel side of `nft -f`): create, flush and
 * delete tables, chains, sets, rules and elements, with nft's errors for names that do not
 * exist (ENOENT), `create` of what exists (EEXIST) and deleting what is referenced (EBUSY).
 *
 * One script is one transaction, and it costs what it touches, not the ruleset's size:
 * - Nothing committed is changed until `commit()`. Each table the script touches gets a
 *   `TableTx`: an overlay of the chains and sets it added, changed or deleted, over the
 *   committed table. A chain is copied the first time the script changes it (its rules
 *   array, not the rules); a set's elements changes sit in a `SetTx` over the committed
 *   element store. A failing script just drops the overlays.
 * - `commit()` validates each touched table (only what changed, see validate.ts), then
 *   builds the new ruleset: untouched tables, chains and sets are the same objects; a
 *   touched table is a new object whose chain and set maps are the committed ones updated in
 *   place (`consume`: the input ruleset is given up) or copies of them (the input stays as it was).
 * - Deleting a chain or set checks a per-table count of references to it, built the first
 *   time a delete needs it and kept up to date after that.
 * - It records what changed (`NftChanges`) for the compiler.
 */
import type { DataTypeName } from "./datatypes.js";
import { type NftChanges, type NftSetDelta, tableKey } from "./changes.js";
import { NFT_ERROR, nftError, type NftLocation } from "./errors.js";
import { exprTypes } from "./expr-types.js";
import {
  ElementStore,
  attachElements,
  elementKey,
  elementStore,
  type BaseChainSpec,
  type ElementData,
  type Family,
  type NftChain,
  type NftRule,
  type NftRuleset,
  type NftSet,
  type NftTable,
  type SetElement,
  type SetRef,
  type Stmt,
} from "./model.js";
import type { SetDecl } from "./parse-decl.js";
import type { ParsedRule } from "./parse-rule.js";
import type { Ref } from "./parse-values.js";
import { killDependencies, orderMergedPayloads, renameLaterTh } from "./dependency.js";
import { normaliseInterval, sortElements } from "./sort.js";
import type { Token } from "./tokenize.js";
import { type TableView, type ValidationCache, type ValidationDelta, validateFull, validateIncremental } from "./validate.js";

/** nft's default size of a set a dynset statement fills, when it has none (NFT_SET_MAX_SIZE… as 1.0.6 prints it). */
const DYNSET_DEFAULT_SIZE = 65535;

export type RuleLocs = Map<NftRule, { loc: NftLocation; stmtLocs: NftLocation[] }>;

export interface TxOptions {
  /** Update the input ruleset's containers in place (it must not be used afterwards). */
  consume: boolean;
  /** Keep where every rule and statement was written (for `ruleLocs` and located validation errors). */
  record: boolean;
}

/** What a committed table carries from one transaction to the next (never seen by readers of the model). */
interface TableState {
  validation: ValidationCache | null;
  /** References to each chain from other chains' rules and from map elements; to each set from rules. Null until a delete needs them. */
  refs: { chains: Map<string, number>; sets: Map<string, number> } | null;
}

const TABLE_STATE = new WeakMap<NftTable, TableState>();

/** Chains a transaction remembers having named last (a power of two). */
const RECENT = 32;

/** A table's validation: the whole cache, or (incremental) what grew over the kept one. */
type Validation = { incremental: false; cache: ValidationCache } | { incremental: true; delta: ValidationDelta };

/** A count per name: committed counts (read-only unless owned) plus this transaction's changes. */
class Counts {
  private readonly delta = new Map<string, number>();
  constructor(
    private readonly base: Map<string, number>,
    private readonly owned: boolean,
  ) {}

  get(name: string): number {
    return (this.base.get(name) ?? 0) + (this.delta.get(name) ?? 0);
  }

  add(name: string, d: number): void {
    this.delta.set(name, (this.delta.get(name) ?? 0) + d);
  }

  result(inPlace: boolean): Map<string, number> {
    const m = this.owned || inPlace ? this.base : new Map(this.base);
    for (const [k, d] of this.delta) {
      if (d === 0) continue;
      const v = (m.get(k) ?? 0) + d;
      if (v === 0) m.delete(k);
      else m.set(k, v);
    }
    return m;
  }
}

const verdictTarget = (data: ElementData | undefined): string | undefined => (data?.kind === "verdict" && "chain" in data.verdict ? data.verdict.chain : undefined);

function sameData(a: ElementData | undefined, b: ElementData | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.kind === "verdict" && b.kind === "verdict") {
    const x = a.verdict;
    const y = b.verdict;
    return x.kind === y.kind && ("chain" in x ? x.chain : undefined) === ("chain" in y ? y.chain : undefined);
  }
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A set's fields without its elements (reading `elements` would sort them). */
function copySetFields(s: NftSet): NftSet {
  const c = { name: s.name, isMap: s.isMap, keyType: s.keyType, flags: [...s.flags], handle: s.handle } as NftSet;
  if (s.dataType) c.dataType = s.dataType;
  if (s.timeout !== undefined) c.timeout = s.timeout;
  if (s.size !== undefined) c.size = s.size;
  if (s.autoMerge) c.autoMerge = true;
  if (s.comment !== undefined) c.comment = s.comment;
  return c;
}

/** The element changes of one set in this transaction, over its committed store (null: a set created here). */
class SetTx {
  flushed = false;
  readonly changes = new Map<string, SetElement | null>();

  constructor(
    readonly set: NftSet,
    readonly base: ElementStore | null,
  ) {}

  get(key: string): SetElement | undefined {
    const c = this.changes.get(key);
    // null: deleted here
    if (c !== undefined) return c ?? undefined;
    return this.flushed ? undefined : this.base?.get(key);
  }

  put(key: string, e: SetElement | null): void {
    this.changes.set(key, e);
  }

  *values(): IterableIterator<SetElement> {
    if (!this.flushed && this.base) for (const [k, e] of this.base.entries()) if (!this.changes.has(k)) yield e;
    for (const e of this.changes.values()) if (e) yield e;
  }

  commit(inPlace: boolean): ElementStore {
    const store = this.base === null ? new ElementStore(this.set.keyType) : inPlace ? this.base : this.base.copy();
    if (this.flushed) store.clear();
    for (const [k, e] of this.changes) {
      if (e) store.set(k, e);
      else store.delete(k);
    }
    return store;
  }

  /** The net change against the committed elements. */
  delta(): NftSetDelta {
    const d: NftSetDelta = { flushed: this.flushed, added: [], deleted: [] };
    for (const [k, e] of this.changes) {
      const old = this.flushed ? undefined : this.base?.get(k);
      if (old === e) continue;
      if (old !== undefined) d.deleted.push(old);
      if (e) d.added.push(e);
    }
    return d;
  }
}

/** One table in a transaction: the committed table (null for one created here) and what changed. */
export class TableTx implements TableView {
  /** The new table object: scalar fields change here; its chain and set maps are filled at commit. */
  readonly table: NftTable;
  private readonly chainOv = new Map<string, NftChain | null>();
  private readonly setOv = new Map<string, NftSet | null>();
  /** Names created (or created again) here, in creation order: they go last. */
  private readonly chainNew = new Set<string>();
  private readonly setNew = new Set<string>();
  /** Chains copied or created here (safe to change). */
  private readonly own = new Set<NftChain>();
  readonly sets = new Map<NftSet, SetTx>();
  /** Rules added here per chain, and targets of verdict-map elements added here per map (for validation). */
  readonly newRules = new Map<string, NftRule[]>();
  readonly newMapTargets = new Map<string, string[]>();
  /** Chains whose rules (or existence) changed. */
  readonly changedChains = new Set<string>();
  /** Something the compiler's incremental path does not follow (see changes.ts). */
  full = false;
  /** Validate the whole table (base chains or hooks changed, flushed, new). */
  fullValidation = false;
  /** Operations, to size the incremental validation's budget. */
  work = 0;
  chainRefs: Counts | null = null;
  setRefs: Counts | null = null;
  private readonly state: TableState | undefined;

  constructor(readonly base: NftTable | null, family: Family, name: string) {
    if (base) {
      this.table = { family: base.family, name: base.name, flags: [...base.flags], chains: base.chains, sets: base.sets, nextHandle: base.nextHandle };
      if (base.comment !== undefined) this.table.comment = base.comment;
      this.state = TABLE_STATE.get(base);
      const refs = this.state?.refs;
      if (refs) {
        this.chainRefs = new Counts(refs.chains, false);
        this.setRefs = new Counts(refs.sets, false);
      }
    } else {
      this.table = { family, name, flags: [], chains: new Map(), sets: new Map(), nextHandle: 1 };
      this.full = true;
      this.fullValidation = true;
    }
  }

  get key(): string {
    return tableKey(this.table.family, this.table.name);
  }

  // ---------------------------------------------------------------- reading

  /**
   * The chains named last (created or looked up), newest first at `recentPos`: a script names
   * the chains it just added (an endpoint chain's rules, a verdict map's targets) and one
   * chain line after line, and a few string compares cost less than hashing a name into a
   * map of every chain (cache misses in a table of a million chains).
   */
  private readonly recentNames: string[] = new Array<string>(RECENT).fill("");
  /** The last chain found in the maps (a chain many rules jump to, such as mark-for-masquerade, found again by one compare). */
  private lastLooked = "";
  private lastChain: NftChain | undefined = undefined;
  private readonly recentChains: (NftChain | null)[] = new Array<NftChain | null>(RECENT).fill(null);
  private recentPos = 0;

  chain(name: string): NftChain | undefined {
    if (name === this.lastLooked) return this.lastChain;
    const names = this.recentNames;
    for (let k = 0, i = this.recentPos; k < RECENT; k++, i = (i + RECENT - 1) & (RECENT - 1)) {
      if (names[i] === name) return this.recentChains[i] ?? undefined;
    }
    const c = this.lookupChain(name);
    if (c !== undefined) {
      this.lastLooked = c.name;
      this.lastChain = c;
    }
    return c;
  }

  /** The chain named `name`, from the maps (for a name that is probably new: not among the recent ones). */
  lookupChain(name: string): NftChain | undefined {
    const o = this.chainOv.get(name);
    // null: deleted here
    return o !== undefined ? (o ?? undefined) : this.base?.chains.get(name);
  }

  /**
   * A recent chain whose name is written in `s` at `at` (then a blank or `end`): a reader
   * finds the chains a line names among the ones just added without making a string.
   */
  recentAt(s: string, at: number, end: number): NftChain | undefined {
    const names = this.recentNames;
    for (let k = 0, i = this.recentPos; k < RECENT; k++, i = (i + RECENT - 1) & (RECENT - 1)) {
      const n = names[i]!;
      const j = at + n.length;
      if (n !== "" && j <= end && (j === end || s.charCodeAt(j) === 32) && s.startsWith(n, at)) return this.recentChains[i] ?? undefined;
    }
    return undefined;
  }

  /** Puts `c` (the chain of its name now) first among the recent chains. */
  private remember(c: NftChain): void {
    const i = (this.recentPos + 1) & (RECENT - 1);
    this.recentPos = i;
    this.recentNames[i] = c.name;
    this.recentChains[i] = c;
  }

  /** Forgets chain `name` among the recent ones (it was replaced or deleted). */
  private forget(name: string): void {
    if (this.lastLooked === name) {
      this.lastLooked = "";
      this.lastChain = undefined;
    }
    const names = this.recentNames;
    for (let i = 0; i < RECENT; i++) {
      if (names[i] === name) {
        names[i] = "";
        this.recentChains[i] = null;
      }
    }
  }

  /** Records that chain `name`'s rules (or existence) changed, for the compiler (not needed once everything recompiles). */
  chainChanged(name: string): void {
    if (!this.full) this.changedChains.add(name);
  }

  *chains(): IterableIterator<NftChain> {
    if (this.base === null) {
      for (const c of this.chainOv.values()) if (c) yield c;
      return;
    }
    for (const [name, c] of this.base.chains) {
      if (this.chainNew.has(name)) continue;
      if (this.chainOv.has(name)) {
        const o = this.chainOv.get(name);
        if (o) yield o;
      } else yield c;
    }
    for (const name of this.chainNew) {
      const o = this.chainOv.get(name);
      if (o) yield o;
    }
  }

  set(name: string): NftSet | undefined {
    if (this.setOv.has(name)) return this.setOv.get(name) ?? undefined;
    return this.base?.sets.get(name);
  }

  *setsInOrder(): IterableIterator<NftSet> {
    if (this.base === null) {
      for (const s of this.setOv.values()) if (s) yield s;
      return;
    }
    for (const [name, s] of this.base.sets) {
      if (this.setNew.has(name)) continue;
      if (this.setOv.has(name)) {
        const o = this.setOv.get(name);
        if (o) yield o;
      } else yield s;
    }
    for (const name of this.setNew) {
      const o = this.setOv.get(name);
      if (o) yield o;
    }
  }

  /** A set's elements in this transaction, in no particular order. */
  elementsOf(set: NftSet): Iterable<SetElement> {
    const tx = this.sets.get(set);
    return tx ? tx.values() : elementStore(set).values();
  }

  *mapTargets(name: string): IterableIterator<string> {
    const set = this.set(name);
    if (!set) return;
    for (const e of this.elementsOf(set)) {
      const t = verdictTarget(e.data);
      if (t !== undefined) yield t;
    }
  }

  sortedElements(name: string): readonly SetElement[] {
    const set = this.set(name);
    if (!set) return [];
    const tx = this.sets.get(set);
    if (!tx) return set.elements;
    const els = [...tx.values()];
    sortElements(set.keyType, els);
    return els;
  }

  // ---------------------------------------------------------------- writing

  /** The chain, copied first if the committed one (or a copy from before) is still shared. */
  writable(name: string): NftChain {
    const c = this.chain(name)!;
    if (this.base === null || this.own.has(c)) return c;
    const w: NftChain = { ...c, rules: c.rules.slice() };
    if (c.base) w.base = { ...c.base };
    this.chainOv.set(name, w);
    this.own.add(w);
    this.forget(name);
    this.remember(w);
    return w;
  }

  createChain(c: NftChain): void {
    // (A chain is created only when none of its name exists: no recent entry names it.)
    this.remember(c);
    if (this.base === null) {
      // A new table: the overlay is the table, in creation order (a chain deleted here is not in it).
      this.chainOv.set(c.name, c);
      return;
    }
    this.chainOv.set(c.name, c);
    this.chainNew.delete(c.name);
    this.chainNew.add(c.name);
    this.own.add(c);
  }

  deleteChain(name: string): void {
    this.forget(name);
    // A new table's overlay is the table: the chain just goes.
    if (this.base === null) this.chainOv.delete(name);
    else this.chainOv.set(name, null);
  }

  /** The set's element changes (copying the set object the first time). */
  writableSet(name: string): SetTx {
    const s = this.set(name)!;
    const tx = this.sets.get(s);
    if (tx) return tx;
    const w = copySetFields(s);
    const created = new SetTx(w, elementStore(s));
    this.setOv.set(name, w);
    this.sets.set(w, created);
    return created;
  }

  createSet(s: NftSet): SetTx {
    const tx = new SetTx(s, null);
    if (this.base === null) this.setOv.delete(s.name);
    else {
      this.setNew.delete(s.name);
      this.setNew.add(s.name);
    }
    this.setOv.set(s.name, s);
    this.sets.set(s, tx);
    return tx;
  }

  deleteSet(name: string): void {
    this.setOv.set(name, null);
  }

  /** Is nothing changed here (the committed table object is kept, and needs no validation)? */
  untouched(): boolean {
    const b = this.base;
    if (!b) return false;
    const t = this.table;
    return this.chainOv.size === 0 && this.setOv.size === 0 && t.comment === b.comment && t.nextHandle === b.nextHandle && t.flags.join() === b.flags.join();
  }

  // ---------------------------------------------------------------- reference counts

  /**
   * Counts of references to chains and sets. When the table has none yet they are counted
   * from this transaction's view; a committed table keeps them (kept up to date from then
   * on), a table created by this transaction counts again at its next delete (so loading a
   * whole ruleset does not pay for counts nobody reads).
   */
  refs(): { chains: Counts; sets: Counts } {
    if (!this.chainRefs || !this.setRefs) {
      const chains = new Map<string, number>();
      const sets = new Map<string, number>();
      for (const c of this.chains()) {
        const self = c.name;
        for (const r of c.rules) {
          for (const st of r.stmts) {
            let name: string | undefined;
            if (st.kind === "verdict") {
              if ("chain" in st.verdict && st.verdict.chain !== self) chains.set((name = st.verdict.chain), (chains.get(name) ?? 0) + 1);
            } else if (st.kind === "vmap") {
              if (st.map.kind === "named") sets.set((name = st.map.name), (sets.get(name) ?? 0) + 1);
              else {
                for (const e of st.map.elements) {
                  const t = verdictTarget(e.data);
                  if (t !== undefined && t !== self) chains.set(t, (chains.get(t) ?? 0) + 1);
                }
              }
            } else if (st.kind === "lookup") {
              if (st.set.kind === "named") sets.set((name = st.set.name), (sets.get(name) ?? 0) + 1);
            } else if (st.kind === "dynset") sets.set(st.set, (sets.get(st.set) ?? 0) + 1);
          }
        }
      }
      for (const s of this.setsInOrder()) {
        if (s.dataType?.[0] !== "verdict") continue;
        for (const e of this.elementsOf(s)) {
          const t = verdictTarget(e.data);
          if (t !== undefined) chains.set(t, (chains.get(t) ?? 0) + 1);
        }
      }
      const counts = { chains: new Counts(chains, true), sets: new Counts(sets, true) };
      if (this.base === null) return counts;
      this.chainRefs = counts.chains;
      this.setRefs = counts.sets;
    }
    return { chains: this.chainRefs!, sets: this.setRefs! };
  }

  countRule(chain: string, r: NftRule, d: number): void {
    if (!this.chainRefs || !this.setRefs) return;
    forEachRef(chain, r, (kind, name) => (kind === "chain" ? this.chainRefs! : this.setRefs!).add(name, d));
  }

  countElement(e: SetElement, d: number): void {
    const t = verdictTarget(e.data);
    if (t !== undefined) this.chainRefs?.add(t, d);
  }

  // ---------------------------------------------------------------- commit

  /** Validates the table as this transaction leaves it; returns what to keep (all of it, or the changes to the kept cache). */
  validate(locs: RuleLocs, file: string): Validation {
    const kept = this.state?.validation;
    if (!this.fullValidation && kept) {
      let rules = 0;
      for (const r of this.newRules.values()) rules += r.length;
      let targets = 0;
      for (const t of this.newMapTargets.values()) targets += t.length;
      const budget = Math.max(4096, 16 * (rules + targets + this.work));
      const inc = validateIncremental(this, kept, this.newRules, this.newMapTargets, budget);
      if (inc) return { delta: inc, incremental: true };
    }
    return { cache: validateFull(this, locs, file), incremental: false };
  }

  handleLimit(): number {
    return this.table.nextHandle;
  }

  /** The new table (or the committed one, unchanged). */
  commit(inPlace: boolean, validation: Validation, changes: NftChanges | undefined): NftTable {
    const base = this.base;
    const t = this.table;
    // Chains this transaction made or copied keep rule lists grown by push (room for 16 or more
    // rules): made to size, a million small chains hold their rules and not five times the room.
    for (const c of this.own) if (c.rules.length < 16) c.rules = c.rules.slice();
    if (this.base === null) for (const c of this.chainOv.values()) if (c !== null && c.rules.length < 16) c.rules = c.rules.slice();
    // (A new table's chain overlay holds every chain in creation order, and nothing else: it becomes the table's map.)
    const chains = base ? (inPlace ? base.chains : new Map(base.chains)) : (this.chainOv as Map<string, NftChain>);
    const sets = base ? (inPlace ? base.sets : new Map(base.sets)) : new Map<string, NftSet>();
    if (base) {
      for (const [name, c] of this.chainOv) {
        if (this.chainNew.has(name)) continue;
        if (c === null) chains.delete(name);
        else chains.set(name, c);
      }
      for (const name of this.chainNew) {
        chains.delete(name);
        const c = this.chainOv.get(name);
        if (c) chains.set(name, c);
      }
    }
    const setDeltas = new Map<string, NftSetDelta>();
    for (const [name, s] of this.setOv) {
      if (this.setNew.has(name)) continue;
      if (s === null) sets.delete(name);
      else sets.set(name, s);
    }
    for (const name of this.setNew) {
      sets.delete(name);
      const s = this.setOv.get(name);
      if (s) sets.set(name, s);
    }
    for (const [s, tx] of this.sets) {
      if (this.setOv.get(s.name) !== s) continue; // deleted or replaced later in the transaction
      if (tx.base !== null && !this.setNew.has(s.name)) {
        const d = tx.delta();
        if (d.flushed || d.added.length > 0 || d.deleted.length > 0) setDeltas.set(s.name, d);
      }
      attachElements(s, tx.commit(inPlace));
    }
    t.chains = chains;
    t.sets = sets;

    // What this table keeps for the next transaction.
    const old = this.state;
    let kept: ValidationCache;
    if (validation.incremental) {
      // (An incremental check runs only over a kept cache.)
      const oldV = old!.validation!;
      // Contexts by chain handle: new chains' handles may lie past the kept array (deleted chains' handles are never used again).
      const had = oldV.reach;
      let reach = had;
      if (t.nextHandle > had.length || !inPlace) {
        reach = new Uint8Array(t.nextHandle > had.length ? Math.max(t.nextHandle, had.length * 2) : had.length);
        reach.set(had);
      }
      const mapMask = inPlace ? oldV.mapMask : new Map(oldV.mapMask);
      for (const [h, v] of validation.delta.reach) reach[h] = v;
      for (const [k, v] of validation.delta.mapMask) mapMask.set(k, v);
      for (const [name, s] of this.setOv) if (s === null) mapMask.delete(name);
      kept = { reach, mapMask };
    } else kept = validation.cache;
    const refs = this.chainRefs && this.setRefs ? { chains: this.chainRefs.result(inPlace), sets: this.setRefs.result(inPlace) } : null;
    TABLE_STATE.set(t, { validation: kept, refs });

    if (changes) {
      const key = this.key;
      if (this.full) changes.full = true;
      if (this.changedChains.size > 0) {
        let set = changes.chains.get(key);
        if (!set) changes.chains.set(key, (set = new Set()));
        for (const c of this.changedChains) set.add(c);
      }
      if (setDeltas.size > 0) {
        let m = changes.sets.get(key);
        if (!m) changes.sets.set(key, (m = new Map()));
        for (const [name, d] of setDeltas) mergeDelta(m, name, d);
      }
    }
    return t;
  }
}

/** Adds one transaction's delta of a set to what earlier transactions recorded. */
function mergeDelta(m: Map<string, NftSetDelta>, name: string, d: NftSetDelta): void {
  const prev = m.get(name);
  if (!prev || d.flushed) {
    m.set(name, d);
    return;
  }
  const gone = new Set(d.deleted);
  const added = prev.added.filter((e) => !gone.has(e));
  const stillAdded = new Set(prev.added);
  m.set(name, { flushed: prev.flushed, added: [...added, ...d.added], deleted: [...prev.deleted, ...d.deleted.filter((e) => !stillAdded.has(e))] });
}

/** Calls `f` for each chain (other than `self`) and set a rule refers to, once per reference. */
function forEachRef(self: string, r: NftRule, f: (kind: "chain" | "set", name: string) => void): void {
  for (const s of r.stmts) {
    if (s.kind === "verdict") {
      if ("chain" in s.verdict && s.verdict.chain !== self) f("chain", s.verdict.chain);
    } else if (s.kind === "vmap") {
      if (s.map.kind === "named") f("set", s.map.name);
      else for (const e of s.map.elements) {
        const t = verdictTarget(e.data);
        if (t !== undefined && t !== self) f("chain", t);
      }
    } else if (s.kind === "lookup") {
      if (s.set.kind === "named") f("set", s.set.name);
    } else if (s.kind === "dynset") f("set", s.set);
  }
}

export class Ops {
  /** Where each rule added by this script came from (only when recording). */
  readonly ruleLocs: RuleLocs = new Map();
  /** Sets created by this script: nft sizes them when a rule adds to them (see addRule). */
  private readonly newSets = new Set<NftSet>();
  /** Touched tables by key (null: deleted), and keys of tables created here in creation order. */
  private readonly tables = new Map<string, TableTx | null>();
  private readonly created = new Set<string>();
  private fullRuleset = false;

  constructor(
    private readonly rs: NftRuleset,
    private readonly file: string,
    private readonly opts: TxOptions,
  ) {}

  /** Whether rule and statement locations are kept (readers must then give every statement's start). */
  get recording(): boolean {
    return this.opts.record;
  }

  private fail(code: (typeof NFT_ERROR)[keyof typeof NFT_ERROR], detail: string, at: Token | NftLocation, hint?: string): never {
    throw nftError(code, detail, "kind" in at ? this.locOf(at) : at, hint);
  }

  private locOf(t: Token): NftLocation {
    return { file: this.file, line: t.line, column: t.column };
  }

  // ---------------------------------------------------------------- tables

  /** The table the last command named (scripts name one table line after line). */
  private last: TableTx | null = null;

  private lookup(family: Family, name: string): TableTx | undefined {
    const last = this.last;
    if (last !== null && last.table.name === name && last.table.family === family) return last;
    const tt = this.lookupKey(family, name);
    this.last = tt ?? null;
    return tt;
  }

  private lookupKey(family: Family, name: string): TableTx | undefined {
    const key = tableKey(family, name);
    const tt = this.tables.get(key);
    if (tt !== undefined) return tt ?? undefined;
    if (this.tables.has(key)) return undefined;
    const base = this.rs.tables.find((t) => t.family === family && t.name === name);
    if (!base) return undefined;
    const fresh = new TableTx(base, family, name);
    this.tables.set(key, fresh);
    return fresh;
  }

  flushRuleset(): void {
    this.last = null;
    for (const t of this.rs.tables) this.tables.set(tableKey(t.family, t.name), null);
    for (const key of this.tables.keys()) this.tables.set(key, null);
    this.created.clear();
    this.fullRuleset = true;
  }

  addTable(family: Family, name: string, create: boolean, loc: Token): TableTx {
    const t = this.lookup(family, name);
    if (t) {
      if (create) this.fail(NFT_ERROR.EXISTS, `table ${family} ${name} exists (File exists)`, loc);
      return t;
    }
    const key = tableKey(family, name);
    const fresh = new TableTx(null, family, name);
    this.last = null;
    this.tables.set(key, fresh);
    this.created.delete(key);
    this.created.add(key);
    return fresh;
  }

  table(family: Family, name: string, loc: Token): TableTx {
    return this.lookup(family, name) ?? this.fail(NFT_ERROR.NOT_FOUND, `no such table ${family} ${name} (No such file or directory)`, loc, "add the table first");
  }

  /** The table, or undefined (a reader then calls `table` for the error). */
  findTable(family: Family, name: string): TableTx | undefined {
    return this.lookup(family, name);
  }

  tableOp(op: "delete" | "flush" | "destroy", ref: { family: Family; name: string; loc: Token }): void {
    const tt = this.lookup(ref.family, ref.name);
    if (!tt) {
      if (op === "destroy") return;
      this.fail(NFT_ERROR.NOT_FOUND, `no such table ${ref.family} ${ref.name} (No such file or directory)`, ref.loc);
    }
    tt.full = true;
    tt.fullValidation = true;
    if (op === "flush") {
      // `flush table` empties every chain; sets keep their elements (nft 1.0.6).
      for (const c of [...tt.chains()]) {
        if (c.rules.length === 0) continue;
        const w = tt.writable(c.name);
        for (const r of w.rules) tt.countRule(w.name, r, -1);
        w.rules = [];
        tt.chainChanged(c.name);
      }
      return;
    }
    this.tables.set(tt.key, null);
    this.last = null;
    this.fullRuleset = true;
  }

  setTableComment(tt: TableTx, comment: string): void {
    if (tt.table.comment !== comment) tt.full = true;
    tt.table.comment = comment;
  }

  addTableFlag(tt: TableTx, flag: string): void {
    if (tt.table.flags.includes(flag)) return;
    tt.table.flags.push(flag);
    tt.full = true;
  }

  // ---------------------------------------------------------------- chains

  addChain(tt: TableTx, name: string, base: BaseChainSpec | undefined, create: boolean, loc: Token): void {
    tt.work++;
    const existing = tt.lookupChain(name);
    if (existing) {
      if (create) this.fail(NFT_ERROR.EXISTS, `chain ${name} exists (File exists)`, loc);
      if (base) this.setBase(tt, name, base, loc);
      return;
    }
    const chain: NftChain = { name, rules: [], handle: tt.table.nextHandle++ };
    if (base) {
      chain.base = base;
      tt.full = true;
      tt.fullValidation = true;
    }
    tt.createChain(chain);
    tt.chainChanged(name);
  }

  setBase(tt: TableTx, name: string, base: BaseChainSpec, loc: Token): void {
    const chain = tt.chain(name)!;
    const old = chain.base;
    if (old && (old.type !== base.type || old.hook !== base.hook)) this.fail(NFT_ERROR.EXISTS, `chain ${chain.name} exists with another type or hook (File exists)`, loc);
    if (!old && chain.rules.length > 0) this.fail(NFT_ERROR.EXISTS, `chain ${chain.name} exists as a regular chain (File exists)`, loc);
    const next = { ...base, policy: base.policy === "accept" && old ? old.policy : base.policy };
    if (old && old.type === next.type && old.hook === next.hook && old.priority === next.priority && old.policy === next.policy) return;
    tt.writable(name).base = next;
    tt.full = true;
    tt.fullValidation = true;
    tt.chainChanged(name);
  }

  setPolicy(tt: TableTx, name: string, policy: "accept" | "drop"): void {
    const chain = tt.chain(name)!;
    if (!chain.base || chain.base.policy === policy) return;
    tt.writable(name).base = { ...chain.base, policy };
    tt.full = true;
    tt.chainChanged(name);
  }

  setChainComment(tt: TableTx, name: string, comment: string): void {
    if (tt.chain(name)!.comment === comment) return;
    tt.writable(name).comment = comment;
    tt.chainChanged(name);
  }

  chain(tt: TableTx, name: string, loc: Token): NftChain {
    return tt.chain(name) ?? this.fail(NFT_ERROR.NOT_FOUND, `no such chain ${name} in table ${tt.table.family} ${tt.table.name} (No such file or directory)`, loc, "add the chain before its rules");
  }

  chainOp(op: "delete" | "flush" | "destroy", tt: TableTx, name: string, loc: Token): void {
    tt.work++;
    const chain = tt.chain(name);
    if (!chain) {
      if (op === "destroy") return;
      this.fail(NFT_ERROR.NOT_FOUND, `no such chain ${name} (No such file or directory)`, loc);
    }
    if (op === "flush") {
      if (chain.rules.length === 0) return;
      const w = tt.writable(name);
      for (const r of w.rules) tt.countRule(name, r, -1);
      w.rules = [];
      tt.chainChanged(name);
      return;
    }
    if (tt.refs().chains.get(name) > 0) {
      const user = chainUsers(tt, name).find((u) => u !== `chain ${name}`);
      if (user) this.fail(NFT_ERROR.IN_USE, `chain ${name} is still referenced by ${user} (Device or resource busy)`, loc, "delete or flush the rules and elements that jump to it first");
    }
    for (const r of chain.rules) tt.countRule(name, r, -1);
    if (chain.base) {
      tt.full = true;
      tt.fullValidation = true;
    }
    tt.deleteChain(name);
    tt.chainChanged(name);
  }

  // ---------------------------------------------------------------- sets

  addSet(tt: TableTx, name: string, isMap: boolean, decl: SetDecl, create: boolean, loc: Token): void {
    tt.work++;
    const existing = tt.set(name);
    if (existing) {
      if (create) this.fail(NFT_ERROR.EXISTS, `${isMap ? "map" : "set"} ${name} exists (File exists)`, loc);
      if (existing.isMap !== isMap || existing.keyType.join(".") !== decl.keyType.join(".") || (existing.dataType ?? []).join(".") !== (decl.dataType ?? []).join(".")) {
        this.fail(NFT_ERROR.EXISTS, `${name} exists with another type (File exists)`, loc);
      }
      if (decl.elements) this.elements("add", tt, name, decl.elements, loc);
      return;
    }
    if (decl.flags.includes("constant") && (decl.timeout !== undefined || decl.flags.includes("timeout"))) {
      this.fail(NFT_ERROR.SEMANTIC, "a constant set cannot have timeouts (Operation not supported)", loc);
    }
    const set = { name, isMap, keyType: decl.keyType, flags: [...decl.flags], handle: tt.table.nextHandle++ } as NftSet;
    if (decl.dataType) set.dataType = decl.dataType;
    // A default timeout implies the timeout flag (nft adds NFT_SET_TIMEOUT).
    if (decl.timeout !== undefined) {
      set.timeout = decl.timeout;
      if (!set.flags.includes("timeout")) set.flags.push("timeout");
    }
    if (decl.size !== undefined) set.size = decl.size;
    if (decl.autoMerge) set.autoMerge = true;
    if (decl.comment !== undefined) set.comment = decl.comment;
    tt.createSet(set);
    tt.full = true;
    this.newSets.add(set);
    if (decl.elements) this.elements("add", tt, name, decl.elements, loc);
  }

  set(tt: TableTx, name: string, loc: Token): NftSet {
    return tt.set(name) ?? this.fail(NFT_ERROR.NOT_FOUND, `no such set or map ${name} (No such file or directory)`, loc, "add the set or map first");
  }

  setOp(op: "delete" | "flush" | "destroy", tt: TableTx, name: string, isMap: boolean, loc: Token): void {
    tt.work++;
    const set = tt.set(name);
    if (!set || set.isMap !== isMap) {
      if (op === "destroy") return;
      this.fail(NFT_ERROR.NOT_FOUND, `no such ${isMap ? "map" : "set"} ${name} (No such file or directory)`, loc);
    }
    if (op === "flush") {
      const tx = tt.writableSet(name);
      if (tt.chainRefs) for (const e of tx.values()) tt.countElement(e, -1);
      tx.flushed = true;
      tx.changes.clear();
      return;
    }
    if (tt.refs().sets.get(name) > 0) {
      const user = [...tt.chains()].find((c) => c.rules.some((r) => r.stmts.some((s) => stmtSetNames(s).includes(name))));
      if (user) this.fail(NFT_ERROR.IN_USE, `${isMap ? "map" : "set"} ${name} is still used by a rule in chain ${user.name} (Device or resource busy)`, loc);
    }
    if (tt.chainRefs) for (const e of tt.elementsOf(set)) tt.countElement(e, -1);
    tt.deleteSet(name);
    tt.full = true;
  }

  checkRefs(tt: TableTx, refs: readonly Ref[]): void {
    for (const r of refs) {
      if (r.kind === "chain") {
        const c = tt.chain(r.name);
        if (!c) this.fail(NFT_ERROR.NOT_FOUND, `no such chain ${r.name} (Could not process rule: No such file or directory)`, r.tok, "add the chain before anything jumps to it");
        if (r.verdict) r.verdict.chain = c.name;
      } else if (!tt.set(r.name)) this.fail(NFT_ERROR.NOT_FOUND, `no such set ${r.name} (No such file or directory)`, r.tok, "add the set or map before rules that use it");
    }
  }

  // ---------------------------------------------------------------- rules

  addRule(tt: TableTx, chainName: string, parsed: ParsedRule, start: Token, where: { insert: boolean; position?: { kind: "handle" | "index"; n: number; loc: Token } } | undefined): void {
    this.checkRefs(tt, parsed.refs);
    if (parsed.portWithoutL4) this.fail(NFT_ERROR.SEMANTIC, "transport protocol mapping is only valid after transport protocol match", parsed.portWithoutL4, "match the protocol first, e.g. meta l4proto tcp dnat to …");
    const stmtsIn = parsed.stmts;
    // (A reader may leave `starts` empty when not recording: the statements it reads are never refused here, and the rule's start stands in.)
    for (let i = 0; i < stmtsIn.length; i++) this.checkStmt(tt, stmtsIn[i]!, parsed.starts[i] ?? start);
    renameLaterTh(stmtsIn);
    const drop = killDependencies(stmtsIn, tt.table.family);
    const stmts = drop.size === 0 ? stmtsIn : stmtsIn.filter((_, i) => !drop.has(i));
    orderMergedPayloads(stmts);
    const rule: NftRule = { stmts, handle: tt.table.nextHandle++ };
    if (parsed.comment !== undefined) rule.comment = parsed.comment;
    const pos = where?.position;
    let at = -1;
    if (pos) {
      const rules = tt.chain(chainName)!.rules;
      const idx = pos.kind === "index" ? (pos.n < rules.length ? pos.n : -1) : rules.findIndex((r) => r.handle === pos.n);
      if (idx < 0) this.fail(NFT_ERROR.NOT_FOUND, `no rule with ${pos.kind} ${pos.n} in chain ${chainName} (No such file or directory)`, pos.loc);
      at = where.insert ? idx : idx + 1;
    } else if (where?.insert) at = 0;
    const chain = tt.writable(chainName);
    if (at < 0) chain.rules.push(rule);
    else chain.rules.splice(at, 0, rule);
    tt.countRule(chainName, rule, 1);
    if (!tt.fullValidation) {
      let added = tt.newRules.get(chainName);
      if (!added) tt.newRules.set(chainName, (added = []));
      added.push(rule);
    }
    tt.chainChanged(chainName);
    tt.work++;
    if (this.opts.record) {
      const starts = drop.size === 0 ? parsed.starts : parsed.starts.filter((_, i) => !drop.has(i));
      this.ruleLocs.set(rule, { loc: this.locOf(start), stmtLocs: starts.map((t) => this.locOf(t)) });
    }
  }

  deleteRule(tt: TableTx, chainName: string, handle: number, loc: Token): void {
    const i = tt.chain(chainName)!.rules.findIndex((r) => r.handle === handle);
    if (i < 0) this.fail(NFT_ERROR.NOT_FOUND, `no rule with handle ${handle} in chain ${chainName} (No such file or directory)`, loc);
    const chain = tt.writable(chainName);
    tt.countRule(chainName, chain.rules[i]!, -1);
    chain.rules.splice(i, 1);
    tt.chainChanged(chainName);
    tt.work++;
  }

  /** Type checks of lookups against named sets, and the forms nft stores anonymous sets in. */
  private checkStmt(tt: TableTx, s: Stmt, start: Token): void {
    if (s.kind === "match") {
      if (s.left.kind === "meta" && s.left.key === "nfproto" && tt.table.family !== "inet") this.fail(NFT_ERROR.SEMANTIC, "meta nfproto is only useful in the inet family", start);
      return;
    }
    if (s.kind === "lookup" || s.kind === "vmap") {
      const ref: SetRef = s.kind === "lookup" ? s.set : s.map;
      const types = exprTypes(s.left);
      if (ref.kind === "named") {
        const set = tt.set(ref.name)!;
        if (set.keyType.join(" . ") !== types.join(" . ")) this.fail(NFT_ERROR.SEMANTIC, `datatype mismatch: expected ${set.keyType.join(" . ")}, expression has type ${types.join(" . ")}`, start);
        if (s.kind === "vmap" && set.dataType?.[0] !== "verdict") this.fail(NFT_ERROR.SEMANTIC, `${ref.name} is not a verdict map`, start);
        if (s.kind === "lookup" && set.isMap) this.fail(NFT_ERROR.SEMANTIC, `${ref.name} is a map, not a set`, start);
      } else {
        normaliseAnon(types, ref.elements);
      }
    }
    if (s.kind === "dynset") {
      const set = tt.set(s.set)!;
      const types = exprTypes(s.key);
      if (set.keyType.join(" . ") !== types.join(" . ")) this.fail(NFT_ERROR.SEMANTIC, `datatype mismatch: set ${s.set} has type ${set.keyType.join(" . ")}, expression has type ${types.join(" . ")}`, start);
      if (s.timeout !== undefined && !set.flags.includes("timeout")) this.fail(NFT_ERROR.SEMANTIC, `set ${s.set} has no timeout flag`, start, "declare the set with flags timeout");
      // nft evaluates the whole script before sending it, so a set created in the same
      // script gets the default size of a dynamic set; an older set keeps its own.
      if (set.size === undefined && this.newSets.has(set)) set.size = DYNSET_DEFAULT_SIZE;
    }
  }

  // ---------------------------------------------------------------- elements

  elements(op: string, tt: TableTx, name: string, els: SetElement[], loc: Token): void {
    const set = tt.set(name)!;
    const interval = set.flags.includes("interval");
    const timeouts = set.flags.includes("timeout");
    for (const e of els) {
      if (interval) e.key = e.key.map((p, i) => normaliseInterval(set.keyType[i]!, p));
      else if (e.key.some((p) => p.kind !== "value")) {
        this.fail(NFT_ERROR.SEMANTIC, `you must add 'flags interval' to the declaration of ${set.name} for range or prefix elements`, loc);
      }
      if ((e.timeout !== undefined || e.expires !== undefined) && !timeouts) this.fail(NFT_ERROR.SEMANTIC, `set ${set.name} has no timeout flag`, loc);
    }
    const tx = tt.writableSet(name);
    const verdicts = set.dataType?.[0] === "verdict";
    tt.work += els.length;
    if (op === "delete" || op === "destroy") {
      for (const e of els) {
        const key = elementKey(e.key);
        const old = tx.get(key);
        if (old === undefined) {
          if (op === "destroy") continue;
          this.fail(NFT_ERROR.NOT_FOUND, `element not found in ${set.name} (No such file or directory)`, loc);
        }
        tx.put(key, null);
        if (verdicts) tt.countElement(old, -1);
      }
      return;
    }
    for (const e of els) {
      const key = elementKey(e.key);
      const old = tx.get(key);
      if (old !== undefined) {
        if (op === "create" || !sameData(old.data, e.data)) this.fail(NFT_ERROR.EXISTS, `element exists in ${set.name} (File exists)`, loc);
        continue;
      }
      tx.put(key, e);
      if (verdicts) {
        tt.countElement(e, 1);
        const t = tt.fullValidation ? undefined : verdictTarget(e.data);
        if (t !== undefined) {
          let list = tt.newMapTargets.get(name);
          if (!list) tt.newMapTargets.set(name, (list = []));
          list.push(t);
        }
      }
    }
  }

  // ---------------------------------------------------------------- commit

  /** Validates every touched table and builds the new ruleset; throws (changing nothing) on a validation error. */
  commit(changes: NftChanges | undefined): NftRuleset {
    // The tables in their new order: committed ones in place (touched or deleted), then new ones.
    const order: (NftTable | TableTx)[] = [];
    for (const t of this.rs.tables) {
      const key = tableKey(t.family, t.name);
      if (this.created.has(key)) continue;
      if (!this.tables.has(key)) order.push(t);
      else {
        const tt = this.tables.get(key);
        if (tt) order.push(tt);
      }
    }
    for (const key of this.created) {
      const tt = this.tables.get(key);
      if (tt) order.push(tt);
    }
    const validations = new Map<TableTx, Validation>();
    for (const t of order) if (t instanceof TableTx && !t.untouched()) validations.set(t, t.validate(this.ruleLocs, this.file));
    if (changes && this.fullRuleset) changes.full = true;
    return {
      tables: order.map((t) => {
        if (!(t instanceof TableTx)) return t;
        const v = validations.get(t);
        return v ? t.commit(this.opts.consume, v, changes) : t.base!;
      }),
    };
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
export function chainUsers(table: NftTable | TableTx, name: string): string[] {
  const users: string[] = [];
  const hits = (els: Iterable<SetElement>): boolean => {
    for (const e of els) if (e.data?.kind === "verdict" && "chain" in e.data.verdict && e.data.verdict.chain === name) return true;
    return false;
  };
  const chains = table instanceof TableTx ? table.chains() : table.chains.values();
  for (const c of chains) {
    for (const r of c.rules) {
      for (const s of r.stmts) {
        const direct = s.kind === "verdict" && "chain" in s.verdict && s.verdict.chain === name;
        const anon = s.kind === "vmap" && s.map.kind === "anon" && hits(s.map.elements);
        if (direct || anon) users.push(`chain ${c.name}`);
      }
    }
  }
  const sets = table instanceof TableTx ? table.setsInOrder() : table.sets.values();
  for (const set of sets) if (hits(table instanceof TableTx ? table.elementsOf(set) : set.elements)) users.push(`map ${set.name}`);
  return users;
}
