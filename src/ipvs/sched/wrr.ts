/**
 * Weighted round robin (net/netfilter/ipvs/ip_vs_wrr.c). Passes over the destination list
 * with a current weight `cw` that starts at the maximum weight and steps down by the gcd
 * of the weights; a pass picks every destination whose weight is at least `cw`. The
 * maximum is lowered by (gcd - 1) so the last pass runs with cw = 1 and catches weights
 * that fell below the gcd. So weights 3:1 give A A B A, A A B A, ...
 */
import { DEST_F_OVERLOAD } from "../constants.js";
import type { IpvsDest, IpvsService } from "../model.js";
import type { Scheduler } from "./scheduler.js";

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

export class WeightedRoundRobin implements Scheduler {
  readonly name = "wrr";
  /** Current position; null is the list head. */
  private cl: IpvsDest | null = null;
  private cw = 0;
  private mw = 0;
  private di = 1;

  constructor(svc: IpvsService) {
    this.di = gcdWeight(svc);
    this.mw = maxWeight(svc) - (this.di - 1);
    this.cw = this.mw;
  }

  addDest(svc: IpvsService): void {
    this.changed(svc);
  }
  delDest(svc: IpvsService): void {
    this.changed(svc);
  }
  updDest(svc: IpvsService): void {
    this.changed(svc);
  }

  /** ip_vs_wrr_dest_changed: restart from the head and keep cw in range. */
  private changed(svc: IpvsService): void {
    this.cl = null;
    this.di = gcdWeight(svc);
    this.mw = maxWeight(svc) - (this.di - 1);
    if (this.cw > this.mw || this.cw === 0) this.cw = this.mw;
    else if (this.di > 1) this.cw = Math.trunc(this.cw / this.di) * this.di + 1;
  }

  schedule(svc: IpvsService): IpvsDest | null {
    const dests = svc.dests;
    const n = dests.length;
    if (this.mw === 0) return null;
    let pos = this.cl === null ? -1 : dests.indexOf(this.cl);
    const last = pos;
    let stop = -2;
    let lastPass = false;
    let restarted = false;
    for (;;) {
      for (let i = pos + 1; i < n; i++) {
        const d = dests[i]!;
        if ((d.flags & DEST_F_OVERLOAD) === 0 && d.weight >= this.cw) {
          this.cl = d;
          return d;
        }
        if (i === stop) {
          this.cl = d;
          return null;
        }
      }
      pos = -1;
      this.cw -= this.di;
      if (this.cw <= 0) {
        this.cw = this.mw;
        // Stop after a full pass with cw = 1 (or when the only pass started at the head).
        if (lastPass || last < 0) {
          this.cl = null;
          return null;
        }
        restarted = true;
      }
      lastPass = this.cw <= this.di;
      if (lastPass && restarted && last >= 0) stop = last;
    }
  }
}

function gcdWeight(svc: IpvsService): number {
  let g = 0;
  for (const d of svc.dests) {
    if (d.weight > 0) g = g > 0 ? gcd(d.weight, g) : d.weight;
  }
  return g > 0 ? g : 1;
}

function maxWeight(svc: IpvsService): number {
  let w = 0;
  for (const d of svc.dests) if (d.weight > w) w = d.weight;
  return w;
}
