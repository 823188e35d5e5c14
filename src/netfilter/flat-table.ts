/**
 * One table compiled for the packet path, as the kernel's translate_table lays a table out
 * in one blob: every chain's rules as consecutive records in one Int32Array (flat-encode.ts),
 * each chain ending in a tail record (its policy, or the return to its caller), jumps
 * resolved to chain ids, counters in one Float64Array (counter-cell.ts), and the hash
 * tables of keyed runs (flat-keyed.ts) built here, at load, never on the packet path.
 *
 * A rule is a *slot* (its model object and the place of its counters are found by slot) and
 * a record at a word offset, which holds its counters. Chains are laid out depth first from the built-in chains, so a KUBE-SVC
 * chain sits next to its KUBE-SEP chains and a first packet touches few cache lines.
 *
 * `update` takes a partial sync: the chains it touched get new bodies at the end of the
 * arrays and their old bodies become dead space; chain ids stay, so jumps from untouched
 * chains stay valid. When dead space passes a quarter of the table, the table is laid out
 * again from the model.
 */
import { PodwireError } from "../base/index.js";
import { CounterCell, type CounterStore } from "./counter-cell.js";
import { MAX_RECORD, counterIndex, encodeForward, encodeRule, encodeStub, encodeTail, ruleKey, type EncodeTargets, type RuleKey } from "./flat-encode.js";
import { buildKeyedRun, type KeyedRun } from "./flat-keyed.js";
import { BUILTIN_CHAINS, type BuiltinChain, type Chain, type Rule, type Table, type TableName, type TargetSpec } from "./model.js";

/** Built-in chain → 0..4, the index of `FlatTable.entries`. */
export function hookIndex(hook: BuiltinChain): number {
  switch (hook) {
    case "PREROUTING":
      return 0;
    case "INPUT":
      return 1;
    case "FORWARD":
      return 2;
    case "OUTPUT":
      return 3;
    default:
      return 4;
  }
}

const HOOKS: readonly BuiltinChain[] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

function isBuiltin(table: TableName, name: string): boolean {
  return (BUILTIN_CHAINS[table] as readonly string[]).includes(name);
}

export class FlatTable {
  /** Records, one after another; `words` are in use. `store.counters` is a Float64 view of the same memory. */
  rec: Int32Array = new Int32Array(0);
  words = 0;
  /** The model rule of each slot (null for tails and dead slots); `slots` are in use. */
  rules: (Rule | null)[] = [];
  slots = 0;
  store: CounterStore = { counters: new Float64Array(0), at: new Int32Array(0), stolen: false };
  /** Slots of chain bodies replaced since the last full layout. */
  deadSlots = 0;

  // Chains by id.
  chainSlot: Int32Array = new Int32Array(0);
  chainOff: Int32Array = new Int32Array(0);
  /** Slot of the chain's tail record (its policy counters, for a built-in chain). */
  chainTail: Int32Array = new Int32Array(0);
  chainName: string[] = [];
  /** The model chain of built-in chains (for the policy), null for user chains. */
  chainModel: (Chain | null)[] = [];
  private chainSegs: (number[] | null)[] = [];
  private readonly byName = new Map<string, number>();
  private freeIds: number[] = [];
  private chainCount = 0;

  /** Keyed runs by id. */
  segs: (KeyedRun | null)[] = [];
  private freeSegs: number[] = [];

  /** The built-in chain of each hook (hookIndex), −1 when the table has none. */
  readonly entries = new Int32Array(5).fill(-1);

  constructor(
    readonly name: TableName,
    /** Shortest run of keyed rules worth a hash table. */
    readonly minRun: number,
    /** The model this was built from (a full layout reads it again). */
    public table: Table,
  ) {
    this.build(table);
  }

