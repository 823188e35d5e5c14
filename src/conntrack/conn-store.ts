/**
 * Where a conntrack table keeps its confirmed conns, as a struct of typed arrays indexed by
 * slot, so that inserting, finding and removing an entry allocates nothing and the GC has
 * no per-entry objects to trace but the conn itself:
 *
 *  - the tuple hash (the kernel's hlist of nf_conntrack_tuple_hash): two nodes per slot,
 *    node = slot × 2 + direction, each a record of NODE_WORDS int32 in `nodes` holding its
 *    hash, the next node of its chain and a copy of its direction's tuple, so a chain walk
 *    compares within one cache line without touching the conn (a conn's two nodes share a
 *    line); a new node goes to the head of its bucket;
 *  - the listed conns in confirmation order (what `conntrack -L` walks), doubly linked;
 *  - nf_nat_bysource: the source-NATed conns by (protocol, source address, source port),
 *    in confirmation order within each key.
 *
 * A conn holds its slot in `conn.slot` from insertion until it is removed; its own data
 * (tuples, status, timers, counters) stays on the conn, so a reference kept after removal
 * (an in-flight packet's, a caller's) still reads that conn and never a later occupant of
 * the slot. Every array doubles when full, and the bucket array grows by load as before.
 */
import type { Conn } from "./conn.js";
import { hash5Small } from "./tuple.js";

export const NONE = -1;
/** Slot kinds. */
const FREE = 0;
/** Listed: both directions hashed (a normal confirmed conn). */
export const SLOT_LISTED = 1;
/** A clash loser inserted in the reply direction only (5.7+): hashed once, not listed, not in bysource. */
export const SLOT_REPLY_ONLY = 2;

const START_SLOTS = 64;

/** A node record: NODE_WORDS int32 at node × NODE_WORDS in `ConnStore.nodes`. */
export const NODE_WORDS = 8;
export const N_HASH = 0;
export const N_NEXT = 1;
export const N_SRC = 2;
export const N_DST = 3;
/** sport << 16 | dport. */
export const N_PORTS = 4;
export const N_PROTO = 5;

export class ConnStore {
  /** slot → its conn (null when free). */
  conns: (Conn | null)[] = [];
  kind: Uint8Array;
  capacity: number;

  // ---- tuple hash (per node)
  buckets: Int32Array;
  mask: number;
  /** The node records (see NODE_WORDS). */
  nodes: Int32Array;
  /** Nodes linked into the buckets (two per listed conn, one per reply-only). */
  private linked = 0;
  private readonly targetBuckets: number;

  // ---- listed conns in confirmation order (per slot)
  private listPrev: Int32Array;
  private listNext: Int32Array;
  listHead = NONE;
  private listTail = NONE;
  /** Listed conns (the table's count). */
  listed = 0;

  // ---- nf_nat_bysource (per slot; its buckets sized like the slots)
  private srcPrev: Int32Array;
  private srcNext: Int32Array;
  private srcIn: Uint8Array;
  private srcHead: Int32Array;
  private srcTail: Int32Array;
  private srcMask: number;

  // ---- free slots (a stack)
  private free: Int32Array;
  private freeTop = 0;
  private used = 0;

  /**
   * `targetBuckets`: the bucket count the hash grows to (nf_conntrack_buckets, a power of
   * two); it starts at `startBuckets` and doubles whenever it holds more nodes than buckets.
   */
  constructor(targetBuckets: number, startBuckets: number) {
    this.targetBuckets = targetBuckets;
    this.buckets = new Int32Array(startBuckets).fill(NONE);
    this.mask = startBuckets - 1;
    const n = START_SLOTS;
    this.capacity = n;
    this.kind = new Uint8Array(n);
    this.nodes = new Int32Array(2 * n * NODE_WORDS);
    this.listPrev = new Int32Array(n);
    this.listNext = new Int32Array(n);
    this.srcPrev = new Int32Array(n);
    this.srcNext = new Int32Array(n);
    this.srcIn = new Uint8Array(n);
    this.srcHead = new Int32Array(n).fill(NONE);
    this.srcTail = new Int32Array(n).fill(NONE);
    this.srcMask = n - 1;
    this.free = new Int32Array(n);
    this.conns = new Array<Conn | null>(n).fill(null);
  }

