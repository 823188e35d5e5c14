/**
 * The (protocol, address, port) → virtual service table of the packet path (the kernel's
 * ip_vs_svc_table, ip_vs_ctl.c __ip_vs_service_find): open addressing with linear probing
 * over one typed array (key and value index side by side), so a lookup reads one cache
 * line and no boxed map keys. Deletion shifts the following entries back (no tombstones),
 * so lookups stay short after churn.
 */
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "../wire/ipv4.js";

/** 0 for any protocol but TCP, UDP and SCTP (the packet path never looks such a service up). */
function protoIndex(proto: number): number {
  return proto === IPPROTO_TCP ? 1 : proto === IPPROTO_UDP ? 2 : proto === IPPROTO_SCTP ? 3 : 0;
}

function hashKey(addr: number, protoPort: number): number {
  let h = Math.imul(addr ^ Math.imul(protoPort, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}

/** Words per slot: address, protocol/port key, value index + 1 (0 = empty), padding. */
const STRIDE = 4;

export class ServiceHash<T> {
  /** Slots of STRIDE words, so one probe reads one cache line. */
  private slots = new Uint32Array(16 * STRIDE);
  /** Values by index; freed indexes are reused. */
  private values: (T | undefined)[] = [];
  private freeIndexes: number[] = [];
  private mask = 15;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The slot (word offset) holding the key, or -1. */
  private find(a: number, pp: number): number {
    const { slots, mask } = this;
    let i = hashKey(a, pp) & mask;
    for (;;) {
      const o = i * STRIDE;
      const v = slots[o + 2]!;
      if (v === 0) return -1;
      if (slots[o + 1] === pp && slots[o] === a) return o;
      i = (i + 1) & mask;
    }
  }

  get(proto: number, addr: number, port: number): T | undefined {
    const o = this.find(addr >>> 0, ((protoIndex(proto) << 16) | port) >>> 0);
    return o < 0 ? undefined : this.values[this.slots[o + 2]! - 1];
  }

  /** Adds or replaces the entry. */
  set(proto: number, addr: number, port: number, value: T): void {
    const a = addr >>> 0;
    const pp = ((protoIndex(proto) << 16) | port) >>> 0;
    const o = this.find(a, pp);
    if (o >= 0) {
      this.values[this.slots[o + 2]! - 1] = value;
      return;
    }
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    const index = this.freeIndexes.length > 0 ? this.freeIndexes.pop()! : this.values.length;
    this.values[index] = value;
    this.place(a, pp, index + 1);
    this.count++;
  }

  private place(a: number, pp: number, ref: number): void {
    const { slots, mask } = this;
    let i = hashKey(a, pp) & mask;
    while (slots[i * STRIDE + 2] !== 0) i = (i + 1) & mask;
    const o = i * STRIDE;
    slots[o] = a;
    slots[o + 1] = pp;
    slots[o + 2] = ref;
  }

  delete(proto: number, addr: number, port: number): boolean {
    const a = addr >>> 0;
    const pp = ((protoIndex(proto) << 16) | port) >>> 0;
    const o = this.find(a, pp);
    if (o < 0) return false;
    const { slots, mask } = this;
    const index = slots[o + 2]! - 1;
    this.values[index] = undefined;
    this.freeIndexes.push(index);
    // Backward-shift deletion: later entries of the probe run whose home slot is not
    // cyclically in (hole, j] move into the hole.
    let hole = o / STRIDE;
    let j = hole;
    for (;;) {
      j = (j + 1) & mask;
      const jo = j * STRIDE;
      if (slots[jo + 2] === 0) break;
      const home = hashKey(slots[jo]!, slots[jo + 1]!) & mask;
      if (hole <= j ? hole < home && home <= j : hole < home || home <= j) continue;
      slots.copyWithin(hole * STRIDE, jo, jo + STRIDE);
      hole = j;
    }
    slots.fill(0, hole * STRIDE, hole * STRIDE + STRIDE);
    this.count--;
    return true;
  }

  private grow(): void {
    const old = this.slots;
    const cap = (this.mask + 1) * 2;
    this.slots = new Uint32Array(cap * STRIDE);
    this.mask = cap - 1;
    for (let o = 0; o < old.length; o += STRIDE) {
      if (old[o + 2] !== 0) this.place(old[o]!, old[o + 1]!, old[o + 2]!);
    }
  }
}
