/**
 * The connection table: nf_conntrack_in (lookup, creation, per-protocol tracking),
 * nf_conntrack_confirm, expiry, early drop, NAT setup and the `conntrack -L`/`-D` views,
 * on a virtual clock (net/netfilter/nf_conntrack_core.c).
 *
 * Conns are hashed twice, once per direction, into a power-of-two array of chains
 * (like the kernel's hlist of nf_conntrack_tuple_hash), kept in typed arrays (conn-store.ts).
 * A lookup hashes the five tuple fields straight from the packet bytes and compares fields
 * along the chain, so an established flow's packet allocates nothing; a new flow's packet
 * allocates its conn and tuples and nothing else (NAT setup works in scratch tuples).
 *
 * Like the kernel, a packet of an unknown flow gets a new *unconfirmed* conn that is not
 * yet in the table: NAT bindings are set up on it, and `confirm` at the last hook
 * (POSTROUTING or INPUT) inserts it. A packet dropped before then leaves no entry.
 *
 * Packets hold their conn by reference count (Conn.refs); a conn out of the table that no
 * packet holds is reused for a later connection (conn-pool.ts) unless a caller was given it.
 */
import type { Clock } from "../base/clock.js";
import { NS_PER_SEC } from "../base/clock.js";
import type { Rng } from "../base/rng.js";
import type { NatRange } from "./nat-range.js";
import type { Dir } from "./conn.js";
import { Conn, IPS_ASSURED, IPS_CONFIRMED, IPS_DYING, IPS_EXPECTED, IPS_FIXED_TIMEOUT, IPS_NAT_CLASH, IPS_NAT_DONE_MASK, IPS_SEEN_REPLY, IPS_SRC_NAT_DONE } from "./conn.js";
import { formatConn } from "./format.js";
import { type ClashResolution, DEFAULT_KERNEL, type KernelVersion, clashResolution, natPortRover, natUpdatesZeroUdpChecksum, tcpIgnoresOverlyDelayed } from "./kernel.js";
import { manipPacket as applyNat } from "./manip.js";
import type { NatEnv, NatFlags, NatManip } from "./nat.js";
import { isNatDone as natDone, natFlagBits, setupNat as natSetup, setupNatRange } from "./nat.js";
import { ConnStore, NODE_WORDS, NONE, N_DST, N_HASH, N_NEXT, N_PORTS, N_PROTO, N_SRC, SLOT_LISTED, SLOT_REPLY_ONLY } from "./conn-store.js";
import { ConnPool } from "./conn-pool.js";
import { SCTP_RES_INVALID, sctpPacket } from "./sctp-track.js";
import { TCP_RES_ACCEPT, TCP_RES_INVALID, TCP_RES_KILL, TCP_RES_REPEAT, tcpPacket } from "./tcp-track.js";
import type { Timeouts, TimeoutsNs } from "./timeouts.js";
import { timeoutsNs } from "./timeouts.js";
import type { Tuple } from "./tuple.js";
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, connHash, icmpInverseType, icmpValidNew, invertTuple, tupleEquals } from "./tuple.js";
import { ICMP_HEADER_LEN, ICMP_QUOTED_L4_MIN, icmp, isIcmpError } from "../wire/icmp.js";
import { IPV4_MIN_HEADER_LEN, ipv4 } from "../wire/ipv4.js";
import { ports } from "../wire/ports.js";
import { SCTP_HEADER_LEN } from "../wire/sctp.js";
import { UDP_HEADER_LEN, udp } from "../wire/udp.js";

export type CtInfo = "NEW" | "ESTABLISHED" | "RELATED" | "INVALID" | "UNTRACKED";

/** `CtVerdict.info`: the ctinfo as a number, for callers that branch on it per packet. */
export const CTINFO_ESTABLISHED = 0;
export const CTINFO_RELATED = 1;
export const CTINFO_NEW = 2;
export const CTINFO_INVALID = 3;
export const CTINFO_UNTRACKED = 4;

/**
 * What conntrack decided about one packet (the skb's nfct + ctinfo). `conn` is null for
 * INVALID and UNTRACKED packets. `dir` is the packet's direction relative to the conn
 * (for RELATED ICMP errors, the error's direction). `drop` is set when the table is full
 * and the packet must be dropped (NF_DROP).
 */
