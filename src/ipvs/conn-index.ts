/**
 * An intrusive chained hash index of connections keyed by a protocol and two
 * address:port pairs, so lookups on the packet path allocate nothing. Chains use
 * `conn.next[link]`; each index uses its own link slot.
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

export class ConnIndex {
  private buckets: (IpvsConn | null)[] = new Array<IpvsConn | null>(1024).fill(null);
  private mask = 1023;
  private count = 0;

  constructor(
    private readonly side: IndexSide,
    private readonly link: number,
  ) {}

  get size(): number {
    return this.count;
  }

  private hashOf(c: IpvsConn): number {
    return this.side === "client"
      ? mix(c.protocol, c.caddr, c.cport, c.vaddr, c.vport)
      : mix(c.protocol, c.daddr, c.dport, c.caddr, c.cport);
  }

  insert(c: IpvsConn): void {
    if (this.count >= this.buckets.length) this.grow();
    const i = this.hashOf(c) & this.mask;
    c.next[this.link] = this.buckets[i]!;
    this.buckets[i] = c;
    this.count++;
  }

  remove(c: IpvsConn): void {
    const i = this.hashOf(c) & this.mask;
    let prev: IpvsConn | null = null;
    let cur = this.buckets[i]!;
    while (cur !== null) {
      if (cur === c) {
        if (prev === null) this.buckets[i] = cur.next[this.link]!;
        else prev.next[this.link] = cur.next[this.link]!;
        c.next[this.link] = null;
        this.count--;
        return;
      }
      prev = cur;
      cur = cur.next[this.link]!;
    }
  }

  /**
   * Client index: the conn with (proto, caddr=a, cport=ap, vaddr=b, vport=bp).
   * Server index: the conn with (proto, daddr=a, dport=ap, caddr=b, cport=bp).
   */
  find(proto: number, a: number, ap: number, b: number, bp: number): IpvsConn | null {
    let c = this.buckets[mix(proto, a, ap, b, bp) & this.mask]!;
    if (this.side === "client") {
      while (c !== null) {
        if (c.caddr === a && c.cport === ap && c.vaddr === b && c.vport === bp && c.protocol === proto) return c;
        c = c.next[this.link]!;
      }
    } else {
      while (c !== null) {
        if (c.daddr === a && c.dport === ap && c.caddr === b && c.cport === bp && c.protocol === proto) return c;
        c = c.next[this.link]!;
      }
    }
    return null;
  }

  clear(): void {
    this.buckets = new Array<IpvsConn | null>(1024).fill(null);
    this.mask = 1023;
    this.count = 0;
  }

  private grow(): void {
    const old = this.buckets;
    this.buckets = new Array<IpvsConn | null>(old.length * 2).fill(null);
    this.mask = this.buckets.length - 1;
    for (let head of old) {
      while (head !== null) {
        const nxt = head.next[this.link]!;
        const i = this.hashOf(head) & this.mask;
        head.next[this.link] = this.buckets[i]!;
        this.buckets[i] = head;
        head = nxt;
      }
    }
  }
}
