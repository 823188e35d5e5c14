/**
 * Maglev hashing (net/netfilter/ipvs/ip_vs_mh.c; Eisenbud et al., NSDI 2016, §3.4).
 *
 * Each destination gets a permutation of the lookup-table slots from two hashes of its
 * address and port: offset = h1 % M, skip = h2 % (M - 1) + 1, slot_j = offset + j * skip
 * (mod M). The table is filled in rounds over the destination list: each destination
 * takes its next free preferred slot, `turns` times per round, where turns is its last
 * non-zero weight divided by the gcd of those weights and shifted right so the largest
 * fits in IP_VS_MH_TAB_BITS (6) bits. A client maps to slot h1(saddr [+ sport]) % M.
 *
 * M is a prime from the kernel's list, chosen by CONFIG_IP_VS_MH_TAB_INDEX (default 12
 * -> 4093). The hashes are hsiphash (SipHash-1-3 on 64-bit kernels) of the 32-bit value
 * offset + port + addr, keyed with the fixed constants of generate_hash_secret(): the
 * kernel's mh keys are not random, so the same destinations give the same table on every
 * host. A different key can be passed for experiments.
 */
import { DEST_F_OVERLOAD, SVC_F_SCHED1, SVC_F_SCHED2 } from "../constants.js";
import type { IpvsDest, IpvsService } from "../model.js";
import type { Scheduler, SchedulerOptions } from "./scheduler.js";
import type { SipKey } from "./siphash.js";
import { hsiphashU32 } from "./siphash.js";

export const MH_PRIMES: readonly number[] = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];

/** generate_hash_secret(): hash1 = {2654435761, 2654435761}, hash2 = {2654446892, 2654446892} (64-bit words). */
export const MH_DEFAULT_KEYS: { hash1: SipKey; hash2: SipKey } = {
  hash1: [2654435761, 0, 2654435761, 0],
  hash2: [2654446892, 0, 2654446892, 0],
};

/** IP_VS_MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX / 2 with the default index 12. */
const MH_TAB_BITS = 6;

export function mhHashKey(addr: number, port: number, key: SipKey, offset: number): number {
  return hsiphashU32((offset + port + addr) >>> 0, key);
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** fls(): 1-based index of the most significant set bit, 0 for 0. */
function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

function unavailable(d: IpvsDest): boolean {
  return d.weight <= 0 || (d.flags & DEST_F_OVERLOAD) !== 0;
}

export class MaglevHashing implements Scheduler {
  readonly name = "mh";
  readonly size: number;
  /** The lookup table: slot -> destination (null while the service has no weighted destinations). */
  readonly lookup: (IpvsDest | null)[];
  private readonly hash1: SipKey;
  private readonly hash2: SipKey;
  private readonly used: Uint8Array;

  constructor(svc: IpvsService, opts: SchedulerOptions = {}) {
    const index = opts.mhTabIndex ?? 12;
    const size = MH_PRIMES[index - 8];
    if (size === undefined) throw new RangeError(`mh table index ${index} is outside 8..17`);
    this.size = size;
    this.lookup = new Array<IpvsDest | null>(size).fill(null);
    this.used = new Uint8Array(size);
    this.hash1 = opts.mhKeys?.hash1 ?? MH_DEFAULT_KEYS.hash1;
    this.hash2 = opts.mhKeys?.hash2 ?? MH_DEFAULT_KEYS.hash2;
    this.reassign(svc);
  }

  addDest(svc: IpvsService): void {
    this.reassign(svc);
  }
  delDest(svc: IpvsService): void {
    this.reassign(svc);
  }
  updDest(svc: IpvsService): void {
    this.reassign(svc);
  }

  /** ip_vs_mh_dest_changed -> gcd, shift, ip_vs_mh_reassign (permutate + populate). */
  private reassign(svc: IpvsService): void {
    const dests = svc.dests;
    const M = this.size;
    let g = 0;
    let mw = 0;
    for (const d of dests) {
      if (d.lastWeight > 0) g = g > 0 ? gcd(d.lastWeight, g) : d.lastWeight;
      if (d.lastWeight > mw) mw = d.lastWeight;
    }
    if (g < 1) {
      this.lookup.fill(null);
      return;
    }
    const shift = Math.max(0, fls(Math.trunc(mw / g)) - MH_TAB_BITS);
    const n = dests.length;
    const perm = new Array<number>(n);
    const skip = new Array<number>(n);
    const turns = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const d = dests[i]!;
      perm[i] = mhHashKey(d.addr, d.port, this.hash1, 0) % M;
      skip[i] = (mhHashKey(d.addr, d.port, this.hash2, 0) % (M - 1)) + 1;
      const t = Math.trunc(d.lastWeight / g) >> shift;
      turns[i] = t !== 0 ? t : d.lastWeight !== 0 ? 1 : 0;
    }
    // ip_vs_mh_populate: only slots that change are rewritten in the kernel; assigning all is equivalent.
    const used = this.used;
    used.fill(0);
    let filled = 0;
    let dtCount = 0;
    for (;;) {
      for (let i = 0; i < n; ) {
        if (turns[i]! < 1) {
          i++;
          continue;
        }
        let c = perm[i]!;
        while (used[c]) {
          c += skip[i]!;
          if (c >= M) c -= M;
        }
        perm[i] = c;
        used[c] = 1;
        this.lookup[c] = dests[i]!;
        if (++filled === M) return;
        if (++dtCount >= turns[i]!) {
          dtCount = 0;
          i++;
        }
      }
    }
  }

  schedule(svc: IpvsService, saddr: number, sport: number): IpvsDest | null {
    const port = svc.flags & SVC_F_SCHED2 ? sport : 0;
    const M = this.size;
    const ihash = mhHashKey(saddr, port, this.hash1, 0) % M;
    const dest = this.lookup[ihash]!;
    if (dest === null) return null;
    if (!unavailable(dest)) return dest;
    if (!(svc.flags & SVC_F_SCHED1)) return null;
    for (let offset = 0; offset < M; offset++) {
      const roffset = (offset + ihash) % M;
      const d = this.lookup[mhHashKey(saddr, port, this.hash1, roffset) % M]!;
      if (d === null) break;
      if (!unavailable(d)) return d;
    }
    return null;
  }
}