export interface CtVerdict {
  conn: Conn | null;
  dir: Dir;
  ctinfo: CtInfo;
  /** The same as `ctinfo`, as a CTINFO_* number. */
  info: number;
  drop: boolean;
}

/** Counters as `conntrack -S` names them (searched: chain entries compared during lookups). */
export interface ConntrackStats {
  found: number;
  new: number;
  invalid: number;
  drop: number;
  early_drop: number;
  insert_failed: number;
  /** Clashes at confirm resolved without a drop (kernels 5.7 and later count them here). */
  clash_resolve: number;
  searched: number;
}

export interface ConntrackOptions {
  clock: Clock;
  rng: Rng;
  /** nf_conntrack_max (default 262144). */
  max?: number;
  /** Seconds; unspecified ones keep the Linux defaults. */
  timeouts?: Partial<Timeouts>;
  /** nf_conntrack_tcp_loose (default true): pick up TCP connections mid-stream from any segment but a RST. */
  tcpLoose?: boolean;
  /** nf_conntrack_tcp_be_liberal (default false): out-of-window segments are not INVALID. */
  tcpBeLiberal?: boolean;
  /** nf_conntrack_acct (default false): print per-direction counters in `list()`. Counting always happens. */
  acct?: boolean;
  /** Hash buckets (rounded up to a power of two); default max rounded up, at most 2^20. */
  buckets?: number;
  /** The node's kernel, for the version-dependent behaviours of kernel.ts (default DEFAULT_KERNEL). */
  kernel?: KernelVersion;
}

/** How a clash at confirm ended (for onClash). */
export type ClashOutcome = "merged" | "reply-only" | "dropped";

/** `conntrack -D` filters; every given field must match. */
export interface ConntrackFilter {
  proto?: number;
  origSrc?: number;
  origDst?: number;
  replySrc?: number;
  replyDst?: number;
  origDport?: number;
  replySport?: number;
}

/** early_drop scans this many buckets from the new conn's (NF_CT_EVICTION_RANGE). */
const EVICTION_RANGE = 8;
const UDP_STREAM_DELAY_NS = 2 * NS_PER_SEC;
/** nf_ct_resolve_clash_harder: "we want the clashing entry to go away real soon: 1 second timeout". */
const NAT_CLASH_TIMEOUT_NS = NS_PER_SEC;

export class ConntrackTable {
  readonly stats: ConntrackStats = { found: 0, new: 0, invalid: 0, drop: 0, early_drop: 0, insert_failed: 0, clash_resolve: 0, searched: 0 };
  /** nf_conntrack_max: a sysctl, so it may change while the table is in use (kube-proxy raises it at start). */
  max: number;
  readonly tcpLoose: boolean;
  tcpBeLiberal: boolean;
  readonly acct: boolean;
  /** The kernel whose clash resolution, NAT port search and UDP checksum handling this table follows. */
  readonly kernel: KernelVersion;
  private readonly clash: ClashResolution;
  /** tcp_in_window before 6.1: a segment under the window's lower bound is INVALID, not ignored (kernel.ts). */
  private readonly tcpStrictWindow: boolean;
  /** udp_manip_pkt rewrites a zero UDP checksum of a CHECKSUM_PARTIAL packet (kernel.ts). */
  readonly natZeroUdpChecksumBug: boolean;
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly t: TimeoutsNs;
  /**
   * The confirmed conns: the tuple hash, confirmation order and nf_nat_bysource. Clash
   * losers inserted in the reply direction only (5.7+) are hashed there but not listed;
   * they expire in 1 s.
   */
  private readonly store: ConnStore;
  /** Conns no one holds, for reuse. */
  private readonly pool = new ConnPool();
  private readonly seed: number;
  private nextId = 1;
  private readonly verdict: CtVerdict = { conn: null, dir: 0, ctinfo: "INVALID", info: CTINFO_INVALID, drop: false };
  private readonly natEnv: NatEnv;
  /**
   * Told of every clash at confirm (the kernel's only trace of one is a counter; a scenario
   * wants the two entries): the conn in the table, the one that lost, what became of it.
   */
  onClash: ((winner: Conn, loser: Conn, outcome: ClashOutcome) => void) | null = null;