  /** Lays the whole table out again from `table`. */
  build(table: Table): void {
    this.table = table;
    const oldRules = this.rules;
    const oldSlots = this.slots;
    const oldStore = this.store;
    const oldModels = this.chainModel;
    let slots = 0;
    for (const c of table.chains.values()) slots += c.rules.length + 1;
    const capSlots = slots + (slots >> 3) + 16;
    this.rec = new Int32Array(2 * (capSlots * 5 + MAX_RECORD));
    this.words = 0;
    this.rules = new Array(capSlots).fill(null);
    this.slots = 0;
    this.store = { counters: new Float64Array(this.rec.buffer), at: new Int32Array(capSlots).fill(-1), stolen: false };
    this.deadSlots = 0;
    const n = table.chains.size;
    const capChains = n + (n >> 3) + 8;
    this.chainSlot = new Int32Array(capChains);
    this.chainOff = new Int32Array(capChains);
    this.chainTail = new Int32Array(capChains);
    this.chainName = new Array(capChains).fill("");
    this.chainModel = new Array(capChains).fill(null);
    this.chainSegs = new Array(capChains).fill(null);
    this.byName.clear();
    this.freeIds = [];
    this.chainCount = 0;
    this.segs = [];
    this.freeSegs = [];
    this.targets = [];
    const all: Chain[] = [];
    for (const c of table.chains.values()) {
      this.newId(c.name);
      all.push(c);
    }
    this.encodeChains(all);
    this.trim();
    // Rules that left the table keep their last counts.
    for (let s = 0; s < oldSlots; s++) {
      const c = oldRules[s]?.counters;
      if (c instanceof CounterCell && c.store === oldStore) c.detach();
    }
    for (const m of oldModels) if (m !== null && m.counters instanceof CounterCell && m.counters.store === oldStore) m.counters.detach();
    this.indexEntries();
  }

  /**
   * Picks up changes to the chains `names` of `table` (the model after a `--noflush`
   * restore): new chains get ids, deleted ones are dropped, touched ones get new bodies.
   */
  update(table: Table, names: Iterable<string>): void {
    this.table = table;
    const removed: Rule[] = [];
    const present: Chain[] = [];
    const touched = new Set<string>();
    /** Old first offsets of rewritten chains, by id: they become forwards. */
    const moved: number[] = [];
    for (const name of names) {
      if (touched.has(name)) continue;
      touched.add(name);
      const id = this.byName.get(name);
      const c = table.chains.get(name);
      if (id !== undefined) {
        this.killBody(id, removed);
        if (c !== undefined) moved.push(id, this.chainOff[id]!);
      }
      if (c === undefined) {
        if (id !== undefined) this.freeId(id);
        continue;
      }
      if (id === undefined) this.newId(name);
      present.push(c);
    }
    this.encodeChains(present);
    // Jumps written before point at the old bodies: leave a forward there.
    for (let k = 0; k < moved.length; k += 2) encodeForward(this.rec, moved[k + 1]!, moved[k]!);
    for (const r of removed) {
      const c = r.counters;
      if (c instanceof CounterCell && c.store === this.store && this.rules[c.slot] !== r) c.detach();
    }
    // Built-in chains may be new objects (a restore copies the chains it stages): their
    // policy counters follow them.
    for (const hook of BUILTIN_CHAINS[this.name]) {
      const id = this.byName.get(hook);
      const c = table.chains.get(hook);
      if (id === undefined || c === undefined) continue;
      this.chainModel[id] = c;
      const cell = c.counters;
      if (!(cell instanceof CounterCell) || cell.store !== this.store || cell.slot !== this.chainTail[id]) this.bindChain(c, this.chainTail[id]!);
    }
    this.indexEntries();
    if (this.deadSlots > 4096 && this.deadSlots * 4 > this.slots) this.build(table);
  }

  /** Keeps the counts of every rule and policy in cells of their own (the table is dropped). */
  detachAll(): void {
    for (let s = 0; s < this.slots; s++) {
      const c = this.rules[s]?.counters;
      if (c instanceof CounterCell && c.store === this.store) c.detach();
    }
    for (const m of this.chainModel) if (m !== null && m.counters instanceof CounterCell && m.counters.store === this.store) m.counters.detach();
  }

  /** The id of a chain, or undefined. */
  chainId(name: string): number | undefined {
    return this.byName.get(name);
  }

  private indexEntries(): void {
    for (let h = 0; h < 5; h++) {
      const id = isBuiltin(this.name, HOOKS[h]!) ? this.byName.get(HOOKS[h]!) : undefined;
      this.entries[h] = id === undefined ? -1 : id;
    }
  }

  private newId(name: string): number {
    let id = this.freeIds.pop();
    if (id === undefined) {
      id = this.chainCount++;
      if (id >= this.chainSlot.length) this.growChains(id + 1);
    }
    this.byName.set(name, id);
    this.chainName[id] = name;
    this.chainModel[id] = null;
    this.chainSegs[id] = null;
    return id;
  }

