/**
 * Sets and maps as the evaluator holds them, in typed arrays so a lookup touches a cache
 * line or two rather than a chain of small objects. Key components are int32 words: numbers
 * (addresses, ports, marks: uint32 values) as their int32 bits, strings (interface names,
 * IPv6 addresses) as interned negative ids (see `intern`). Components of one set all have
 * the set's key types, so a string id is never compared with a number.
 *
 *  - Exact-key sets (kube-proxy's `service-ips`, `cluster-ips`, affinity sets) are one
 *    open-addressing hash table over an Int32Array: per slot [state, verdict code, verdict
 *    chain, key words…], so a concatenated key (`ipv4_addr . inet_proto . inet_service`) is
 *    one hash and one probe sequence.
 *  - Interval sets of one component are sorted ranges searched by bisection (the kernel's
 *    rbtree/pipapo give the same answer); concatenations with ranges are scanned in order.
 *
 * Elements added from the packet path (`update @set { ip saddr }`) carry an expiry on the
 * virtual clock, as nft_dynset's timeouts do; elements from the ruleset never expire here.
 * A transaction's element changes are patched into an exact set in place (`addStatic`,
 * `deleteStatic`, `clearStatic`), so an incremental compile is O(change).
 */
import { prefixMask } from "./ipv4.js";
import type { Atom, KeyPart, NftSet, SetElement } from "./model.js";

// ---------------------------------------------------------------- atoms as int32 words

/** "No value": an expression the kernel would end the rule on (a missing header, no connection). */
export const UNDEF = 0x100000000;

const interned = new Map<string, number>();

/** The word of a string no ruleset names (a packet's interface that no rule mentions). */
export const UNNAMED = -2;

/**
 * The int32 word of a string value in a ruleset. Ids are -3, -4, …: distinct from UNDEF,
 * UNNAMED and each other, and stable for the process (the table grows only with the names
 * rulesets use).
 */
export function intern(s: string): number {
  let id = interned.get(s);
  if (id === undefined) {
    id = -3 - interned.size;
    interned.set(s, id);
  }
  return id;
}

/**
 * The word of a string read from a packet: its id when a ruleset names it, else UNNAMED
 * (it equals no constant and no set element, as the string itself would not).
 */
export function wordOf(s: string): number {
  return interned.get(s) ?? UNNAMED;
}

/** The int32 word of a value as rules, sets and loads use it. */
export function atomWord(v: Atom): number {
  return typeof v === "number" ? v | 0 : intern(v);
}

/** A part's inclusive bounds as uint32 numbers; null for bounds that are not numbers (they match nothing). */
export function partBounds(p: KeyPart): [number, number] | null {
  if (p.kind === "value") return typeof p.v === "number" ? [p.v >>> 0, p.v >>> 0] : null;
  if (p.kind === "range") return typeof p.lo === "number" && typeof p.hi === "number" ? [p.lo >>> 0, p.hi >>> 0] : null;
  const mask = prefixMask(p.len);
  return [(p.v & mask) >>> 0, ((p.v & mask) | ~mask) >>> 0];
}

/** Verdict data of a map element: its code and chain id (-1: none). `NO_DATA` as the code: a set element, or a map element without verdict data. */
export const NO_DATA = -1;

export interface ElementVerdict {
  code: number;
  chain: number;
}

/** Writes the compiled verdict of an element into `out` (code NO_DATA and chain -1 when it has none). */
export type ElementData = (e: SetElement, out: ElementVerdict) => void;

// ---------------------------------------------------------------- the set

const EMPTY = 0;
const STATIC = 1;
const DYNAMIC = 2;
const TOMB = 3;
/** Words before the key in a slot: state, verdict code, verdict chain. */
const HEAD = 3;

const SET_EXACT = 0;
const SET_RANGES = 1;
const SET_SCAN = 2;

function hashWords(w: Int32Array, at: number, n: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < n; i++) {
    h = Math.imul(h ^ w[at + i]!, 0x9e3779b1);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ (h >>> 13), 0x85ebca6b);
  return h ^ (h >>> 16);
}

export class RuntimeSet {
  /** SET_EXACT, SET_RANGES or SET_SCAN. */
  private form = SET_EXACT;
  readonly dims: number;
  /** The set's default timeout, ms (dynamic additions without their own). */
  readonly timeoutMs: number | undefined;