  constructor(opts: ConntrackOptions) {
    this.clock = opts.clock;
    this.rng = opts.rng;
    this.max = opts.max ?? 262144;
    this.tcpLoose = opts.tcpLoose ?? true;
    this.tcpBeLiberal = opts.tcpBeLiberal ?? false;
    this.acct = opts.acct ?? false;
    this.kernel = opts.kernel ?? DEFAULT_KERNEL;
    this.clash = clashResolution(this.kernel);
    this.natZeroUdpChecksumBug = natUpdatesZeroUdpChecksum(this.kernel);
    this.tcpStrictWindow = !tcpIgnoresOverlyDelayed(this.kernel);
    this.t = timeoutsNs(opts.timeouts);
    let n = 1;
    const want = Math.min(opts.buckets ?? this.max, 1 << 20);
    while (n < want) n <<= 1;
    // A namespace that tracks few flows should not pay for 2^18 buckets up front (a
    // thousand-node cluster would allocate gigabytes): start small and double, by load, up to
    // the kernel's size, which the table has whenever it is full enough for early_drop.
    this.store = new ConnStore(n, Math.min(n, 256));
    this.seed = this.rng.nextU32();
    const secret = this.rng.nextU32();
    const store = this.store;
    // Made once per table; NAT setup calls them with numbers, never with temporary objects.
    this.natEnv = {
      tupleTaken: (src, dst, proto, sport, dport, ignore) => {
        const node = this.findNode(connHash(src, dst, proto, sport, dport, this.seed), src, dst, proto, sport, dport);
        return node !== NONE && store.conns[node >> 1] !== ignore;
      },
      sourceFirst: (proto, src, sport) => store.sourceFirst(proto, src, sport),
      sourceNext: (slot, proto, src, sport) => store.sourceNext(slot, proto, src, sport),
      connAt: (slot) => store.conns[slot]!,
      rng: this.rng,
      secret,
      rover: natPortRover(this.kernel) ? new Map<number, number>() : null,
    };
  }

  /** Confirmed entries. */
  get count(): number {
    return this.store.listed;
  }

  /**
   * nf_conntrack_in at PREROUTING/OUTPUT for the IPv4 packet of `len` bytes at
   * `buf[ipOff..]`. `notrack` = the raw table's NOTRACK/CT --notrack marked it.
   *
   * The returned object is reused: the next call overwrites it. Its conn is the caller's to
   * keep (it is never reused for another connection).
   */
  inspect(buf: Uint8Array, ipOff: number, len: number, notrack = false): CtVerdict {
    const v = this.inspectPacket(buf, ipOff, len, notrack);
    if (v.conn !== null) v.conn.escaped = true;
    return v;
  }

  /** Conns reused for new connections so far (conn-pool.ts). */
  get connsReused(): number {
    return this.pool.reused;
  }

  /** Whether conns no one holds are reused (default true); false gives every connection a new object, to compare. */
  get reuseConns(): boolean {
    return this.pool.enabled;
  }
  set reuseConns(on: boolean) {
    this.pool.enabled = on;
  }

