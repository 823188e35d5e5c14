/**
 * The store of the hash types. Members are keyed by three numbers; the third is the one a
 * net dimension masks. As in the kernel, which keeps one bucket chain per prefix length in
 * use, there is one map per prefix length and a lookup tries them longest first, so the
 * most specific live member decides (and a `nomatch` one decides "no"). Types without a net
 * dimension use prefix length 32 only.
 */
import { prefixMask } from "../../base/ipv4-int.js";
import { Map3 } from "./map3.js";
import type { MemberStore } from "./member-store.js";
import type { IpsetElement, IpsetMember } from "./model.js";

const MASKS: readonly number[] = Array.from({ length: 33 }, (_, n) => prefixMask(n));

export type HashKeys = readonly [number, number, number];

export abstract class HashStore implements MemberStore {
  private readonly byCidr: (Map3<IpsetMember> | undefined)[] = new Array(33).fill(undefined);
  private readonly counts = new Int32Array(33);
  /** Prefix lengths that hold members, longest first. */
  private cidrs: number[] = [];

  /** The three numeric keys of an element (the third unmasked). */
  protected abstract keys(e: IpsetElement): HashKeys;
  abstract find(a: number, b: number, c: number, proto: number, now: number): IpsetMember | undefined;

  get(e: IpsetElement): IpsetMember | undefined {
    const [a, b, c] = this.keys(e);
    return this.byCidr[e.cidr]?.get(a, b, c);
  }

  put(m: IpsetMember): void {
    const [a, b, c] = this.keys(m);
    let map = this.byCidr[m.cidr];
    if (map === undefined) this.byCidr[m.cidr] = map = new Map3();
    if (map.get(a, b, c) === undefined && this.counts[m.cidr]!++ === 0) {
      this.cidrs = [...this.cidrs, m.cidr].sort((x, y) => y - x);
    }
    map.set(a, b, c, m);
  }

  remove(e: IpsetElement): void {
    const [a, b, c] = this.keys(e);
    if (this.byCidr[e.cidr]?.delete(a, b, c) && --this.counts[e.cidr]! === 0) {
      this.cidrs = this.cidrs.filter((x) => x !== e.cidr);
    }
  }

  clear(): void {
    this.byCidr.fill(undefined);
    this.counts.fill(0);
    this.cidrs = [];
  }

  findElement(e: IpsetElement, now: number): IpsetMember | undefined {
    const m = this.get(e);
    return m !== undefined && now <= m.expiresAt ? m : undefined;
  }

  /** Longest-prefix lookup: `c` is masked by each prefix length in use. */
  protected lookup(a: number, b: number, c: number, now: number): IpsetMember | undefined {
    const cidrs = this.cidrs;
    for (let i = 0; i < cidrs.length; i++) {
      const cidr = cidrs[i]!;
      const m = this.byCidr[cidr]!.get(a, b, (c & MASKS[cidr]!) >>> 0);
      if (m !== undefined && now <= m.expiresAt) return m;
    }
    return undefined;
  }
}