  private freeId(id: number): void {
    this.byName.delete(this.chainName[id]!);
    this.chainName[id] = "";
    this.chainModel[id] = null;
    this.freeIds.push(id);
  }

  private growChains(need: number): void {
    const cap = Math.max(need, this.chainSlot.length + (this.chainSlot.length >> 1) + 8);
    const grow = (a: Int32Array): Int32Array => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.chainSlot = grow(this.chainSlot);
    this.chainOff = grow(this.chainOff);
    this.chainTail = grow(this.chainTail);
    for (let i = this.chainName.length; i < cap; i++) {
      this.chainName.push("");
      this.chainModel.push(null);
      this.chainSegs.push(null);
    }
  }

  /** Marks a chain's current body dead, collecting its rules (their cells are settled later). */
  private killBody(id: number, removed: Rule[]): void {
    const start = this.chainSlot[id]!;
    const tail = this.chainTail[id]!;
    for (let s = start; s < tail; s++) {
      const r = this.rules[s];
      if (r) removed.push(r);
      this.rules[s] = null;
    }
    this.deadSlots += tail - start + 1;
    const segs = this.chainSegs[id];
    if (segs) {
      for (const seg of segs) {
        this.segs[seg] = null;
        this.freeSegs.push(seg);
      }
      this.chainSegs[id] = null;
    }
  }

  /** After a full layout: arrays sized to what is used, with a little room for partial syncs. */
  private trim(): void {
    const words = (this.words + (this.words >> 5) + MAX_RECORD + 1) & ~1;
    if (words < this.rec.length) {
      this.rec = this.rec.slice(0, words);
      this.store.counters = new Float64Array(this.rec.buffer);
    }
    const slots = this.slots + (this.slots >> 5) + 16;
    if (slots < this.rules.length) {
      this.rules.length = slots;
      this.store.at = this.store.at.slice(0, slots);
    }
  }

  private growWords(words: number): void {
    const b = new Int32Array((Math.max(this.words + words, this.rec.length + (this.rec.length >> 2)) + 1) & ~1);
    b.set(this.rec.subarray(0, this.words));
    this.rec = b;
    this.store.counters = new Float64Array(b.buffer);
  }

  /** Room for `slots` more slots. */
  private reserveSlots(slots: number): void {
    if (this.slots + slots > this.rules.length) {
      const cap = Math.max(this.slots + slots, this.rules.length + (this.rules.length >> 2));
      const at = new Int32Array(cap).fill(-1);
      at.set(this.store.at.subarray(0, this.slots));
      this.store.at = at;
      for (let i = this.rules.length; i < cap; i++) this.rules.push(null);
    }
  }

  /** Fills the slot and offset words of the jumps written since the last call. */
  private patchJumps(): void {
    const rec = this.rec;
    for (const a of this.refs.jumps) {
      const id = rec[a]!;
      rec[a + 1] = this.chainSlot[id]!;
      rec[a + 2] = this.chainOff[id]!;
    }
    this.refs.jumps.length = 0;
  }

  /** Target objects of NAT, REJECT and LOG records, by the index in their record. */
  targets: TargetSpec[] = [];

  private readonly refs: EncodeTargets = {
    chainId: (name) => {
      const id = this.resolve(name);
      this.children.push(id);
      return id;
    },
    jumps: [],
    targetId: (t) => this.targets.push(t) - 1,
  };

  private readonly resolve = (name: string): number => {
    const id = this.byName.get(name);
    if (id === undefined || isBuiltin(this.name, name)) {
      const from = this.encoding;
      throw new PodwireError(
        "E_RULES_NO_CHAIN",
        `-j ${name} in chain ${from?.name ?? "?"} of table ${this.name}: no such user chain`,
        this.encodingRule?.source ? { line: this.encodingRule.source.line } : undefined,
        `declare it with ":${name} - [0:0]" in the *${this.name} section`,
      );
    }
    return id;
  };
  private encoding: Chain | null = null;
  private encodingRule: Rule | null = null;

  // ---------------------------------------------------------------- one encoding pass