  /**
   * `inspect` for the packet path: the caller hands the conn to the packet, which holds it
   * by reference (Conn.ctGet / ctPut), and keeps no other reference to it; so once out of the
   * table and let go by every packet, the conn may be reused.
   */
  inspectPacket(buf: Uint8Array, ipOff: number, len: number, notrack = false): CtVerdict {
    const v = this.verdict;
    v.conn = null;
    v.dir = 0;
    v.drop = false;
    v.ctinfo = "INVALID";
    v.info = CTINFO_INVALID;
    if (notrack) {
      v.ctinfo = "UNTRACKED";
      v.info = CTINFO_UNTRACKED;
      return v;
    }
    if (len < IPV4_MIN_HEADER_LEN || ipv4.version(buf, ipOff) !== 4) return this.invalid();
    const ihl = ipv4.headerLen(buf, ipOff);
    const total = ipv4.totalLen(buf, ipOff);
    if (ihl < IPV4_MIN_HEADER_LEN || total < ihl || total > len) return this.invalid();
    // Non-first fragments carry no transport header (the kernel reassembles before conntrack).
    if (ipv4.fragOffset(buf, ipOff) !== 0) return this.invalid();
    const proto = ipv4.protocol(buf, ipOff);
    const src = ipv4.src(buf, ipOff);
    const dst = ipv4.dst(buf, ipOff);
    const l4off = ipOff + ihl;
    const l4len = total - ihl;
    let sport = 0;
    let dport = 0;
    if (proto === IPPROTO_TCP) {
      // tcp_error checks the whole header later (tcp-track.ts); the tuple needs the ports.
      if (l4len < ICMP_QUOTED_L4_MIN) return this.invalid();
      sport = ports.src(buf, l4off);
      dport = ports.dst(buf, l4off);
    } else if (proto === IPPROTO_UDP) {
      // udp_error: short or inconsistent length.
      if (l4len < UDP_HEADER_LEN) return this.invalid();
      const ulen = udp.length(buf, l4off);
      if (ulen > l4len || ulen < UDP_HEADER_LEN) return this.invalid();
      sport = ports.src(buf, l4off);
      dport = ports.dst(buf, l4off);
    } else if (proto === IPPROTO_SCTP) {
      // sctp_error: shorter than the common header.
      if (l4len < SCTP_HEADER_LEN) return this.invalid();
      sport = ports.src(buf, l4off);
      dport = ports.dst(buf, l4off);
    } else if (proto === IPPROTO_ICMP) {
      if (l4len < ICMP_HEADER_LEN) return this.invalid();
      const type = icmp.type(buf, l4off);
      if (type > 18) return this.invalid(); // NR_ICMP_TYPES
      if (isIcmpError(type)) return this.icmpError(buf, l4off, l4len, dst);
      sport = icmp.echoIdent(buf, l4off);
      dport = type;
    }

    for (let attempt = 0; attempt < 2; attempt++) {
      const hash = connHash(src, dst, proto, sport, dport, this.seed);
      const node = this.findNode(hash, src | 0, dst | 0, proto, sport, dport);
      let conn: Conn;
      let dir: Dir;
      /** Made for this packet: nobody else has seen it, so an INVALID verdict hands it straight back. */
      let fresh = false;
      if (node !== NONE) {
        conn = this.store.conns[node >> 1]!;
        dir = (node & 1) as Dir;
        this.stats.found++;
      } else {
        // init_conntrack: refuse tuples with no inverse, make room when full.
        if (proto === IPPROTO_ICMP && icmpInverseType(dport) < 0) return this.invalid();
        if (this.store.listed >= this.max && !this.earlyDrop(hash)) {
          this.stats.drop++;
          v.drop = true;
          return v;
        }
        conn = this.pool.take(this.nextId++, src, dst, proto, sport, dport);
        dir = 0;
        fresh = true;
        this.stats.new++;
      }
      const now = this.clock.now();
      let refreshed = true;
      if (proto === IPPROTO_TCP) {
        const r = tcpPacket(conn, dir, buf, l4off, l4len, now, this.t.tcp, this.tcpLoose, this.tcpBeLiberal, this.tcpStrictWindow);
        if (r === TCP_RES_INVALID) return this.invalid(fresh ? conn : null);
        if (r === TCP_RES_REPEAT) {
          this.kill(conn);
          continue;
        }
        // Killed but still the packet's (it goes on with it): out of the table, not reusable yet.
        if (r === TCP_RES_KILL) this.remove(conn);
        refreshed = r === TCP_RES_ACCEPT || r === TCP_RES_KILL;
      } else if (proto === IPPROTO_UDP) {
        this.udpPacket(conn, now);
      } else if (proto === IPPROTO_SCTP) {
        // SCTP_RES_IGNORE (a retransmitted INIT into CLOSED) accepts without refreshing the timeout.
        if (sctpPacket(conn, dir, buf, l4off, l4len, now, this.t.sctp, !conn.confirmed) === SCTP_RES_INVALID) return this.invalid(fresh ? conn : null);
      } else if (proto === IPPROTO_ICMP) {
        if (!icmpValidNew(conn.original.dport)) return this.invalid(fresh ? conn : null);
        conn.timeoutAt = now + this.t.icmp;
      } else {
        conn.timeoutAt = now + this.t.generic;
      }
      if (refreshed) conn.account(dir, total);
      const status = conn.status;
      if (dir === 1) {
        v.ctinfo = "ESTABLISHED";
        v.info = CTINFO_ESTABLISHED;
        conn.status = status | IPS_SEEN_REPLY;
      } else if (status & IPS_SEEN_REPLY) {
        v.ctinfo = "ESTABLISHED";
        v.info = CTINFO_ESTABLISHED;
      } else if (status & IPS_EXPECTED) {
        v.ctinfo = "RELATED";
        v.info = CTINFO_RELATED;
      } else {
        v.ctinfo = "NEW";
        v.info = CTINFO_NEW;
      }
      v.conn = conn;
      v.dir = dir;
      return v;
    }
    return this.invalid();
  }