  // ---------------------------------------------------------------- slots

  /** A slot for `conn` of `kind` (the conn's `slot` is set). */
  take(conn: Conn, kind: number): number {
    let s: number;
    if (this.freeTop > 0) s = this.free[--this.freeTop]!;
    else {
      if (this.used === this.capacity) this.growSlots();
      s = this.used++;
    }
    this.conns[s] = conn;
    this.kind[s] = kind;
    conn.slot = s;
    return s;
  }

  /** Returns a slot whose nodes are unlinked and which is out of the lists. */
  release(s: number): void {
    const conn = this.conns[s]!;
    conn.slot = NONE;
    this.conns[s] = null;
    this.kind[s] = FREE;
    this.free[this.freeTop++] = s;
  }

  private growSlots(): void {
    const n = this.capacity * 2;
    this.capacity = n;
    this.kind = grownU8(this.kind, n);
    this.nodes = grownI32(this.nodes, 2 * n * NODE_WORDS);
    this.listPrev = grownI32(this.listPrev, n);
    this.listNext = grownI32(this.listNext, n);
    this.srcPrev = grownI32(this.srcPrev, n);
    this.srcNext = grownI32(this.srcNext, n);
    this.srcIn = grownU8(this.srcIn, n);
    this.free = grownI32(this.free, n);
    const conns = new Array<Conn | null>(n).fill(null);
    for (let i = 0; i < this.used; i++) conns[i] = this.conns[i]!;
    this.conns = conns;
    this.rebuildSources(n);
  }

  // ---------------------------------------------------------------- the tuple hash

  /** Links `node` with its direction's tuple under `hash` at the head of its bucket (growing the buckets by load first). */
  link(node: number, hash: number, src: number, dst: number, proto: number, sport: number, dport: number): void {
    const r = node * NODE_WORDS;
    const w = this.nodes;
    w[r + N_HASH] = hash;
    w[r + N_SRC] = src;
    w[r + N_DST] = dst;
    w[r + N_PORTS] = (sport << 16) | dport;
    w[r + N_PROTO] = proto;
    if (++this.linked > this.buckets.length && this.buckets.length < this.targetBuckets) this.growBuckets();
    const b = hash & this.mask;
    this.nodes[r + N_NEXT] = this.buckets[b]!;
    this.buckets[b] = node;
  }

  /** The next node of `node`'s chain, or NONE. */
  nextNode(node: number): number {
    return this.nodes[node * NODE_WORDS + N_NEXT]!;
  }

  /** Doubles the buckets and relinks every node, bucket by bucket, each chain from its head (amortised O(1) per insert). */
  private growBuckets(): void {
    const old = this.buckets;
    const size = old.length * 2;
    const buckets = new Int32Array(size).fill(NONE);
    const mask = size - 1;
    const w = this.nodes;
    for (let i = 0; i < old.length; i++) {
      let n = old[i]!;
      while (n !== NONE) {
        const r = n * NODE_WORDS;
        const after = w[r + N_NEXT]!;
        const b = w[r + N_HASH]! & mask;
        w[r + N_NEXT] = buckets[b]!;
        buckets[b] = n;
        n = after;
      }
    }
    this.buckets = buckets;
    this.mask = mask;
  }

  unlink(node: number): void {
    const w = this.nodes;
    const r = node * NODE_WORDS;
    const b = w[r + N_HASH]! & this.mask;
    let prev = NONE;
    let n = this.buckets[b]!;
    while (n !== NONE && n !== node) {
      prev = n;
      n = w[n * NODE_WORDS + N_NEXT]!;
    }
    if (n === NONE) return;
    if (prev === NONE) this.buckets[b] = w[r + N_NEXT]!;
    else w[prev * NODE_WORDS + N_NEXT] = w[r + N_NEXT]!;
    w[r + N_NEXT] = NONE;
    this.linked--;
  }

  // ---------------------------------------------------------------- listed conns