  /** Per chain id: 1 while the chain belongs to the current pass and is not written yet. */
  private todo = new Uint8Array(0);
  /** The model chain of each id of the current pass. */
  private passChains: (Chain | undefined)[] = [];
  /** Chains the chain being written jumps to, in rule order (the depth-first walk goes there next). */
  private children: number[] = [];
  /** Keyed members waiting for the chain they jump to, by its id. */
  private waiting = new Map<number, PendingMember[]>();
  /** Keyed runs of this pass, built once every member has its record. */
  private passRuns: PendingRun[] = [];

  /**
   * Writes new bodies for `chains` (all with ids), depth first from the built-in chains
   * among them and then from each in order, following jumps and gotos in rule order to
   * chains of the pass: a KUBE-SVC chain comes right before its KUBE-SEP chains. Then builds
   * the pass's keyed runs and patches its jumps. Iterative, so deep rulesets cannot exhaust
   * the stack.
   */
  private encodeChains(chains: readonly Chain[]): void {
    if (this.todo.length < this.chainSlot.length) this.todo = new Uint8Array(this.chainSlot.length);
    const roots: number[] = [];
    for (const c of chains) {
      const id = this.byName.get(c.name)!;
      this.todo[id] = 1;
      this.passChains[id] = c;
      roots.push(id);
    }
    const builtins: number[] = [];
    for (const hook of BUILTIN_CHAINS[this.name]) {
      const id = this.byName.get(hook);
      if (id !== undefined && this.todo[id] === 1) builtins.push(id);
    }
    const stack: number[] = [];
    for (const root of builtins.concat(roots)) {
      stack.push(root);
      while (stack.length > 0) {
        const id = stack.pop()!;
        if (this.todo[id] !== 1) continue;
        this.todo[id] = 0;
        this.children.length = 0;
        this.encodeChain(id, this.passChains[id]!);
        this.passChains[id] = undefined;
        for (let k = this.children.length - 1; k >= 0; k--) if (this.todo[this.children[k]!] === 1) stack.push(this.children[k]!);
      }
    }
    for (const list of this.waiting.values()) for (const m of list) this.writeMember(m);
    this.waiting.clear();
    for (const r of this.passRuns) {
      const segId = this.rec[r.stubOff + 1]!;
      this.segs[segId] = buildKeyedRun(this.rec, r.slots, r.offs, r.keys, r.stubOff, r.endOff);
    }
    this.passRuns = [];
    this.patchJumps();
  }

  /** Writes chain `c`'s body and tail at the end of the arrays as chain `id`. */
  private encodeChain(id: number, c: Chain): void {
    // Members of earlier chains that jump here go right before this body.
    const here = this.waiting.get(id);
    if (here !== undefined) {
      this.waiting.delete(id);
      for (const m of here) this.writeMember(m);
    }
    const rules = c.rules;
    const n = rules.length;
    this.reserveSlots(n + 1);
    const keys = n >= this.minRun ? keyedRuns(rules, this.minRun) : null;
    const builtin = isBuiltin(this.name, c.name);
    const startSlot = this.slots;
    this.chainSlot[id] = startSlot;
    this.chainOff[id] = this.words;
    this.encoding = c;
    let after: PendingMember[] | null = null;
    let k = 0;
    while (k < n) {
      if (this.words + MAX_RECORD > this.rec.length) this.growWords(MAX_RECORD);
      if (keys === null || keys[k] === null) {
        const r = rules[k]!;
        this.encodingRule = r;
        const o = this.words;
        this.words += encodeRule(r, this.rec, o, false, this.refs);
        this.store.at[this.slots] = counterIndex(o, this.rec[o]!);
        this.bindRule(c, k, this.slots++);
        k++;
        continue;
      }
      // A keyed run: a stub here, the members' records next to the chains they jump to.
      let end = k;
      while (end < n && keys[end] !== null) end++;
      let segId = this.freeSegs.pop();
      if (segId === undefined) segId = this.segs.push(null) - 1;
      (this.chainSegs[id] ??= []).push(segId);
      const stubOff = this.words;
      this.words += encodeStub(this.rec, stubOff, segId);
      const run: PendingRun = { stubOff, endOff: -1, slots: [], offs: [], keys: keys.slice(k, end) as RuleKey[] };
      this.passRuns.push(run);
      for (let q = k; q < end; q++) {
        const m: PendingMember = { chain: c, index: q, slot: this.slots++, run, member: q - k };
        run.slots.push(m.slot);
        run.offs.push(-1);
        const t = rules[q]!.target;
        const to = t.kind === "jump" || t.kind === "goto" ? this.byName.get(t.chain) : undefined;
        if (to !== undefined && this.todo[to] === 1) {
          this.children.push(to);
          let list = this.waiting.get(to);
          if (list === undefined) this.waiting.set(to, (list = []));
          list.push(m);
        } else (after ??= []).push(m);
      }
      run.endOff = this.words; // the next record of this body follows the stub
      k = end;
    }
    this.encoding = null;
    this.encodingRule = null;
    const tail = this.slots++;
    if (this.words + MAX_RECORD > this.rec.length) this.growWords(MAX_RECORD);
    const to = this.words;
    this.words += encodeTail(this.rec, to, builtin);
    this.store.at[tail] = builtin ? counterIndex(to, this.rec[to]!) : -1;
    this.chainTail[id] = tail;
    if (builtin) {
      this.chainModel[id] = c;
      this.bindChain(c, tail);
    }
    // Members whose targets are placed already (or are not chains) follow the tail.
    if (after !== null) for (const m of after) this.writeMember(m);
  }