  /** nf_conntrack_udp_packet. */
  private udpPacket(conn: Conn, now: number): void {
    const status = conn.status;
    // IPS_FIXED_TIMEOUT (here only a clash loser inserted reply-only, which is also
    // IPS_NAT_CLASH): traffic neither extends it nor makes it ASSURED.
    if (status & IPS_FIXED_TIMEOUT) return;
    if (!(status & IPS_CONFIRMED)) conn.udpStreamAt = now + UDP_STREAM_DELAY_NS;
    if (status & IPS_SEEN_REPLY) {
      // Two-way traffic still going after 2 s: a stream. Longer timeout, and ASSURED.
      let extra = this.t.udp;
      let stream = false;
      if (now > conn.udpStreamAt) {
        extra = this.t.udpStream;
        stream = (status & IPS_ASSURED) === 0;
      }
      conn.timeoutAt = now + extra;
      if (status & IPS_NAT_CLASH) return;
      if (stream) conn.status |= IPS_ASSURED;
    } else {
      conn.timeoutAt = now + this.t.udp;
    }
  }

  /**
   * nf_conntrack_inet_error: an ICMP error quoting a packet of a known conn is RELATED to
   * it. The quoted packet went the other way, so its inverse is looked up; the error's
   * destination must be the destination of the matched direction.
   */
  private icmpError(buf: Uint8Array, l4off: number, l4len: number, outerDst: number): CtVerdict {
    const inner = icmp.payloadOffset(buf, l4off);
    if (l4len < ICMP_HEADER_LEN + IPV4_MIN_HEADER_LEN || ipv4.version(buf, inner) !== 4) return this.invalid();
    const ihl = ipv4.headerLen(buf, inner);
    if (ihl < IPV4_MIN_HEADER_LEN || l4len < ICMP_HEADER_LEN + ihl) return this.invalid();
    const proto = ipv4.protocol(buf, inner);
    const qsrc = ipv4.src(buf, inner);
    const qdst = ipv4.dst(buf, inner);
    const il4 = inner + ihl;
    const il4len = l4len - ICMP_HEADER_LEN - ihl;
    let sport = 0;
    let dport = 0;
    if (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP) {
      if (il4len < ICMP_QUOTED_L4_MIN) return this.invalid();
      // Inverted: the reply to the quoted packet.
      sport = ports.dst(buf, il4);
      dport = ports.src(buf, il4);
    } else if (proto === IPPROTO_ICMP) {
      if (il4len < ICMP_QUOTED_L4_MIN) return this.invalid();
      const inv = icmpInverseType(icmp.type(buf, il4));
      if (inv < 0) return this.invalid();
      sport = icmp.echoIdent(buf, il4);
      dport = inv;
    }
    const node = this.findNode(connHash(qdst, qsrc, proto, sport, dport, this.seed), qdst | 0, qsrc | 0, proto, sport, dport);
    if (node === NONE) return this.invalid();
    const conn = this.store.conns[node >> 1]!;
    const dir = (node & 1) as Dir;
    if (conn.tuple(dir).dst !== outerDst) return this.invalid();
    this.stats.found++;
    const v = this.verdict;
    v.conn = conn;
    v.dir = dir;
    v.ctinfo = "RELATED";
    v.info = CTINFO_RELATED;
    return v;
  }

  /** An INVALID verdict; `discard`: a conn made for this packet, handed back for reuse. */
  private invalid(discard: Conn | null = null): CtVerdict {
    if (discard !== null) this.pool.release(discard);
    this.stats.invalid++;
    const v = this.verdict;
    v.conn = null;
    v.dir = 0;
    v.ctinfo = "INVALID";
    v.info = CTINFO_INVALID;
    return v;
  }

  private hashOf(t: Tuple): number {
    return connHash(t.src, t.dst, t.proto, t.sport, t.dport, this.seed);
  }

