/**
 * Sets and maps as the evaluator holds them. Exact-key sets (kube-proxy's `service-ips`,
 * `cluster-ips`, affinity sets) are nested hash maps keyed on each component of the
 * (concatenated) key, so a lookup is one `Map.get` per component and allocates nothing.
 * Interval sets of one component are sorted disjoint ranges searched by bisection (the
 * kernel's rbtree/pipapo give the same answer). Concatenations with ranges fall back to a
 * linear scan. Elements added from the packet path (`update @set { ip saddr }`) carry an
 * expiry on the virtual clock, as nft_dynset's timeouts do.
 */
import { prefixMask } from "./ipv4.js";
import type { Atom, KeyPart, NftSet, SetElement } from "./model.js";

/** A set element at run time: the map's compiled data (a verdict) and when it expires (ns; Infinity = never). */
export interface RuntimeElement<D> {
  data: D | null;
  expiresNs: number;
  /** Key values, kept for dynamic elements so a recompiled set can take them over. */
  key?: Atom[];
}

interface Range<D> {
  lo: number;
  hi: number;
  el: RuntimeElement<D>;
}

type Nested<D> = Map<Atom, Nested<D> | RuntimeElement<D>>;

function partRange(p: KeyPart): [Atom, Atom] {
  if (p.kind === "value") return [p.v, p.v];
  if (p.kind === "range") return [p.lo, p.hi];
  const mask = prefixMask(p.len);
  return [(p.v & mask) >>> 0, ((p.v & mask) | ~mask) >>> 0];
}

export function partMatches(p: KeyPart, v: Atom): boolean {
  if (p.kind === "value") return p.v === v;
  const [lo, hi] = partRange(p);
  return typeof v === "number" && v >= (lo as number) && v <= (hi as number);
}

export class RuntimeSet<D> {
  private readonly exact: Nested<D> = new Map();
  private ranges: Range<D>[] | null = null;
  private scan: { key: KeyPart[]; el: RuntimeElement<D> }[] | null = null;
  readonly dims: number;
  /** The set's default timeout, ms (dynamic additions without their own). */
  readonly timeoutMs: number | undefined;
  /** Elements added from the packet path. */
  readonly dynamic: RuntimeElement<D>[] = [];

  constructor(
    readonly name: string,
    dims: number,
    elements: readonly SetElement[],
    data: (e: SetElement) => D | null,
    timeoutMs?: number,
  ) {
    this.dims = dims;
    this.timeoutMs = timeoutMs;
    const allExact = elements.every((e) => e.key.every((k) => k.kind === "value"));
    if (allExact) {
      for (const e of elements) this.insert(e.key.map((k) => (k as { v: Atom }).v), { data: data(e), expiresNs: Infinity });
    } else if (dims === 1) {
      this.ranges = elements
        .map((e) => {
          const [lo, hi] = partRange(e.key[0]!);
          return { lo: lo as number, hi: hi as number, el: { data: data(e), expiresNs: Infinity } };
        })
        .sort((a, b) => a.lo - b.lo);
    } else {
      this.scan = elements.map((e) => ({ key: e.key, el: { data: data(e), expiresNs: Infinity } }));
    }
  }

  static fromModel<D>(s: NftSet, data: (e: SetElement) => D | null): RuntimeSet<D> {
    return new RuntimeSet(s.name, s.keyType.length, s.elements, data, s.timeout);
  }

  private insert(key: readonly Atom[], el: RuntimeElement<D>): void {
    let m = this.exact;
    for (let i = 0; i < key.length - 1; i++) {
      let next = m.get(key[i]!) as Nested<D> | undefined;
      if (next === undefined) {
        next = new Map();
        m.set(key[i]!, next);
      }
      m = next;
    }
    m.set(key[key.length - 1]!, el);
  }

  /** The element for a key read by `part(i)`, live at `nowNs`, or undefined. */
  lookup(part: (i: number) => Atom | undefined, nowNs: number): RuntimeElement<D> | undefined {
    if (this.ranges !== null) {
      const v = part(0);
      if (typeof v !== "number") return undefined;
      const r = this.ranges;
      let lo = 0;
      let hi = r.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const x = r[mid]!;
        if (v < x.lo) hi = mid - 1;
        else if (v > x.hi) lo = mid + 1;
        else return x.el;
      }
      return undefined;
    }
    if (this.scan !== null) {
      outer: for (const s of this.scan) {
        for (let i = 0; i < this.dims; i++) {
          const v = part(i);
          if (v === undefined || !partMatches(s.key[i]!, v)) continue outer;
        }
        return s.el;
      }
      return undefined;
    }
    let m: Nested<D> | RuntimeElement<D> | undefined = this.exact;
    for (let i = 0; i < this.dims; i++) {
      const v = part(i);
      if (v === undefined) return undefined;
      m = (m as Nested<D>).get(v);
      if (m === undefined) return undefined;
    }
    const el = m as RuntimeElement<D>;
    return el.expiresNs > nowNs ? el : undefined;
  }

  /**
   * nft_dynset: `add` inserts when absent; `update` inserts or refreshes the timeout. The key
   * is copied out of the reader only when a new element is created.
   */
  dynset(op: "add" | "update", part: (i: number) => Atom | undefined, nowNs: number, timeoutMs: number | undefined): void {
    if (this.ranges !== null || this.scan !== null) return; // interval sets are not dynamic
    const t = timeoutMs ?? this.timeoutMs;
    const expires = t === undefined ? Infinity : nowNs + t * 1e6;
    const found = this.lookupAny(part);
    if (found !== undefined) {
      if (found.expiresNs > nowNs) {
        if (op === "update") found.expiresNs = expires;
        return;
      }
      found.expiresNs = expires; // expired: the kernel's GC would have removed it; re-add
      return;
    }
    const key: Atom[] = [];
    for (let i = 0; i < this.dims; i++) {
      const v = part(i);
      if (v === undefined) return;
      key.push(v);
    }
    const el: RuntimeElement<D> = { data: null, expiresNs: expires, key };
    this.insert(key, el);
    this.dynamic.push(el);
  }

  private lookupAny(part: (i: number) => Atom | undefined): RuntimeElement<D> | undefined {
    let m: Nested<D> | RuntimeElement<D> | undefined = this.exact;
    for (let i = 0; i < this.dims; i++) {
      const v = part(i);
      if (v === undefined) return undefined;
      m = (m as Nested<D>).get(v);
      if (m === undefined) return undefined;
    }
    return m as RuntimeElement<D>;
  }

  /** Forgets every element the packet path added (an offline evaluation starting from a fresh state). */
  clearDynamic(): void {
    for (const el of this.dynamic) {
      const key = el.key!;
      let m: Nested<D> | undefined = this.exact;
      for (let i = 0; i < key.length - 1 && m !== undefined; i++) m = m.get(key[i]!) as Nested<D> | undefined;
      if (m !== undefined && m.get(key[key.length - 1]!) === el) m.delete(key[key.length - 1]!);
    }
    this.dynamic.length = 0;
  }

  /** Takes over the live dynamic elements of the set this one replaces (a reload keeps what the packet path added). */
  adoptDynamic(from: RuntimeSet<D>, nowNs: number): void {
    if (from.dims !== this.dims || this.ranges !== null || this.scan !== null) return;
    for (const el of from.dynamic) {
      if (el.expiresNs <= nowNs || el.key === undefined) continue;
      const key = el.key;
      if (this.lookupAny((i) => key[i]) !== undefined) continue;
      this.insert(key, el);
      this.dynamic.push(el);
    }
  }
}