  /** Writes a keyed member's record at the end of the arrays. */
  private writeMember(m: PendingMember): void {
    if (this.words + MAX_RECORD > this.rec.length) this.growWords(MAX_RECORD);
    const r = m.chain.rules[m.index]!;
    this.encoding = m.chain;
    this.encodingRule = r;
    const o = this.words;
    this.words += encodeRule(r, this.rec, o, true, this.refs);
    this.store.at[m.slot] = counterIndex(o, this.rec[o]!);
    m.run.offs[m.member] = o;
    this.bindRule(m.chain, m.index, m.slot);
    this.encoding = null;
    this.encodingRule = null;
  }

  /** Puts rule `k` of `c` at `slot` (its record written), its counters moving into the record. */
  private bindRule(c: Chain, k: number, slot: number): void {
    let r = c.rules[k]!;
    const cell = r.counters;
    const ctr = this.store.counters;
    const at = this.store.at[slot]!;
    if (cell instanceof CounterCell) {
      if (cell.store === this.store && this.rules[cell.slot] === r) {
        // The same rule object at a second position: the kernel keeps counters per rule.
        r = { ...r, counters: new CounterCell(this.store, slot) };
        c.rules[k] = r;
      } else {
        ctr[at] = cell.packets;
        ctr[at + 1] = cell.bytes;
        if (cell.store !== this.store) cell.store.stolen = true;
        cell.store = this.store;
        cell.slot = slot;
      }
    } else {
      ctr[at] = cell.packets;
      ctr[at + 1] = cell.bytes;
      r.counters = new CounterCell(this.store, slot);
    }
    this.rules[slot] = r;
  }

  /** A built-in chain's policy counters in its tail record. */
  private bindChain(c: Chain, slot: number): void {
    const cell = c.counters;
    const at = this.store.at[slot]!;
    this.store.counters[at] = cell.packets;
    this.store.counters[at + 1] = cell.bytes;
    if (cell instanceof CounterCell) {
      if (cell.store !== this.store) cell.store.stolen = true;
      cell.store = this.store;
      cell.slot = slot;
    } else {
      c.counters = new CounterCell(this.store, slot);
    }
  }
}

/** A keyed member whose record is written later in the pass. */
interface PendingMember {
  chain: Chain;
  index: number;
  slot: number;
  run: PendingRun;
  /** Its position in the run. */
  member: number;
}

interface PendingRun {
  stubOff: number;
  endOff: number;
  slots: number[];
  offs: number[];
  keys: RuleKey[];
}

/** Per rule of a chain, its key when it belongs to a run of at least `minRun` keyed rules, else null. */
function keyedRuns(rules: readonly Rule[], minRun: number): (RuleKey | null)[] {
  const n = rules.length;
  const keys: (RuleKey | null)[] = new Array(n);
  let run = 0;
  for (let k = 0; k < n; k++) {
    keys[k] = ruleKey(rules[k]!);
    if (keys[k] !== null) run++;
    else {
      if (run < minRun) for (let q = k - run; q < k; q++) keys[q] = null;
      run = 0;
    }
  }
  if (run < minRun) for (let q = n - run; q < n; q++) keys[q] = null;
  return keys;
}