  /**
   * The chain node (slot × 2 + direction) for these fields, or NONE; an expired entry found
   * this way is removed and not returned (nf_ct_gc_expired). Callers pass the addresses as
   * int32 (`x | 0`), which V8 passes without a heap number for most addresses.
   */
  private findNode(hash: number, src: number, dst: number, proto: number, sport: number, dport: number): number {
    const st = this.store;
    const h = hash | 0;
    const s32 = src | 0;
    const d32 = dst | 0;
    const ports = (sport << 16) | dport;
    const w = st.nodes;
    let n = st.buckets[hash & st.mask]!;
    while (n !== NONE) {
      this.stats.searched++;
      const r = n * NODE_WORDS;
      if (w[r + N_HASH] === h && w[r + N_SRC] === s32 && w[r + N_DST] === d32 && w[r + N_PORTS] === ports && w[r + N_PROTO] === proto) {
        const conn = st.conns[n >> 1]!;
        if (conn.timeoutAt <= this.clock.now()) {
          this.kill(conn);
          return NONE;
        }
        return n;
      }
      n = w[r + N_NEXT]!;
    }
    return NONE;
  }

  /** The conn holding tuple `t` in either direction, or null. */
  lookup(t: Tuple): { conn: Conn; dir: Dir } | null {
    const n = this.findNode(this.hashOf(t), t.src | 0, t.dst | 0, t.proto, t.sport, t.dport);
    if (n === NONE) return null;
    const conn = this.store.conns[n >> 1]!;
    conn.escaped = true;
    return { conn, dir: (n & 1) as Dir };
  }

  /**
   * nf_conntrack_confirm: insert an unconfirmed conn. True when the packet may go on (see
   * confirmPacket for the conn it goes on with); false when it is dropped.
   */
  confirm(conn: Conn): boolean {
    return this.confirmPacket(conn) !== null;
  }

  /**
   * __nf_conntrack_confirm for the packet that carries `conn`: inserts it and returns it; on
   * a clash (another packet of the flow was confirmed first, or NAT picked a reply tuple a
   * confirmed conn has) resolves it as the kernel does (kernel.ts) and returns the conn the
   * packet goes on with — the winner when they merge — or null: the packet is dropped
   * (insert_failed, drop). A full table that early drop cannot make room for also fails.
   */
  confirmPacket(conn: Conn): Conn | null {
    if (conn.status & IPS_CONFIRMED) return conn;
    if (conn.status & IPS_DYING) return null;
    const h0 = this.hashOf(conn.original);
    const h1 = this.hashOf(conn.reply);
    const o = conn.original;
    const r = conn.reply;
    let clash = this.findNode(h0, o.src | 0, o.dst | 0, o.proto, o.sport, o.dport);
    if (clash === NONE) clash = this.findNode(h1, r.src | 0, r.dst | 0, r.proto, r.sport, r.dport);
    if (clash !== NONE) return this.resolveClash(conn, clash, h1);
    if (this.store.listed >= this.max && !this.earlyDrop(h0)) {
      this.stats.insert_failed++;
      this.stats.drop++;
      return null;
    }
    const st = this.store;
    const s = st.take(conn, SLOT_LISTED);
    st.link(2 * s, h0, o.src | 0, o.dst | 0, o.proto, o.sport, o.dport);
    st.link(2 * s + 1, h1, r.src | 0, r.dst | 0, r.proto, r.sport, r.dport);
    conn.status |= IPS_CONFIRMED;
    st.list(s);
    if (conn.status & IPS_SRC_NAT_DONE) st.addSource(s);
    return conn;
  }

  /**
   * nf_ct_resolve_clash: `loser` lost the race to `found`'s conn. Only protocols with
   * allow_clash (UDP) are ever resolved; TCP's loser is always dropped.
   */
  private resolveClash(loser: Conn, found: number, replyHash: number): Conn | null {
    const winner = this.store.conns[found >> 1]!;
    const kept = this.resolveClashOutcome(loser, winner, replyHash);
    if (this.onClash !== null) {
      winner.escaped = true;
      loser.escaped = true;
      this.onClash(winner, loser, kept === null ? "dropped" : kept === loser ? "reply-only" : "merged");
    }
    return kept;
  }

