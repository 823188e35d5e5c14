/**
 * The connection table: nf_conntrack_in (lookup, creation, per-protocol tracking),
 * nf_conntrack_confirm, expiry, early drop, NAT setup and the `conntrack -L`/`-D` views,
 * on a virtual clock (net/netfilter/nf_conntrack_core.c).
 *
 * Conns are hashed twice, once per direction, into a power-of-two array of chains
 * (`HashNode`, like the kernel's hlist of nf_conntrack_tuple_hash). A lookup hashes the
 * five tuple fields straight from the packet bytes and compares fields along the chain,
 * so an established flow's packet allocates nothing.
 *
 * Like the kernel, a packet of an unknown flow gets a new *unconfirmed* conn that is not
 * yet in the table: NAT bindings are set up on it, and `confirm` at the last hook
 * (POSTROUTING or INPUT) inserts it. A packet dropped before then leaves no entry.
 */
import type { Clock } from "../base/clock.js";
import { NS_PER_SEC } from "../base/clock.js";
import type { Rng } from "../base/rng.js";
import type { NatRange } from "./nat-range.js";
import type { Dir } from "./conn.js";
import { Conn, HashNode, IPS_ASSURED, IPS_CONFIRMED, IPS_DYING, IPS_EXPECTED, IPS_FIXED_TIMEOUT, IPS_NAT_CLASH, IPS_NAT_DONE_MASK, IPS_SEEN_REPLY, IPS_SRC_NAT_DONE } from "./conn.js";
import { formatConn } from "./format.js";
import { type ClashResolution, DEFAULT_KERNEL, type KernelVersion, clashResolution, natPortRover, natUpdatesZeroUdpChecksum, tcpIgnoresOverlyDelayed } from "./kernel.js";
import { isIcmpError, manipPacket as applyNat } from "./manip.js";
import type { NatEnv, NatFlags, NatManip } from "./nat.js";
import { isNatDone as natDone, setupNat as natSetup } from "./nat.js";
import { SCTP_RES_INVALID, sctpPacket } from "./sctp-track.js";
import { TCP_RES_ACCEPT, TCP_RES_INVALID, TCP_RES_KILL, TCP_RES_REPEAT, tcpPacket } from "./tcp-track.js";
import type { Timeouts, TimeoutsNs } from "./timeouts.js";
import { timeoutsNs } from "./timeouts.js";
import type { Tuple } from "./tuple.js";
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, hash5, icmpInverseType, icmpValidNew, invertTuple, tupleEquals } from "./tuple.js";