  /** Appends slot `s` to the confirmation-order list. */
  list(s: number): void {
    this.listPrev[s] = this.listTail;
    this.listNext[s] = NONE;
    if (this.listTail === NONE) this.listHead = s;
    else this.listNext[this.listTail] = s;
    this.listTail = s;
    this.listed++;
  }

  unlist(s: number): void {
    const p = this.listPrev[s]!;
    const n = this.listNext[s]!;
    if (p === NONE) this.listHead = n;
    else this.listNext[p] = n;
    if (n === NONE) this.listTail = p;
    else this.listPrev[n] = p;
    this.listed--;
  }

  /** The slot after `s` in confirmation order, or NONE. */
  listAfter(s: number): number {
    return this.listNext[s]!;
  }

  // ---------------------------------------------------------------- nf_nat_bysource

  /** Adds listed slot `s` (its original node must be linked) at the end of its source's entries. */
  addSource(s: number): void {
    const b = this.sourceBucket(s);
    this.appendSource(s, b);
  }

  private appendSource(s: number, b: number): void {
    const tail = this.srcTail[b]!;
    this.srcPrev[s] = tail;
    this.srcNext[s] = NONE;
    if (tail === NONE) this.srcHead[b] = s;
    else this.srcNext[tail] = s;
    this.srcTail[b] = s;
    this.srcIn[s] = 1;
  }

  /** Removes slot `s` from nf_nat_bysource if it is there. */
  removeSource(s: number): void {
    if (this.srcIn[s] === 0) return;
    this.srcIn[s] = 0;
    const b = this.sourceBucket(s);
    const p = this.srcPrev[s]!;
    const n = this.srcNext[s]!;
    if (p === NONE) this.srcHead[b] = n;
    else this.srcNext[p] = n;
    if (n === NONE) this.srcTail[b] = p;
    else this.srcPrev[n] = p;
  }

  /** The first slot in nf_nat_bysource order whose original tuple has this protocol, source and source port, or NONE. */
  sourceFirst(proto: number, src: number, sport: number): number {
    const b = sourceHash(proto, src, sport) & this.srcMask;
    return this.sourceFrom(this.srcHead[b]!, proto, src, sport);
  }

  /** The next such slot after `s`, or NONE. */
  sourceNext(s: number, proto: number, src: number, sport: number): number {
    return this.sourceFrom(this.srcNext[s]!, proto, src, sport);
  }

  private sourceFrom(s: number, proto: number, src: number, sport: number): number {
    const want = src | 0;
    const w = this.nodes;
    while (s !== NONE) {
      const r = 2 * s * NODE_WORDS; // the original direction's node
      if (w[r + N_SRC] === want && w[r + N_PROTO] === proto && w[r + N_PORTS]! >>> 16 === sport) return s;
      s = this.srcNext[s]!;
    }
    return NONE;
  }

  /** Slot `s`'s nf_nat_bysource bucket, from its original tuple. */
  private sourceBucket(s: number): number {
    const r = 2 * s * NODE_WORDS;
    const w = this.nodes;
    return sourceHash(w[r + N_PROTO]!, w[r + N_SRC]!, w[r + N_PORTS]! >>> 16) & this.srcMask;
  }

  /** Rehashes nf_nat_bysource into `size` buckets, keeping confirmation order within each source. */
  private rebuildSources(size: number): void {
    this.srcHead = new Int32Array(size).fill(NONE);
    this.srcTail = new Int32Array(size).fill(NONE);
    this.srcMask = size - 1;
    for (let s = this.listHead; s !== NONE; s = this.listNext[s]!) {
      if (this.srcIn[s] === 0) continue;
      this.appendSource(s, this.sourceBucket(s));
    }
  }
}

/** hash_by_src: protocol, source address and source port (or ICMP id). */
function sourceHash(proto: number, src: number, sport: number): number {
  return hash5Small(src, 0, proto, sport, 0, 0x5eed);
}

function grownI32(a: Int32Array, n: number): Int32Array {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

function grownU8(a: Uint8Array, n: number): Uint8Array {
  const b = new Uint8Array(n);
  b.set(a);
  return b;
}