  // Exact form: open addressing, `stride` words per slot.
  private readonly stride: number;
  private cap = 0;
  private mask = 0;
  /** Slots not EMPTY (full and tombstones). */
  private used = 0;
  private slots: Int32Array = new Int32Array(0);
  /** Expiry (ns) of DYNAMIC slots. */
  private expires: Float64Array = new Float64Array(0);
  /** Slots holding elements the packet path added (may hold stale entries: check the state). */
  private dynamicSlots: number[] = [];

  // Ranges form (one component): sorted by lo; data per range.
  private rlo: Float64Array = new Float64Array(0);
  private rhi: Float64Array = new Float64Array(0);
  private rdata: Int32Array = new Int32Array(0);

  // Scan form: per element `dims` × [kind (0 exact word, 1 unsigned range, 2 never), a, b], then code, chain.
  private scan: Int32Array = new Int32Array(0);
  private scanCount = 0;

  /** Scratch key of dims words, and scratch element data. */
  private readonly key: Int32Array;
  private readonly dv: ElementVerdict = { code: NO_DATA, chain: -1 };

  /** Element `e`'s verdict (in a scratch object: read it at once). */
  private verdictOf(e: SetElement): ElementVerdict {
    const d = this.dv;
    d.code = NO_DATA;
    d.chain = -1;
    this.data(e, d);
    return d;
  }

  constructor(
    readonly name: string,
    dims: number,
    elements: readonly SetElement[],
    private readonly data: ElementData,
    timeoutMs?: number,
  ) {
    this.dims = dims;
    this.timeoutMs = timeoutMs;
    // A power of two up to 16 words, so a slot never straddles two cache lines.
    let stride = HEAD + dims;
    if (stride <= 16) stride = 1 << (32 - Math.clz32(stride - 1));
    this.stride = stride;
    this.key = new Int32Array(dims);
    this.build(elements);
  }

  static fromModel(s: NftSet, data: ElementData): RuntimeSet {
    return new RuntimeSet(s.name, s.keyType.length, s.elements, data, s.timeout);
  }

  /** How many slots an exact table of `n` elements gets (load ≤ 1/2). */
  private static capFor(n: number): number {
    let c = 8;
    while (c < n * 2 + 2) c *= 2;
    return c;
  }

  /**
   * Exact keys (the common case) go into the hash in one pass; the first range or prefix
   * sends the set to an interval form, built from `ordered()` (the elements in the model's
   * order, which a scan's first match follows) when given.
   */
  private build(elements: readonly SetElement[], ordered?: () => readonly SetElement[]): void {
    this.form = SET_EXACT;
    this.alloc(RuntimeSet.capFor(elements.length));
    for (let i = 0; i < elements.length; i++) {
      const e = elements[i]!;
      const key = e.key;
      for (let j = 0; j < key.length; j++) {
        if (key[j]!.kind !== "value") return this.buildIntervals(ordered ? ordered() : elements);
      }
      this.addStatic(e);
    }
  }

  private buildIntervals(elements: readonly SetElement[]): void {
    if (this.dims === 1) {
      this.form = SET_RANGES;
      const rs: { lo: number; hi: number; code: number; chain: number }[] = [];
      for (const e of elements) {
        const b = partBounds(e.key[0]!);
        if (b === null) continue; // string bounds: matches nothing
        const d = this.verdictOf(e);
        rs.push({ lo: b[0], hi: b[1], code: d.code, chain: d.chain });
      }
      rs.sort((a, b) => a.lo - b.lo);
      this.rlo = new Float64Array(rs.length);
      this.rhi = new Float64Array(rs.length);
      this.rdata = new Int32Array(rs.length * 2);
      rs.forEach((r, i) => {
        this.rlo[i] = r.lo;
        this.rhi[i] = r.hi;
        this.rdata[2 * i] = r.code;
        this.rdata[2 * i + 1] = r.chain;
      });
    } else {
      this.form = SET_SCAN;
      const w = this.dims * 3 + 2;
      const scan = new Int32Array(elements.length * w);
      elements.forEach((e, i) => {
        const at = i * w;
        for (let d = 0; d < this.dims; d++) {
          const p = e.key[d]!;
          if (p.kind === "value") {
            scan[at + 3 * d] = 0;
            scan[at + 3 * d + 1] = atomWord(p.v);
          } else {
            const b = partBounds(p);
            scan[at + 3 * d] = b === null ? 2 : 1;
            scan[at + 3 * d + 1] = b === null ? 0 : b[0] | 0;
            scan[at + 3 * d + 2] = b === null ? 0 : b[1] | 0;
          }
        }
        const d = this.verdictOf(e);
        scan[at + this.dims * 3] = d.code;
        scan[at + this.dims * 3 + 1] = d.chain;
      });
      this.scan = scan;
      this.scanCount = elements.length;
    }
  }

