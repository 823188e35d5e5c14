/**
 * A hash index of connections keyed by a protocol and two address:port pairs: open
 * addressing with linear probing, each slot holding the connection and its key's 32-bit
 * hash in a typed array. A lookup dereferences a connection only when the hash matches,
 * and removing one walks slots, not other connections, so expiring a connection touches
 * little memory beyond it. Connections with the same key (a rescheduled tuple whose old
 * connection still controls others) are found newest first, as the kernel's hash chains,
 * which add at the head, find them.
 */
import type { IpvsConn } from "./conn.js";

/** Which pair of a connection an index keys on. */
export type IndexSide = "client" | "server";

function mix(proto: number, a: number, ap: number, b: number, bp: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h ^ b, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h ^ ((ap << 16) | bp), 0x27d4eb2d);
  h ^= proto;
  h ^= h >>> 15;
  h = Math.imul(h, 0x165667b1);
  return (h ^ (h >>> 16)) >>> 0;
}

const INITIAL_SLOTS = 1024;

export class ConnIndex {
  private slots: (IpvsConn | null)[] = new Array<IpvsConn | null>(INITIAL_SLOTS).fill(null);
  private hashes = new Uint32Array(INITIAL_SLOTS);
  private mask = INITIAL_SLOTS - 1;
  private count = 0;
  private readonly server: boolean;

  constructor(side: IndexSide) {
    this.server = side === "server";
  }

  get size(): number {
    return this.count;
  }

  private hashOf(c: IpvsConn): number {
    return this.server ? mix(c.protocol, c.daddr, c.dport, c.caddr, c.cport) : mix(c.protocol, c.caddr, c.cport, c.vaddr, c.vport);
  }

  private sameKey(x: IpvsConn, y: IpvsConn): boolean {
    return this.server
      ? x.daddr === y.daddr && x.dport === y.dport && x.caddr === y.caddr && x.cport === y.cport && x.protocol === y.protocol
      : x.caddr === y.caddr && x.cport === y.cport && x.vaddr === y.vaddr && x.vport === y.vport && x.protocol === y.protocol;
  }

  insert(c: IpvsConn): void {
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    const h = this.hashOf(c);
    const { slots, hashes, mask } = this;
    let cur = c;
    let i = h & mask;
    for (;;) {
      const s = slots[i]!;
      if (s === null) break;
      // The newer of two same-key connections takes the earlier slot; the older moves on.
      if (hashes[i] === h && this.sameKey(s, cur)) {
        slots[i] = cur;
        cur = s;
      }
      i = (i + 1) & mask;
    }
    slots[i] = cur;
    hashes[i] = h;
    this.count++;
  }

  remove(c: IpvsConn): void {
    const { slots, hashes, mask } = this;
    let i = this.hashOf(c) & mask;
    for (;;) {
      const s = slots[i]!;
      if (s === c) break;
      if (s === null) return;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion: later entries of the probe run whose home slot is not
    // cyclically in (hole, j] move into the hole (their order is kept).
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const s = slots[j]!;
      if (s === null) break;
      const home = hashes[j]! & mask;
      if (hole <= j ? hole < home && home <= j : hole < home || home <= j) continue;
      slots[hole] = s;
      hashes[hole] = hashes[j]!;
      hole = j;
    }
    slots[hole] = null;
    this.count--;
  }

  /**
   * Client index: the newest conn with (proto, caddr=a, cport=ap, vaddr=b, vport=bp).
   * Server index: the newest conn with (proto, daddr=a, dport=ap, caddr=b, cport=bp).
   */
  find(proto: number, a: number, ap: number, b: number, bp: number): IpvsConn | null {
    const h = mix(proto, a, ap, b, bp);
    const { slots, hashes, mask } = this;
    let i = h & mask;
    if (!this.server) {
      for (;;) {
        const c = slots[i]!;
        if (c === null) return null;
        if (hashes[i] === h && c.caddr === a && c.cport === ap && c.vaddr === b && c.vport === bp && c.protocol === proto) return c;
        i = (i + 1) & mask;
      }
    }
    for (;;) {
      const c = slots[i]!;
      if (c === null) return null;
      if (hashes[i] === h && c.daddr === a && c.dport === ap && c.caddr === b && c.cport === bp && c.protocol === proto) return c;
      i = (i + 1) & mask;
    }
  }

  clear(): void {
    this.slots = new Array<IpvsConn | null>(INITIAL_SLOTS).fill(null);
    this.hashes = new Uint32Array(INITIAL_SLOTS);
    this.mask = INITIAL_SLOTS - 1;
    this.count = 0;
  }

  /** Doubles the table; same-key entries are re-added oldest first, so they stay newest first. */
  private grow(): void {
    const old = this.slots;
    const cap = old.length * 2;
    this.slots = new Array<IpvsConn | null>(cap).fill(null);
    this.hashes = new Uint32Array(cap);
    this.mask = cap - 1;
    this.count = 0;
    // Within a probe run the newer of same-key entries comes first; walking each run from
    // its end keeps re-insertion oldest first. A run may wrap, so start right after an empty slot.
    let start = 0;
    while (old[start] !== null) start++;
    for (let k = old.length; k > 0; k--) {
      const c = old[(start + k) & (old.length - 1)]!;
      if (c !== null) this.insert(c);
    }
  }
}
