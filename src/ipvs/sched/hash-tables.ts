/**
 * The bucket-table schedulers:
 * - sh (ip_vs_sh.c): 256 buckets filled round the destination list, each destination
 *   taking `weight` consecutive buckets (at least one); a client goes to bucket
 *   hash_32(sport + saddr, 8) with sport 0 unless the service has flag-2 "sh-port".
 *   Without flag-1 "sh-fallback" an unavailable server (weight 0 or overloaded) means no
 *   server; with it the table is probed at offsets ihash, ihash+1, ... .
 * - dh (ip_vs_dh.c): 256 buckets one per destination in turn; the bucket of the
 *   *destination* address (daddr * 2654435761) & 255.
 * hash_32 is include/linux/hash.h: (val * GOLDEN_RATIO_32) >> (32 - bits).
 */
import { DEST_F_OVERLOAD, SVC_F_SCHED1, SVC_F_SCHED2 } from "../constants.js";
import type { IpvsDest, IpvsService } from "../model.js";
import type { Scheduler } from "./scheduler.js";

const TAB_BITS = 8;
const TAB_SIZE = 1 << TAB_BITS;
const TAB_MASK = TAB_SIZE - 1;
const GOLDEN_RATIO_32 = 0x61c88647;

export function hash32(val: number, bits: number): number {
  return Math.imul(val, GOLDEN_RATIO_32) >>> (32 - bits);
}

/** ip_vs_sh_hashkey for IPv4. */
export function shHashKey(addr: number, port: number, offset: number): number {
  return (offset + hash32((port + addr) >>> 0, TAB_BITS)) & TAB_MASK;
}

function unavailable(d: IpvsDest): boolean {
  return d.weight <= 0 || (d.flags & DEST_F_OVERLOAD) !== 0;
}

export class SourceHashing implements Scheduler {
  readonly name = "sh";
  readonly buckets: (IpvsDest | null)[] = new Array<IpvsDest | null>(TAB_SIZE).fill(null);

  constructor(svc: IpvsService) {
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

  /** ip_vs_sh_reassign. */
  private reassign(svc: IpvsService): void {
    const dests = svc.dests;
    let p = 0;
    let count = 0;
    for (let i = 0; i < TAB_SIZE; i++) {
      if (dests.length === 0) {
        this.buckets[i] = null;
        continue;
      }
      if (p >= dests.length) p = 0;
      const d = dests[p]!;
      this.buckets[i] = d;
      if (++count >= d.weight) {
        p++;
        count = 0;
      }
    }
  }

  schedule(svc: IpvsService, saddr: number, sport: number): IpvsDest | null {
    const port = svc.flags & SVC_F_SCHED2 ? sport : 0;
    const ihash = shHashKey(saddr, port, 0);
    const dest = this.buckets[ihash]!;
    if (dest === null) return null;
    if (!unavailable(dest)) return dest;
    if (!(svc.flags & SVC_F_SCHED1)) return null;
    for (let offset = 0; offset < TAB_SIZE; offset++) {
      const roffset = (offset + ihash) % TAB_SIZE;
      const d = this.buckets[shHashKey(saddr, port, roffset)]!;
      if (d === null) break;
      if (!unavailable(d)) return d;
    }
    return null;
  }
}

/** ip_vs_dh_hashkey. */
export function dhHashKey(addr: number): number {
  return Math.imul(addr, 2654435761 | 0) & TAB_MASK;
}

export class DestinationHashing implements Scheduler {
  readonly name = "dh";
  readonly buckets: (IpvsDest | null)[] = new Array<IpvsDest | null>(TAB_SIZE).fill(null);

  constructor(svc: IpvsService) {
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

  /** ip_vs_dh_reassign: one bucket per destination in turn, weights ignored. */
  private reassign(svc: IpvsService): void {
    const dests = svc.dests;
    for (let i = 0; i < TAB_SIZE; i++) this.buckets[i] = dests.length === 0 ? null : dests[i % dests.length]!;
  }

  schedule(_svc: IpvsService, _saddr: number, _sport: number, daddr: number): IpvsDest | null {
    const dest = this.buckets[dhHashKey(daddr)]!;
    if (dest === null || !dest.available || dest.weight <= 0 || dest.flags & DEST_F_OVERLOAD) return null;
    return dest;
  }
}
