/**
 * The neighbour (ARP) table of one device: IPv4 → MAC with states as in the kernel's
 * neighbour subsystem (simplified: INCOMPLETE, REACHABLE, STALE, FAILED, PERMANENT).
 * Packets waiting for resolution are queued on the entry, up to the kernel's byte limit.
 */
import { formatIpv4, formatMac } from "../base/index.js";
import type { PacketBuffer } from "../netdev/index.js";

export type NeighState = "INCOMPLETE" | "REACHABLE" | "STALE" | "FAILED" | "PERMANENT";

/** `base_reachable_time_ms` 30 s: after it a REACHABLE entry becomes STALE. */
export const REACHABLE_TIME_NS = 30_000_000_000;
/** `retrans_time_ms`: one ARP request per second … */
export const ARP_RETRANS_NS = 1_000_000_000;
/** … `mcast_solicit` 3 times, then the entry fails. */
export const ARP_MAX_PROBES = 3;
/** `unres_qlen_bytes` default: bytes queued per unresolved neighbour. */
export const UNRES_QLEN_BYTES = 212_992;

export interface NeighEntry {
  ip: number;
  mac: number;
  state: NeighState;
  updated: number;
  probes: number;
  queue: PacketBuffer[];
  queuedBytes: number;
}

export class NeighbourTable {
  readonly entries = new Map<number, NeighEntry>();

  get(ip: number): NeighEntry | undefined {
    return this.entries.get(ip);
  }

  /** Creates or updates an entry from an ARP message or a static configuration. */
  set(ip: number, mac: number, state: NeighState, now: number): NeighEntry {
    let e = this.entries.get(ip);
    if (!e) {
      e = { ip, mac, state, updated: now, probes: 0, queue: [], queuedBytes: 0 };
      this.entries.set(ip, e);
      return e;
    }
    if (e.state === "PERMANENT" && state !== "PERMANENT") return e;
    e.mac = mac;
    e.state = state;
    e.updated = now;
    return e;
  }

  /** Lines as `ip neigh show dev X` prints them. */
  lines(devName: string, now: number): string[] {
    const out: string[] = [];
    for (const e of this.entries.values()) {
      const state = e.state === "REACHABLE" && now - e.updated > REACHABLE_TIME_NS ? "STALE" : e.state;
      if (state === "INCOMPLETE" || state === "FAILED") out.push(`${formatIpv4(e.ip)} dev ${devName} ${state}`);
      else out.push(`${formatIpv4(e.ip)} dev ${devName} lladdr ${formatMac(e.mac)} ${state}`);
    }
    return out;
  }
}
