/**
 * One tracked connection (the kernel's `struct nf_conn`): its two tuples, status bits,
 * mark, expiry on the virtual clock, per-protocol state and per-direction counters.
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

/** Directions: IP_CT_DIR_ORIGINAL and IP_CT_DIR_REPLY. */
export type Dir = 0 | 1;
export const DIR_ORIGINAL = 0;
export const DIR_REPLY = 1;

/** One entry of a hash chain: a conn seen from one direction (the kernel's nf_conntrack_tuple_hash). */
export class HashNode {
  next: HashNode | null = null;
  hash = 0;
  // The direction's tuple, copied in when the conn is linked, so a chain walk compares
  // without leaving the node.
  src = 0;
  dst = 0;
  ports = 0;
  proto = 0;
  constructor(
    readonly conn: Conn,
    readonly dir: Dir,
  ) {}
}

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
  /** SCTP state and verification tags; null for other protocols. */
  sctp: SctpTrack | null = null;
  /**
   * The numbers updated per packet, unboxed: [timeoutAt, udpStreamAt, packets original,
   * packets reply, bytes original, bytes reply]. Read them through the accessors below.
   */
  readonly num = new Float64Array(6);
  /** The conn's two hash chain nodes, [original, reply]. */
  readonly nodes: [HashNode, HashNode];

  constructor(
    /** Unique per table, in creation order. */
    readonly id: number,
    original: Tuple,
    reply: Tuple,
  ) {
    this.original = original;
    this.reply = reply;
    this.nodes = [new HashNode(this, 0), new HashNode(this, 1)];
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