export type CtInfo = "NEW" | "ESTABLISHED" | "RELATED" | "INVALID" | "UNTRACKED";

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
  private buckets: (HashNode | null)[];
  /** The bucket count the table grows to (nf_conntrack_buckets); it starts small, see `link`. */
  private readonly targetBuckets: number;
  /** Tuples linked into the buckets (two per conn). */
  private linked = 0;
  private mask: number;
  private readonly seed: number;
  /** Confirmed conns in insertion order. */
  private readonly all = new Set<Conn>();
  /** Clash losers inserted in the reply direction only (5.7+): not listed, expire in 1 s. */
  private readonly replyOnly = new Set<Conn>();
  /** SNAT bindings by original (proto, src, sport): nf_nat_bysource. */
  private readonly bySource = new Map<number, Conn[]>();
  private nextId = 1;
  private readonly verdict: CtVerdict = { conn: null, dir: 0, ctinfo: "INVALID", drop: false };
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
    this.targetBuckets = n;
    const start = Math.min(n, 256);
    this.buckets = new Array<HashNode | null>(start).fill(null);
    this.mask = start - 1;
    this.seed = this.rng.nextU32();
    const secret = this.rng.nextU32();
    this.natEnv = {
      tupleTaken: (t, ignore) => {
        const node = this.findNode(this.hashOf(t), t.src, t.dst, t.proto, t.sport, t.dport);
        return node !== null && node.conn !== ignore;
      },
      sameSource: (t) => this.bySource.get(sourceKey(t)),
      rng: this.rng,
      secret,
      rover: natPortRover(this.kernel) ? new Map<number, number>() : null,
    };
  }

  /** Confirmed entries. */
  get count(): number {
    return this.all.size;
  }

  /**
   * nf_conntrack_in at PREROUTING/OUTPUT for the IPv4 packet of `len` bytes at
   * `buf[ipOff..]`. `notrack` = the raw table's NOTRACK/CT --notrack marked it.
   *
   * The returned object is reused: the next call overwrites it.
   */
  inspect(buf: Uint8Array, ipOff: number, len: number, notrack = false): CtVerdict {
    const v = this.verdict;
    v.conn = null;
    v.dir = 0;
    v.drop = false;
    v.ctinfo = "INVALID";
    if (notrack) {
      v.ctinfo = "UNTRACKED";
      return v;
    }
    if (len < 20 || buf[ipOff]! >> 4 !== 4) return this.invalid();
    const ihl = (buf[ipOff]! & 0x0f) * 4;
    const total = (buf[ipOff + 2]! << 8) | buf[ipOff + 3]!;
    if (ihl < 20 || total < ihl || total > len) return this.invalid();
    // Non-first fragments carry no transport header (the kernel reassembles before conntrack).
    if (((buf[ipOff + 6]! & 0x1f) | buf[ipOff + 7]!) !== 0) return this.invalid();
    const proto = buf[ipOff + 9]!;
    const src = get32(buf, ipOff + 12);
    const dst = get32(buf, ipOff + 16);
    const l4off = ipOff + ihl;
    const l4len = total - ihl;
    let sport = 0;
    let dport = 0;
    if (proto === IPPROTO_TCP) {
      if (l4len < 8) return this.invalid();
      sport = (buf[l4off]! << 8) | buf[l4off + 1]!;
      dport = (buf[l4off + 2]! << 8) | buf[l4off + 3]!;
    } else if (proto === IPPROTO_UDP) {
      // udp_error: short or inconsistent length.
      if (l4len < 8) return this.invalid();
      const ulen = (buf[l4off + 4]! << 8) | buf[l4off + 5]!;
      if (ulen > l4len || ulen < 8) return this.invalid();
      sport = (buf[l4off]! << 8) | buf[l4off + 1]!;
      dport = (buf[l4off + 2]! << 8) | buf[l4off + 3]!;
    } else if (proto === IPPROTO_SCTP) {
      // sctp_error: shorter than the common header.
      if (l4len < 12) return this.invalid();
      sport = (buf[l4off]! << 8) | buf[l4off + 1]!;
      dport = (buf[l4off + 2]! << 8) | buf[l4off + 3]!;
    } else if (proto === IPPROTO_ICMP) {
      if (l4len < 8) return this.invalid();
      const type = buf[l4off]!;
      if (type > 18) return this.invalid(); // NR_ICMP_TYPES
      if (isIcmpError(type)) return this.icmpError(buf, l4off, l4len, dst);
      sport = (buf[l4off + 4]! << 8) | buf[l4off + 5]!;
      dport = type;
    }

    for (let attempt = 0; attempt < 2; attempt++) {
      const hash = hash5(src, dst, proto, sport, dport, this.seed);
      const node = this.findNode(hash, src, dst, proto, sport, dport);
      let conn: Conn;
      let dir: Dir;
      if (node !== null) {
        conn = node.conn;
        dir = node.dir;
        this.stats.found++;
      } else {
        // init_conntrack: refuse tuples with no inverse, make room when full.
        if (proto === IPPROTO_ICMP && icmpInverseType(dport) < 0) return this.invalid();
        if (this.all.size >= this.max && !this.earlyDrop(hash)) {
          this.stats.drop++;
          v.drop = true;
          return v;
        }
        const orig: Tuple = { src, dst, proto, sport, dport };
        conn = new Conn(this.nextId++, orig, invertTuple(orig));
        dir = 0;
        this.stats.new++;
      }
      const now = this.clock.now();
      let refreshed = true;
      if (proto === IPPROTO_TCP) {
        const r = tcpPacket(conn, dir, buf, l4off, l4len, now, this.t.tcp, this.tcpLoose, this.tcpBeLiberal, this.tcpStrictWindow);
        if (r === TCP_RES_INVALID) return this.invalid();
        if (r === TCP_RES_REPEAT) {
          this.kill(conn);
          continue;
        }
        if (r === TCP_RES_KILL) this.kill(conn);
        refreshed = r === TCP_RES_ACCEPT || r === TCP_RES_KILL;
      } else if (proto === IPPROTO_UDP) {
        this.udpPacket(conn, now);
      } else if (proto === IPPROTO_SCTP) {
        // SCTP_RES_IGNORE (a retransmitted INIT into CLOSED) accepts without refreshing the timeout.
        if (sctpPacket(conn, dir, buf, l4off, l4len, now, this.t.sctp, !conn.confirmed) === SCTP_RES_INVALID) return this.invalid();
      } else if (proto === IPPROTO_ICMP) {
        if (!icmpValidNew(conn.original.dport)) return this.invalid();
        conn.timeoutAt = now + this.t.icmp;
      } else {
        conn.timeoutAt = now + this.t.generic;
      }
      if (refreshed) conn.account(dir, total);
      const status = conn.status;
      if (dir === 1) {
        v.ctinfo = "ESTABLISHED";
        conn.status = status | IPS_SEEN_REPLY;
      } else if (status & IPS_SEEN_REPLY) {
        v.ctinfo = "ESTABLISHED";
      } else if (status & IPS_EXPECTED) {
        v.ctinfo = "RELATED";
      } else {
        v.ctinfo = "NEW";
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
    const inner = l4off + 8;
    if (l4len < 8 + 20 || buf[inner]! >> 4 !== 4) return this.invalid();
    const ihl = (buf[inner]! & 0x0f) * 4;
    if (ihl < 20 || l4len < 8 + ihl) return this.invalid();
    const proto = buf[inner + 9]!;
    const qsrc = get32(buf, inner + 12);
    const qdst = get32(buf, inner + 16);
    const il4 = inner + ihl;
    const il4len = l4len - 8 - ihl;
    let sport = 0;
    let dport = 0;
    if (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP) {
      if (il4len < 8) return this.invalid();
      // Inverted: the reply to the quoted packet.
      sport = (buf[il4 + 2]! << 8) | buf[il4 + 3]!;
      dport = (buf[il4]! << 8) | buf[il4 + 1]!;
    } else if (proto === IPPROTO_ICMP) {
      if (il4len < 8) return this.invalid();
      const inv = icmpInverseType(buf[il4]!);
      if (inv < 0) return this.invalid();
      sport = (buf[il4 + 4]! << 8) | buf[il4 + 5]!;
      dport = inv;
    }
    const node = this.findNode(hash5(qdst, qsrc, proto, sport, dport, this.seed), qdst, qsrc, proto, sport, dport);
    if (node === null) return this.invalid();
    if (node.conn.tuple(node.dir).dst !== outerDst) return this.invalid();
    this.stats.found++;
    const v = this.verdict;
    v.conn = node.conn;
    v.dir = node.dir;
    v.ctinfo = "RELATED";
    return v;
  }

  private invalid(): CtVerdict {
    this.stats.invalid++;
    const v = this.verdict;
    v.conn = null;
    v.dir = 0;
    v.ctinfo = "INVALID";
    return v;
  }

  private hashOf(t: Tuple): number {
    return hash5(t.src, t.dst, t.proto, t.sport, t.dport, this.seed);
  }

  /** The chain node for these fields, removing an expired entry found on the way (nf_ct_gc_expired). */
  private findNode(hash: number, src: number, dst: number, proto: number, sport: number, dport: number): HashNode | null {
    let n: HashNode | null = this.buckets[hash & this.mask] ?? null;
    while (n !== null) {
      this.stats.searched++;
      if (n.hash === hash && n.src === src && n.dst === dst && n.ports === ((sport << 16) | dport) && n.proto === proto) {
        {
          if (n.conn.timeoutAt <= this.clock.now()) {
            this.kill(n.conn);
            return null;
          }
          return n;
        }
      }
      n = n.next;
    }
    return null;
  }

  /** The conn holding tuple `t` in either direction, or null. */
  lookup(t: Tuple): { conn: Conn; dir: Dir } | null {
    const n = this.findNode(this.hashOf(t), t.src, t.dst, t.proto, t.sport, t.dport);
    return n ? { conn: n.conn, dir: n.dir } : null;
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
    const clash = this.findNode(h0, o.src, o.dst, o.proto, o.sport, o.dport) ?? this.findNode(h1, r.src, r.dst, r.proto, r.sport, r.dport);
    if (clash !== null) return this.resolveClash(conn, clash, h1);
    if (this.all.size >= this.max && !this.earlyDrop(h0)) {
      this.stats.insert_failed++;
      this.stats.drop++;
      return null;
    }
    this.link(conn.nodes[0], h0);
    this.link(conn.nodes[1], h1);
    conn.status |= IPS_CONFIRMED;
    this.all.add(conn);
    if (conn.status & IPS_SRC_NAT_DONE) {
      const k = sourceKey(conn.original);
      const list = this.bySource.get(k);
      if (list) list.push(conn);
      else this.bySource.set(k, [conn]);
    }
    return conn;
  }

  /**
   * nf_ct_resolve_clash: `loser` lost the race to `found`'s conn. Only protocols with
   * allow_clash (UDP) are ever resolved; TCP's loser is always dropped.
   */
  private resolveClash(loser: Conn, found: HashNode, replyHash: number): Conn | null {
    const kept = this.resolveClashOutcome(loser, found, replyHash);
    this.onClash?.(found.conn, loser, kept === null ? "dropped" : kept === loser ? "reply-only" : "merged");
    return kept;
  }

  private resolveClashOutcome(loser: Conn, found: HashNode, replyHash: number): Conn | null {
    const winner = found.conn;
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
      const replyTaken = this.findNode(replyHash, r.src, r.dst, r.proto, r.sport, r.dport);
      if (replyTaken === null) {
        loser.status = (loser.status & ~IPS_DYING) | IPS_FIXED_TIMEOUT | IPS_NAT_CLASH | IPS_CONFIRMED;
        loser.timeoutAt = this.clock.now() + NAT_CLASH_TIMEOUT_NS;
        this.link(loser.nodes[1], replyHash);
        this.replyOnly.add(loser);
        this.stats.clash_resolve++;
        return loser;
      }
      if (!(replyTaken.conn.status & IPS_NAT_DONE_MASK) || connsMatch(replyTaken.conn, loser)) {
        this.stats.clash_resolve++;
        return this.merge(replyTaken.conn, loser);
      }
    }
    this.stats.drop++;
    this.stats.insert_failed++;
    return null;
  }

  /** nf_ct_acct_merge + nf_ct_set: the loser's packet is counted on, and goes on with, the winner. */
  private merge(winner: Conn, loser: Conn): Conn {
    const [p0, p1] = loser.packets;
    const [b0, b1] = loser.bytes;
    winner.num[2] += p0;
    winner.num[3] += p1;
    winner.num[4] += b0;
    winner.num[5] += b1;
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

  private link(node: HashNode, hash: number): void {
    const t = node.dir === 0 ? node.conn.original : node.conn.reply;
    node.hash = hash;
    node.src = t.src;
    node.dst = t.dst;
    node.ports = (t.sport << 16) | t.dport;
    node.proto = t.proto;
    if (++this.linked > this.buckets.length && this.buckets.length < this.targetBuckets) this.grow();
    const b = hash & this.mask;
    node.next = this.buckets[b] ?? null;
    this.buckets[b] = node;
  }

  /** Doubles the buckets and relinks every tuple (amortised O(1) per insert). */
  private grow(): void {
    const old = this.buckets;
    const size = old.length * 2;
    this.buckets = new Array<HashNode | null>(size).fill(null);
    this.mask = size - 1;
    for (let head of old) {
      while (head !== null && head !== undefined) {
        const next: HashNode | null = head.next;
        const b = head.hash & this.mask;
        head.next = this.buckets[b] ?? null;
        this.buckets[b] = head;
        head = next;
      }
    }
  }

  private unlink(node: HashNode): void {
    const b = node.hash & this.mask;
    let prev: HashNode | null = null;
    let n: HashNode | null = this.buckets[b] ?? null;
    while (n !== null && n !== node) {
      prev = n;
      n = n.next;
    }
    if (n === null) return;
    if (prev === null) this.buckets[b] = node.next;
    else prev.next = node.next;
    node.next = null;
    this.linked--;
  }

  /** Removes a conn from the table (nf_ct_delete / nf_ct_kill). Unconfirmed conns are just marked dying. */
  kill(conn: Conn): void {
    conn.status |= IPS_DYING;
    if (this.replyOnly.delete(conn)) {
      this.unlink(conn.nodes[1]);
      return;
    }
    if (!this.all.delete(conn)) return;
    this.unlink(conn.nodes[0]);
    this.unlink(conn.nodes[1]);
    if (conn.status & IPS_SRC_NAT_DONE) {
      const k = sourceKey(conn.original);
      const list = this.bySource.get(k);
      if (list) {
        const i = list.indexOf(conn);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.bySource.delete(k);
      }
    }
  }

  /**
   * early_drop: evict every non-ASSURED entry of the first of EVICTION_RANGE buckets
   * (from the new conn's) that has one; expired entries met on the way are reaped.
   */
  private earlyDrop(hash: number): boolean {
    const now = this.clock.now();
    let b = hash & this.mask;
    for (let i = 0; i < EVICTION_RANGE; i++, b = (b + 1) & this.mask) {
      let drops = 0;
      let n: HashNode | null = this.buckets[b] ?? null;
      while (n !== null) {
        const c = n.conn;
        if (c.timeoutAt <= now || !(c.status & IPS_ASSURED)) {
          if (c.timeoutAt > now) drops++;
          this.kill(c);
          n = this.buckets[b] ?? null; // the chain changed: walk it again
        } else {
          n = n.next;
        }
      }
      if (drops > 0) {
        this.stats.early_drop += drops;
        return true;
      }
      if (this.all.size < this.max) return true; // expired entries made room
    }
    return false;
  }

  /** Removes every expired entry; returns how many. */
  gc(): number {
    const now = this.clock.now();
    let n = 0;
    for (const c of this.all) {
      if (c.timeoutAt <= now) {
        this.kill(c);
        n++;
      }
    }
    return n;
  }

  /** nf_nat_setup_info for an unconfirmed conn; `range` null = the null binding. See nat.ts. */
  setupNat(conn: Conn, manip: NatManip, range: NatRange | null, flags: NatFlags = {}): void {
    natSetup(this.natEnv, conn, manip, range, flags);
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
    return [...this.all];
  }

  /** `conntrack -L`: one line per live entry, in insertion order. */
  list(): string[] {
    const now = this.clock.now();
    return this.entries().map((c) => formatConn(c, now, this.acct));
  }

  /** `conntrack -D` with filters; returns how many entries were deleted. */
  delete(filter: ConntrackFilter): number {
    let n = 0;
    for (const c of this.entries()) {
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
    const n = this.all.size;
    for (const c of [...this.all]) this.kill(c);
    return n;
  }
}

function get32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** hash_by_src key: protocol, source address and source port (or ICMP id). */
function sourceKey(t: Tuple): number {
  return hash5(t.src, 0, t.proto, t.sport, 0, 0x5eed);
}

/** nf_ct_match: the same tuples both ways (the same flow, mangled the same way). */
function connsMatch(a: Conn, b: Conn): boolean {
  return tupleEquals(a.original, b.original) && tupleEquals(a.reply, b.reply);
}
