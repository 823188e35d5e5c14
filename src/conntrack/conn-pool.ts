/**
 * A table's spare conn objects: a conn that left the table and that no packet holds any more
 * (its last nf_conntrack_put, see Conn.refs) comes here instead of to the GC, and the next
 * new connection reuses it — object, tuples and counters — so that creating an entry
 * allocates nothing once the table has seen as many connections come and go.
 *
 * A conn that was ever handed to a caller outside the packet path (`escaped`) is never
 * reused: whoever holds it keeps reading that connection, as before.
 */
import type { ConnOwner } from "./conn.js";
import { Conn } from "./conn.js";
import { IPPROTO_ICMP, icmpInverseType } from "./tuple.js";

/** At most this many spare conns per table (the rest go to the GC). */
const POOL_LIMIT = 1 << 16;

export class ConnPool implements ConnOwner {
  private readonly free: Conn[] = [];

  /** Conns reused so far (for tests and benchmarks). */
  reused = 0;
  /** False: keep no spare conns (each new connection gets a new object), to compare against reuse. */
  enabled = true;

  release(conn: Conn): void {
    if (!this.enabled || conn.escaped || conn.pooled || conn.refs !== 0 || conn.slot !== -1 || this.free.length >= POOL_LIMIT) return;
    conn.pooled = true;
    this.free.push(conn);
  }

  /**
   * A conn for the original tuple (src, dst, proto, sport, dport), its reply the inverse
   * (the ICMP type's answer; the caller has checked there is one), in the state a new conn
   * starts in.
   */
  take(id: number, src: number, dst: number, proto: number, sport: number, dport: number): Conn {
    const icmp = proto === IPPROTO_ICMP;
    const rsport = icmp ? sport : dport;
    const rdport = icmp ? icmpInverseType(dport) : sport;
    const conn = this.free.pop();
    if (conn === undefined) {
      const c = new Conn(id, { src, dst, proto, sport, dport }, { src: dst, dst: src, proto, sport: rsport, dport: rdport });
      c.owner = this;
      return c;
    }
    conn.pooled = false;
    conn.id = id;
    const o = conn.original;
    o.src = src;
    o.dst = dst;
    o.proto = proto;
    o.sport = sport;
    o.dport = dport;
    const r = conn.reply;
    r.src = dst;
    r.dst = src;
    r.proto = proto;
    r.sport = rsport;
    r.dport = rdport;
    conn.status = 0;
    conn.mark = 0;
    if (conn.tcp !== null) conn.spareTcp = conn.tcp;
    conn.tcp = null;
    conn.sctp = null;
    const n = conn.num;
    n[0] = 0;
    n[1] = 0;
    n[2] = 0;
    n[3] = 0;
    n[4] = 0;
    n[5] = 0;
    this.reused++;
    return conn;
  }
}
