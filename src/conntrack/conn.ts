/**
 * One tracked connection (the kernel's `struct nf_conn`): its two tuples, status bits,
 * mark, expiry on the virtual clock, per-protocol state and per-direction counters. Its
 * place in the table's hash (the kernel's two nf_conntrack_tuple_hash nodes) is not an
 * object: see `slot`.
 */
import type { Tuple } from "./tuple.js";
import type { SctpTrack } from "./sctp-track.js";
import { SCTP_STATE_NAMES } from "./sctp-track.js";
import type { TcpTrack } from "./tcp-state.js";
import { TCP_STATE_NAMES } from "./tcp-state.js";

// Status bits, the kernel's IPS_* numbering (include/uapi/linux/netfilter/nf_conntrack_common.h).
export const IPS_EXPECTED = 1 << 0;
export const IPS_SEEN_REPLY = 1 << 1;
export const IPS_ASSURED = 1 << 2;
export const IPS_CONFIRMED = 1 << 3;
export const IPS_SRC_NAT = 1 << 4;
export const IPS_DST_NAT = 1 << 5;
export const IPS_NAT_MASK = IPS_SRC_NAT | IPS_DST_NAT;
export const IPS_SEQ_ADJUST = 1 << 6;
export const IPS_SRC_NAT_DONE = 1 << 7;
export const IPS_DST_NAT_DONE = 1 << 8;
export const IPS_NAT_DONE_MASK = IPS_SRC_NAT_DONE | IPS_DST_NAT_DONE;
export const IPS_DYING = 1 << 9;
export const IPS_FIXED_TIMEOUT = 1 << 10;
export const IPS_TEMPLATE = 1 << 11;
export const IPS_UNTRACKED = 1 << 12;
/** Shares bit 12 with UNTRACKED in the kernel: a conn that lost a NAT clash (never ASSURED). */
export const IPS_NAT_CLASH = IPS_UNTRACKED;

/** Takes back conns no one holds any more (the table's pool). */
export interface ConnOwner {
  release(conn: Conn): void;
}

/** Directions: IP_CT_DIR_ORIGINAL and IP_CT_DIR_REPLY. */
export type Dir = 0 | 1;
export const DIR_ORIGINAL = 0;
export const DIR_REPLY = 1;

export class Conn {
  /** Tuple of the first packet's direction, as it arrived (before any NAT). */
  original: Tuple;
  /** Tuple a reply is expected to carry; NAT rewrites it at setup. */
  reply: Tuple;
  /** IPS_* bits. */
  status = 0;
  mark = 0;
  /** TCP state and window tracking; null for other protocols. */
  tcp: TcpTrack | null = null;
  /** The TcpTrack this object had before it was reused (conn-pool.ts), for a new TCP conn to reset and use. */
  spareTcp: TcpTrack | null = null;
  /** SCTP state and verification tags; null for other protocols. */
  sctp: SctpTrack | null = null;
  /**
   * The numbers updated per packet, unboxed: [timeoutAt, udpStreamAt, packets original,
   * packets reply, bytes original, bytes reply]. Read them through the accessors below.
   */
  // A literal array of doubles (one FixedDoubleArray): a third of a Float64Array's cost to
  // allocate and keep, which every new connection pays. The 0.5 only sets the elements kind.
  readonly num: number[] = [0.5, 0, 0, 0, 0, 0];
  /**
   * The conn's slot in its table while it is in the hash (confirmed, not yet killed), else -1.
   * The table keeps its hash chains, list order and nat_bysource chains in typed arrays
   * indexed by slot (conn-store.ts), so a conn costs the GC this object, its tuples and `num`.
   */
  slot = -1;
  /**
   * Packets holding this conn (skb->_nfct's reference: nf_conntrack_get / nf_conntrack_put,
   * through PacketBuffer). When no packet holds it and it is out of the table, the table may
   * reuse the object for a new connection, as the kernel frees an nf_conn at refcount 0 —
   * unless it `escaped`.
   */
  refs = 0;
  /**
   * Handed to a caller outside the packet path (ConntrackTable.inspect, lookup, entries,
   * onClash), who may keep it: such a conn is never reused, the GC collects it.
   */
  escaped = false;
  /** In its table's free pool (conn-pool.ts), waiting to be reused. */
  pooled = false;
  /** Where the conn goes when the last reference is put; null: nowhere (the GC collects it). */
  owner: ConnOwner | null = null;

  constructor(
    /** Unique per table, in creation order (a reused conn object gets a new one). */
    public id: number,
    original: Tuple,
    reply: Tuple,
  ) {
    this.original = original;
    this.reply = reply;
    this.num[0] = 0;
  }

  /** nf_conntrack_get: a packet took a reference. */
  ctGet(): void {
    this.refs++;
  }

  /** nf_conntrack_put: a packet let go; the last one lets an entry out of the table be reused. */
  ctPut(): void {
    if (--this.refs === 0 && this.slot === -1 && this.owner !== null) this.owner.release(this);
  }

  /** Virtual time (ns) at which the entry expires; refreshed by traffic. */
  get timeoutAt(): number {
    return this.num[0]!;
  }
  set timeoutAt(v: number) {
    this.num[0] = v;
  }
  /** UDP: virtual time after which two-way traffic counts as a stream (2 s after creation). */
  get udpStreamAt(): number {
    return this.num[1]!;
  }
  set udpStreamAt(v: number) {
    this.num[1] = v;
  }
  /** Packets per direction: [original, reply]. */
  get packets(): [number, number] {
    return [this.num[2]!, this.num[3]!];
  }
  /** Bytes (IP total length) per direction: [original, reply]. */
  get bytes(): [number, number] {
    return [this.num[4]!, this.num[5]!];
  }

  /** Counts one packet of `bytes` bytes in direction `dir`. */
  account(dir: Dir, bytes: number): void {
    this.num[2 + dir]++;
    this.num[4 + dir] += bytes;
  }

  /** The tuple of direction `dir`. */
  tuple(dir: Dir): Tuple {
    return dir === 0 ? this.original : this.reply;
  }

  get confirmed(): boolean {
    return (this.status & IPS_CONFIRMED) !== 0;
  }

  /** TCP_CONNTRACK_* state number (0 = NONE for non-TCP conns). */
  get tcpState(): number {
    return this.tcp ? this.tcp.state : 0;
  }

  /** The state's name as conntrack prints it (`ESTABLISHED`), or "" for non-TCP conns. */
  get tcpStateName(): string {
    return this.tcp ? TCP_STATE_NAMES[this.tcp.state]! : "";
  }

  /** The SCTP state's name as conntrack prints it (`COOKIE_WAIT`), or "" for non-SCTP conns. */
  get sctpStateName(): string {
    return this.sctp ? SCTP_STATE_NAMES[this.sctp.state]! : "";
  }
}