  private alloc(cap: number): void {
    this.cap = cap;
    this.mask = cap - 1;
    this.used = 0;
    this.slots = new Int32Array(cap * this.stride);
    this.expires = new Float64Array(cap);
  }

  /** Whether the set is an exact-key hash (the form element deltas are patched into). */
  get exact(): boolean {
    return this.form === SET_EXACT;
  }

  /** Live (static or dynamic, expired or not) elements of an exact set; for tests. */
  get size(): number {
    if (this.form !== SET_EXACT) return this.form === SET_RANGES ? this.rlo.length : this.scanCount;
    let n = 0;
    for (let s = 0; s < this.cap; s++) {
      const st = this.slots[s * this.stride]!;
      if (st === STATIC || st === DYNAMIC) n++;
    }
    return n;
  }

  // ---------------------------------------------------------------- lookups (packet path)

  /**
   * The element whose key is `regs[0..dims)`: an exact slot, a range or a scan index
   * (opaque; pass it to `code`, `chain`, `live`), or -1.
   */
  find(regs: Int32Array): number {
    // (An empty hash — kube-proxy's firewall-ips on most clusters — answers without hashing the key.)
    if (this.form === SET_EXACT) return this.used === 0 ? -1 : this.findExact(regs, 0);
    if (this.form === SET_RANGES) {
      const v = regs[0]! >>> 0;
      const lo = this.rlo;
      const hi = this.rhi;
      let a = 0;
      let b = lo.length - 1;
      while (a <= b) {
        const mid = (a + b) >> 1;
        if (v < lo[mid]!) b = mid - 1;
        else if (v > hi[mid]!) a = mid + 1;
        else return mid;
      }
      return -1;
    }
    const dims = this.dims;
    const w = dims * 3 + 2;
    const scan = this.scan;
    outer: for (let i = 0; i < this.scanCount; i++) {
      const at = i * w;
      for (let d = 0; d < dims; d++) {
        const k = scan[at + 3 * d]!;
        const v = regs[d]!;
        if (k === 0) {
          if (v !== scan[at + 3 * d + 1]) continue outer;
        } else if (k === 1) {
          const u = v >>> 0;
          if (u < scan[at + 3 * d + 1]! >>> 0 || u > scan[at + 3 * d + 2]! >>> 0) continue outer;
        } else continue outer;
      }
      return i;
    }
    return -1;
  }

  private findExact(key: Int32Array, at: number): number {
    const dims = this.dims;
    const stride = this.stride;
    const slots = this.slots;
    const mask = this.mask;
    let s = hashWords(key, at, dims) & mask;
    for (;;) {
      const o = s * stride;
      const st = slots[o]!;
      if (st === EMPTY) return -1;
      if (st !== TOMB) {
        let d = 0;
        while (d < dims && slots[o + HEAD + d] === key[at + d]) d++;
        if (d === dims) return s;
      }
      s = (s + 1) & mask;
    }
  }

  /** Whether element `el` (from find) is live at `nowNs`. */
  liveAt(el: number, nowNs: number): boolean {
    return this.form !== SET_EXACT || this.slots[el * this.stride] !== DYNAMIC || this.expires[el]! > nowNs;
  }

  /** Whether element `el` may expire (then `liveAt` needs the clock). */
  mayExpire(el: number): boolean {
    return this.form === SET_EXACT && this.slots[el * this.stride] === DYNAMIC;
  }

  /** The verdict code of element `el` (NO_DATA: none). */
  code(el: number): number {
    if (this.form === SET_EXACT) return this.slots[el * this.stride + 1]!;
    if (this.form === SET_RANGES) return this.rdata[2 * el]!;
    return this.scan[el * (this.dims * 3 + 2) + this.dims * 3]!;
  }