  private resolveClashOutcome(loser: Conn, winner: Conn, replyHash: number): Conn | null {
    loser.status |= IPS_DYING;
    const allowClash = loser.original.proto === IPPROTO_UDP;
    if (this.clash !== "reply-only") {
      // Before 5.7 every clash counts in insert_failed, resolved or not.
      this.stats.insert_failed++;
      const natDone = (winner.status & IPS_NAT_DONE_MASK) !== 0;
      const merge = this.clash === "unnated-only" ? !natDone && (loser.status & IPS_NAT_DONE_MASK) === 0 : !natDone || connsMatch(winner, loser);
      if (allowClash && !(winner.status & IPS_DYING) && merge) return this.merge(winner, loser);
      this.stats.drop++;
      return null;
    }
    if (allowClash && !(winner.status & IPS_DYING)) {
      // __nf_ct_resolve_clash: the same flow and the same NAT: the packet joins the winner.
      if (!(winner.status & IPS_NAT_DONE_MASK) || connsMatch(winner, loser)) {
        this.stats.clash_resolve++;
        return this.merge(winner, loser);
      }
      // nf_ct_resolve_clash_harder: a reply tuple no one has is inserted in the reply
      // direction only; the original direction keeps finding the winner.
      const r = loser.reply;
      const replyNode = this.findNode(replyHash, r.src | 0, r.dst | 0, r.proto, r.sport, r.dport);
      if (replyNode === NONE) {
        loser.status = (loser.status & ~IPS_DYING) | IPS_FIXED_TIMEOUT | IPS_NAT_CLASH | IPS_CONFIRMED;
        loser.timeoutAt = this.clock.now() + NAT_CLASH_TIMEOUT_NS;
        const s = this.store.take(loser, SLOT_REPLY_ONLY);
        this.store.link(2 * s + 1, replyHash, r.src | 0, r.dst | 0, r.proto, r.sport, r.dport);
        this.stats.clash_resolve++;
        return loser;
      }
      const replyTaken = this.store.conns[replyNode >> 1]!;
      if (!(replyTaken.status & IPS_NAT_DONE_MASK) || connsMatch(replyTaken, loser)) {
        this.stats.clash_resolve++;
        return this.merge(replyTaken, loser);
      }
    }
    this.stats.drop++;
    this.stats.insert_failed++;
    return null;
  }

  /** nf_ct_acct_merge + nf_ct_set: the loser's packet is counted on, and goes on with, the winner. */
  private merge(winner: Conn, loser: Conn): Conn {
    const w = winner.num;
    const l = loser.num;
    w[2] += l[2]!;
    w[3] += l[3]!;
    w[4] += l[4]!;
    w[5] += l[5]!;
    return winner;
  }

  /**
   * nf_conntrack_alter_reply: replace the reply tuple of a conn that is not confirmed yet
   * (IPVS does this with `vs/conntrack=1` so the real server's replies match the entry).
   * Confirmed conns are left alone, as ip_vs_update_conntrack leaves them.
   */
  alterReply(conn: Conn, reply: Tuple): boolean {
    if (conn.status & IPS_CONFIRMED) return false;
    conn.reply = reply;
    return true;
  }

  /**
   * Removes a conn from the table (nf_ct_delete / nf_ct_kill). Unconfirmed conns are just
   * marked dying. No packet holding it, it may be reused.
   */
  kill(conn: Conn): void {
    this.remove(conn);
    if (conn.refs === 0) this.pool.release(conn);
  }

  /** kill without letting the conn be reused (the caller goes on with it). */
  private remove(conn: Conn): void {
    conn.status |= IPS_DYING;
    const st = this.store;
    const s = conn.slot;
    if (s === NONE || st.conns[s] !== conn) return;
    if (st.kind[s] === SLOT_REPLY_ONLY) {
      st.unlink(2 * s + 1);
      st.release(s);
      return;
    }
    st.unlink(2 * s);
    st.unlink(2 * s + 1);
    st.unlist(s);
    st.removeSource(s);
    st.release(s);
  }

  /**
   * early_drop: evict every non-ASSURED entry of the first of EVICTION_RANGE buckets
   * (from the new conn's) that has one; expired entries met on the way are reaped.
   */
  private earlyDrop(hash: number): boolean {
    const now = this.clock.now();
    const st = this.store;
    let b = hash & st.mask;
    for (let i = 0; i < EVICTION_RANGE; i++, b = (b + 1) & st.mask) {
      let drops = 0;
      let n = st.buckets[b]!;
      while (n !== NONE) {
        const c = st.conns[n >> 1]!;
        if (c.timeoutAt <= now || !(c.status & IPS_ASSURED)) {
          if (c.timeoutAt > now) drops++;
          this.kill(c);
          n = st.buckets[b]!; // the chain changed: walk it again
        } else {
          n = st.nextNode(n);
        }
      }
      if (drops > 0) {
        this.stats.early_drop += drops;
        return true;
      }
      if (st.listed < this.max) return true; // expired entries made room
    }
    return false;
  }

