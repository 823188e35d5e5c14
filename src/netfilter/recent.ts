/**
 * xt_recent's address lists: per list name, per address, the times it was seen (at most
 * `ip_pkt_list_tot` = 20 stamps, the module default).
 */
export const RECENT_PKT_LIST_TOT = 20;

interface RecentEntry {
  stamps: number[];
  ttl: number;
}

export class RecentTables {
  private readonly lists = new Map<string, Map<number, RecentEntry>>();

  private list(name: string): Map<number, RecentEntry> {
    let l = this.lists.get(name);
    if (!l) {
      l = new Map();
      this.lists.set(name, l);
    }
    return l;
  }

  /** `--set`: remember `addr` now. */
  set(name: string, addr: number, now: number, ttl: number): void {
    const l = this.list(name);
    const e = l.get(addr);
    if (!e) {
      l.set(addr, { stamps: [now], ttl });
      return;
    }
    e.stamps.push(now);
    if (e.stamps.length > RECENT_PKT_LIST_TOT) e.stamps.shift();
    e.ttl = ttl;
  }

  /**
   * `--rcheck`/`--update` test: the address is listed and, with `seconds`, seen within that
   * window; with `hitcount`, at least that many times within it (recent_mt).
   */
  check(name: string, addr: number, now: number, seconds: number, hitcount: number, ttl: number | null, reap: boolean): boolean {
    const l = this.lists.get(name);
    const e = l?.get(addr);
    if (!e) return false;
    if (ttl !== null && e.ttl !== ttl) return false;
    if (seconds === 0 && hitcount === 0) return true;
    const since = seconds === 0 ? -Infinity : now - seconds * 1e9;
    let hits = 0;
    for (const s of e.stamps) if (s >= since) hits++;
    if (reap && seconds !== 0) {
      e.stamps = e.stamps.filter((s) => s >= since);
      if (e.stamps.length === 0) l!.delete(addr);
    }
    return hitcount === 0 ? hits > 0 : hits >= hitcount;
  }

  /** `--update`: refresh the newest stamp of an address already listed. */
  touch(name: string, addr: number, now: number): void {
    const e = this.lists.get(name)?.get(addr);
    if (!e) return;
    e.stamps.push(now);
    if (e.stamps.length > RECENT_PKT_LIST_TOT) e.stamps.shift();
  }

  /** `--remove`: forget an address; true when it was listed. */
  remove(name: string, addr: number): boolean {
    return this.lists.get(name)?.delete(addr) ?? false;
  }

  /** Forgets every list. */
  clear(): void {
    this.lists.clear();
  }

  /** Addresses of a list (like /proc/net/xt_recent/NAME). */
  entries(name: string): number[] {
    return [...(this.lists.get(name)?.keys() ?? [])];
  }
}