  /** The verdict chain id of element `el` (-1: none). */
  chain(el: number): number {
    if (this.form === SET_EXACT) return this.slots[el * this.stride + 2]!;
    if (this.form === SET_RANGES) return this.rdata[2 * el + 1]!;
    return this.scan[el * (this.dims * 3 + 2) + this.dims * 3 + 1]!;
  }

  /**
   * nft_dynset: `add` inserts when absent; `update` inserts or refreshes the timeout. An
   * element from the ruleset is left as it is (it does not expire here).
   */
  dynset(update: boolean, regs: Int32Array, nowNs: number, timeoutMs: number | undefined): void {
    if (this.form !== SET_EXACT) return; // interval sets are not dynamic
    const t = timeoutMs ?? this.timeoutMs;
    const expires = t === undefined ? Infinity : nowNs + t * 1e6;
    const s = this.findExact(regs, 0);
    if (s >= 0) {
      if (this.slots[s * this.stride] !== DYNAMIC) return;
      // A live element is refreshed by update only; an expired one (the kernel's GC would
      // have removed it) is added again.
      if (update || this.expires[s]! <= nowNs) this.expires[s] = expires;
      return;
    }
    const slot = this.insertSlot(regs, 0, DYNAMIC, NO_DATA, -1);
    this.expires[slot] = expires;
    this.dynamicSlots.push(slot);
  }

  // ---------------------------------------------------------------- changes (compile time)

  /** Inserts `key` (not present) and returns its slot. */
  private insertSlot(key: Int32Array, at: number, state: number, code: number, chain: number): number {
    if ((this.used + 1) * 2 > this.cap) this.rehash(RuntimeSet.capFor(this.liveCount() + 1));
    const dims = this.dims;
    const stride = this.stride;
    const slots = this.slots;
    let s = hashWords(key, at, dims) & this.mask;
    // Reuse the first tombstone on the probe sequence.
    while (slots[s * stride] !== EMPTY && slots[s * stride] !== TOMB) s = (s + 1) & this.mask;
    const o = s * stride;
    if (slots[o] === EMPTY) this.used++;
    slots[o] = state;
    slots[o + 1] = code;
    slots[o + 2] = chain;
    for (let d = 0; d < dims; d++) slots[o + HEAD + d] = key[at + d]!;
    return s;
  }

  private liveCount(): number {
    let n = 0;
    const stride = this.stride;
    for (let s = 0; s < this.cap; s++) {
      const st = this.slots[s * stride]!;
      if (st === STATIC || st === DYNAMIC) n++;
    }
    return n;
  }

  private rehash(cap: number): void {
    const old = this.slots;
    const oldExp = this.expires;
    const oldCap = this.cap;
    const stride = this.stride;
    this.alloc(cap);
    this.dynamicSlots = [];
    for (let s = 0; s < oldCap; s++) {
      const o = s * stride;
      const st = old[o]!;
      if (st !== STATIC && st !== DYNAMIC) continue;
      const n = this.insertSlot(old, o + HEAD, st, old[o + 1]!, old[o + 2]!);
      if (st === DYNAMIC) {
        this.expires[n] = oldExp[s]!;
        this.dynamicSlots.push(n);
      }
    }
  }

  private keyOf(e: SetElement): Int32Array {
    const k = this.key;
    for (let d = 0; d < this.dims; d++) k[d] = atomWord((e.key[d] as { v: Atom }).v);
    return k;
  }

  /** Whether element `e` can be patched in (an exact set and an exact key). */
  canPatch(e: SetElement): boolean {
    return this.form === SET_EXACT && e.key.length === this.dims && e.key.every((k) => k.kind === "value");
  }

  /**
   * Adds a ruleset element (exact set, exact key). It replaces an element of the same key
   * the packet path added, as a full compile would (the ruleset's element wins).
   */
  addStatic(e: SetElement): void {
    const key = this.keyOf(e);
    const d = this.verdictOf(e);
    const code = d.code;
    const chain = d.chain;
    const s = this.findExact(key, 0);
    if (s >= 0) {
      const o = s * this.stride;
      this.slots[o] = STATIC;
      this.slots[o + 1] = code;
      this.slots[o + 2] = chain;
      return;
    }
    this.insertSlot(key, 0, STATIC, code, chain);
  }

