/**
 * The store of bitmap:port: one slot per port of the set's range. As in the kernel, a
 * packet matches only when it is TCP or UDP and its port lies inside the range.
 */
import type { MemberStore } from "./member-store.js";
import type { IpsetElement, IpsetMember } from "./model.js";
import { IPPROTO_TCP, IPPROTO_UDP } from "./protocols.js";

export class BitmapPortStore implements MemberStore {
  private readonly slots: (IpsetMember | undefined)[];

  constructor(
    private readonly min: number,
    private readonly max: number,
  ) {
    this.slots = new Array(max - min + 1).fill(undefined);
  }

  get(e: IpsetElement): IpsetMember | undefined {
    return e.port < this.min || e.port > this.max ? undefined : this.slots[e.port - this.min];
  }

  put(m: IpsetMember): void {
    this.slots[m.port - this.min] = m;
  }

  remove(e: IpsetElement): void {
    if (e.port >= this.min && e.port <= this.max) this.slots[e.port - this.min] = undefined;
  }

  clear(): void {
    this.slots.fill(undefined);
  }

  find(a: number, _b: number, _c: number, proto: number, now: number): IpsetMember | undefined {
    if ((proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) || a < this.min || a > this.max) return undefined;
    const m = this.slots[a - this.min];
    return m !== undefined && now <= m.expiresAt ? m : undefined;
  }

  findElement(e: IpsetElement, now: number): IpsetMember | undefined {
    const m = this.get(e);
    return m !== undefined && now <= m.expiresAt ? m : undefined;
  }
}