  /** Removes every expired entry; returns how many. */
  gc(): number {
    const now = this.clock.now();
    const st = this.store;
    let n = 0;
    for (let s = st.listHead; s !== NONE; ) {
      const after = st.listAfter(s);
      const c = st.conns[s]!;
      if (c.timeoutAt <= now) {
        this.kill(c);
        n++;
      }
      s = after;
    }
    return n;
  }

  /** Confirmed entries in insertion order, expired ones included. */
  private listed(): Conn[] {
    const st = this.store;
    const out: Conn[] = new Array<Conn>(st.listed);
    let i = 0;
    for (let s = st.listHead; s !== NONE; s = st.listAfter(s)) out[i++] = st.conns[s]!;
    return out;
  }

  /** nf_nat_setup_info for an unconfirmed conn; `range` null = the null binding. See nat.ts. */
  setupNat(conn: Conn, manip: NatManip, range: NatRange | null, flags: NatFlags = {}): void {
    natSetup(this.natEnv, conn, manip, range, natFlagBits(flags));
  }

  /** The same as `setupNat` with the flags as NAT_F_* bits (nat.ts), so a per-packet caller builds no flags object. */
  setupNatBits(conn: Conn, manip: NatManip, range: NatRange | null, flags: number): void {
    natSetup(this.natEnv, conn, manip, range, flags);
  }

  /** The same with the range as numbers too (0 = not given, as in NatRange): MASQUERADE's address, picked per packet. */
  setupNatTo(conn: Conn, manip: NatManip, minIp: number, maxIp: number, minPort: number, maxPort: number, flags: number): void {
    setupNatRange(this.natEnv, conn, manip === "src", minIp, maxIp, minPort, maxPort, flags);
  }

  isNatDone(conn: Conn, manip: NatManip): boolean {
    return natDone(conn, manip);
  }

  /**
   * nf_nat_packet: rewrite the packet per the conn's binding. See manip.ts. False = drop.
   * `csumPartial`: the skb is CHECKSUM_PARTIAL (its checksum is left to the device), which
   * matters only on a kernel with the zero UDP checksum bug (kernel.ts).
   */
  manipPacket(conn: Conn, dir: Dir, manip: NatManip, buf: Uint8Array, ipOff: number, len: number, csumPartial = false): boolean {
    return applyNat(conn, dir, manip, buf, ipOff, len, csumPartial && this.natZeroUdpChecksumBug);
  }

  /** Live confirmed entries in insertion order (expired ones are reaped first). */
  entries(): Conn[] {
    this.gc();
    const out = this.listed();
    for (const c of out) c.escaped = true;
    return out;
  }

  /** `conntrack -L`: one line per live entry, in insertion order. */
  list(): string[] {
    const now = this.clock.now();
    this.gc();
    return this.listed().map((c) => formatConn(c, now, this.acct));
  }

  /** `conntrack -D` with filters; returns how many entries were deleted. */
  delete(filter: ConntrackFilter): number {
    let n = 0;
    this.gc();
    for (const c of this.listed()) {
      const o = c.original;
      const r = c.reply;
      if (filter.proto !== undefined && o.proto !== filter.proto) continue;
      if (filter.origSrc !== undefined && o.src !== filter.origSrc >>> 0) continue;
      if (filter.origDst !== undefined && o.dst !== filter.origDst >>> 0) continue;
      if (filter.replySrc !== undefined && r.src !== filter.replySrc >>> 0) continue;
      if (filter.replyDst !== undefined && r.dst !== filter.replyDst >>> 0) continue;
      if (filter.origDport !== undefined && o.dport !== filter.origDport) continue;
      if (filter.replySport !== undefined && r.sport !== filter.replySport) continue;
      this.kill(c);
      n++;
    }
    return n;
  }

  /** `conntrack -F`: removes every entry. */
  flush(): number {
    const n = this.store.listed;
    for (const c of this.listed()) this.kill(c);
    return n;
  }
}

/** nf_ct_match: the same tuples both ways (the same flow, mangled the same way). */
function connsMatch(a: Conn, b: Conn): boolean {
  return tupleEquals(a.original, b.original) && tupleEquals(a.reply, b.reply);
}
