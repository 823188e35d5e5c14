/**
 * An IPv4 routing table with longest-prefix match. Routes are kept in one map per prefix
 * length; a lookup probes the lengths that have routes, longest first, so it costs at most
 * 33 map probes whatever the number of routes. Among routes to the same prefix the lowest
 * metric wins, as in the kernel's FIB.
 */
import { type Ipv4Cidr, formatCidr, formatIpv4 } from "../base/index.js";
import type { NetDevice } from "../netdev/index.js";

export type RouteProto = "kernel" | "static" | "flannel";

export interface Route {
  dst: Ipv4Cidr;
  /** Next-hop address; 0 for a directly connected destination. */
  gateway: number;
  dev: NetDevice;
  /** Preferred source address (`src`); 0 to pick the device's primary address. */
  prefSrc: number;
  /** `onlink`: the gateway is reachable on `dev` even though no connected route covers it. */
  onlink: boolean;
  metric: number;
  proto: RouteProto;
}

export class RouteTable {
  private readonly byLen: (Map<number, Route[]> | undefined)[] = new Array(33);
  /** Prefix lengths that have at least one route, longest first. */
  private lens: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(route: Route): void {
    const len = route.dst.prefixLen;
    let m = this.byLen[len];
    if (!m) {
      m = new Map();
      this.byLen[len] = m;
      this.lens = [...this.lens, len].sort((a, b) => b - a);
    }
    const list = m.get(route.dst.net);
    if (list?.some((r) => r.metric === route.metric && r.dev === route.dev && r.gateway === route.gateway)) {
      throw new Error(`route ${formatRoute(route)} exists`);
    }
    if (list) {
      list.push(route);
      list.sort((a, b) => a.metric - b.metric);
    } else {
      m.set(route.dst.net, [route]);
    }
    this.count++;
  }

  /** Removes every route matching the predicate; returns how many went. */
  remove(pred: (r: Route) => boolean): number {
    let removed = 0;
    for (const len of this.lens) {
      const m = this.byLen[len]!;
      for (const [net, list] of m) {
        const keep = list.filter((r) => !pred(r));
        removed += list.length - keep.length;
        if (keep.length === 0) m.delete(net);
        else if (keep.length !== list.length) m.set(net, keep);
      }
      if (m.size === 0) this.byLen[len] = undefined;
    }
    this.lens = this.lens.filter((len) => this.byLen[len] !== undefined);
    this.count -= removed;
    return removed;
  }

  /** The best route to `dst`, or null. Allocation-free. */
  lookup(dst: number): Route | null {
    const lens = this.lens;
    for (let i = 0; i < lens.length; i++) {
      const len = lens[i]!;
      const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      const list = this.byLen[len]!.get((dst & mask) >>> 0);
      if (list !== undefined) {
        for (let j = 0; j < list.length; j++) if (list[j]!.dev.up) return list[j]!;
      }
    }
    return null;
  }

  /** All routes, most specific first, then by network and metric (as `ip route` groups them). */
  routes(): Route[] {
    const out: Route[] = [];
    for (const len of this.lens) {
      const nets = [...this.byLen[len]!.keys()].sort((a, b) => a - b);
      for (const net of nets) out.push(...this.byLen[len]!.get(net)!);
    }
    return out;
  }
}

/** One route as `ip route show` prints it. */
export function formatRoute(r: Route): string {
  const dst = r.dst.prefixLen === 0 ? "default" : r.dst.prefixLen === 32 ? formatIpv4(r.dst.net) : formatCidr(r.dst);
  let s = dst;
  if (r.gateway !== 0) s += ` via ${formatIpv4(r.gateway)}`;
  s += ` dev ${r.dev.name}`;
  if (r.proto !== "static") s += ` proto ${r.proto}`;
  if (r.gateway === 0 && r.proto === "kernel") s += " scope link";
  if (r.prefSrc !== 0) s += ` src ${formatIpv4(r.prefSrc)}`;
  if (r.metric !== 0) s += ` metric ${r.metric}`;
  if (r.onlink) s += " onlink";
  return s;
}
