/**
 * The scheduler interface (struct ip_vs_scheduler, include/net/ip_vs.h): one instance per
 * service holds that service's scheduling state (the kernel's svc->sched_data) and is told
 * about destination changes the way ip_vs_ctl.c calls add_dest / del_dest / upd_dest.
 */
import type { IpvsDest, IpvsService } from "../model.js";

export interface Scheduler {
  readonly name: string;
  /** A destination was linked at the head of `svc.dests`. */
  addDest(svc: IpvsService, dest: IpvsDest): void;
  /** A destination was unlinked; it sat at `formerIndex` in `svc.dests`. */
  delDest(svc: IpvsService, dest: IpvsDest, formerIndex: number): void;
  /** A destination's weight, thresholds or forwarding method changed. */
  updDest(svc: IpvsService, dest: IpvsDest): void;
  /**
   * Picks a real server for a new connection from `saddr:sport` to `daddr:dport`, or null
   * when none is available.
   */
  schedule(svc: IpvsService, saddr: number, sport: number, daddr: number, dport: number): IpvsDest | null;
}

/** Options some schedulers take (mh's table size and hash keys). */
export interface SchedulerOptions {
  /** CONFIG_IP_VS_MH_TAB_INDEX (8..17), default 12: a lookup table of 4093 entries. */
  mhTabIndex?: number;
  /** mh's two hsiphash keys, each two 64-bit words as [lo32, hi32] pairs; default the kernel's constants. */
  mhKeys?: { hash1: readonly [number, number, number, number]; hash2: readonly [number, number, number, number] };
}

/** dest is usable for new connections by the hashing schedulers (is_unavailable, negated). */
export function isAvailableForNew(dest: IpvsDest): boolean {
  return dest.weight > 0 && (dest.flags & 2) === 0;
}