  /** Deletes a ruleset element (exact set). */
  deleteStatic(e: SetElement): void {
    const s = this.findExact(this.keyOf(e), 0);
    if (s >= 0 && this.slots[s * this.stride] === STATIC) this.slots[s * this.stride] = TOMB;
  }

  /** Removes every ruleset element (`flush set`); what the packet path added stays, as over a full compile. */
  clearStatic(): void {
    if (this.form !== SET_EXACT) return;
    const stride = this.stride;
    for (let s = 0; s < this.cap; s++) if (this.slots[s * stride] === STATIC) this.slots[s * stride] = TOMB;
    this.rehash(RuntimeSet.capFor(this.liveCount()));
  }

  /** Rebuilds from the model's elements (a non-exact set's change), keeping what the packet path added. */
  rebuild(elements: readonly SetElement[], nowNs: number, ordered?: () => readonly SetElement[]): void {
    const dyn = this.takeDynamic(nowNs);
    this.dynamicSlots = [];
    this.build(elements, ordered);
    this.putDynamic(dyn);
  }

  /** The live dynamic elements as [key words…, expiry] records. */
  private takeDynamic(nowNs: number): { key: Int32Array; expires: number }[] {
    const out: { key: Int32Array; expires: number }[] = [];
    if (this.form !== SET_EXACT) return out;
    for (const s of this.dynamicSlots) {
      const o = s * this.stride;
      if (this.slots[o] !== DYNAMIC || this.expires[s]! <= nowNs) continue;
      out.push({ key: this.slots.slice(o + HEAD, o + HEAD + this.dims), expires: this.expires[s]! });
    }
    return out;
  }

  private putDynamic(dyn: readonly { key: Int32Array; expires: number }[]): void {
    if (this.form !== SET_EXACT) return;
    for (const d of dyn) {
      if (this.findExact(d.key, 0) >= 0) continue; // the ruleset's element wins
      const s = this.insertSlot(d.key, 0, DYNAMIC, NO_DATA, -1);
      this.expires[s] = d.expires;
      this.dynamicSlots.push(s);
    }
  }

  /** Drops dynamic elements expired at `nowNs` (what a reload does), so they do not pile up. */
  sweep(nowNs: number): void {
    if (this.dynamicSlots.length === 0) return;
    const keep: number[] = [];
    for (const s of this.dynamicSlots) {
      const o = s * this.stride;
      if (this.slots[o] !== DYNAMIC) continue;
      if (this.expires[s]! <= nowNs) this.slots[o] = TOMB;
      else keep.push(s);
    }
    this.dynamicSlots = keep;
  }

  /** Forgets every element the packet path added (an offline evaluation starting from a fresh state). */
  clearDynamic(): void {
    if (this.dynamicSlots.length === 0) return;
    for (const s of this.dynamicSlots) if (this.slots[s * this.stride] === DYNAMIC) this.slots[s * this.stride] = TOMB;
    this.dynamicSlots = [];
  }

  /** Takes over the live dynamic elements of the set this one replaces (a reload keeps what the packet path added). */
  adoptDynamic(from: RuntimeSet, nowNs: number): void {
    if (from.dims !== this.dims) return;
    this.putDynamic(from.takeDynamic(nowNs));
  }

  /** Renames the chains elements' verdicts name (the program moved its code). */
  renameChains(f: (chain: number) => number): void {
    if (this.form === SET_EXACT) {
      const stride = this.stride;
      for (let s = 0; s < this.cap; s++) {
        const o = s * stride;
        if (this.slots[o] === STATIC && this.slots[o + 2]! >= 0) this.slots[o + 2] = f(this.slots[o + 2]!);
      }
    } else if (this.form === SET_RANGES) {
      for (let i = 1; i < this.rdata.length; i += 2) if (this.rdata[i]! >= 0) this.rdata[i] = f(this.rdata[i]!);
    } else {
      const w = this.dims * 3 + 2;
      for (let i = 0; i < this.scanCount; i++) {
        const at = i * w + this.dims * 3 + 1;
        if (this.scan[at]! >= 0) this.scan[at] = f(this.scan[at]!);
      }
    }
  }

  /** Dynamic elements live at `nowNs`, as key words; for tests. */
  dynamicKeys(nowNs: number): number[][] {
    return this.takeDynamic(nowNs).map((d) => [...d.key]);
  }
}
