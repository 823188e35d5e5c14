/**
 * The connection-counting schedulers:
 * - lc  (ip_vs_lc.c):  least overhead, overhead = activeconns * 256 + inactconns
 *   (ip_vs_dest_conn_overhead); weight only excludes weight-0 servers.
 * - wlc (ip_vs_wlc.c): least overhead / weight, compared as loh * w_d > doh * w_least.
 * - sed (ip_vs_sed.c): shortest expected delay, overhead = activeconns + 1, per weight.
 * - nq  (ip_vs_nq.c):  never queue: an idle server (activeconns == 0) wins at once,
 *   otherwise like sed.
 * Ties keep the earliest server in list order. Overloaded servers are skipped.
 */
import { DEST_F_OVERLOAD } from "../constants.js";
import type { IpvsDest, IpvsService } from "../model.js";
import type { Scheduler } from "./scheduler.js";

export function connOverhead(d: IpvsDest): number {
  return d.activeConns * 256 + d.inactConns;
}

function usable(d: IpvsDest): boolean {
  return (d.flags & DEST_F_OVERLOAD) === 0 && d.weight > 0;
}

abstract class NoState implements Scheduler {
  abstract readonly name: string;
  addDest(): void {}
  delDest(): void {}
  updDest(): void {}
  abstract schedule(svc: IpvsService): IpvsDest | null;
}

export class LeastConnection extends NoState {
  readonly name = "lc";
  schedule(svc: IpvsService): IpvsDest | null {
    let least: IpvsDest | null = null;
    let loh = 0;
    for (const d of svc.dests) {
      if (!usable(d)) continue;
      const doh = connOverhead(d);
      if (least === null || doh < loh) {
        least = d;
        loh = doh;
      }
    }
    return least;
  }
}

/** wlc and sed share a shape: first usable server, then any with a smaller overhead per weight. */
function weightedLeast(svc: IpvsService, overhead: (d: IpvsDest) => number): IpvsDest | null {
  const dests = svc.dests;
  let i = 0;
  while (i < dests.length && !usable(dests[i]!)) i++;
  if (i === dests.length) return null;
  let least = dests[i]!;
  let loh = overhead(least);
  for (i++; i < dests.length; i++) {
    const d = dests[i]!;
    if (d.flags & DEST_F_OVERLOAD) continue;
    const doh = overhead(d);
    if (loh * d.weight > doh * least.weight) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

export class WeightedLeastConnection extends NoState {
  readonly name = "wlc";
  schedule(svc: IpvsService): IpvsDest | null {
    return weightedLeast(svc, connOverhead);
  }
}

export function sedOverhead(d: IpvsDest): number {
  return d.activeConns + 1;
}

export class ShortestExpectedDelay extends NoState {
  readonly name = "sed";
  schedule(svc: IpvsService): IpvsDest | null {
    return weightedLeast(svc, sedOverhead);
  }
}

export class NeverQueue extends NoState {
  readonly name = "nq";
  schedule(svc: IpvsService): IpvsDest | null {
    let least: IpvsDest | null = null;
    let loh = 0;
    for (const d of svc.dests) {
      if (!usable(d)) continue;
      const doh = sedOverhead(d);
      if (d.activeConns === 0) return d;
      if (least === null || loh * d.weight > doh * least.weight) {
        least = d;
        loh = doh;
      }
    }
    return least;
  }
}
