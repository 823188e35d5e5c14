/**
 * Virtual services and real servers (struct ip_vs_service / struct ip_vs_dest,
 * include/net/ip_vs.h), with the counters `ipvsadm -Ln` and `--stats` show.
 *
 * A service keeps its real servers in the kernel's list order: ip_vs_ctl.c
 * __ip_vs_update_dest links a new destination with list_add_rcu, i.e. at the head, so the
 * newest destination comes first. Schedulers walk that order (rr, wrr, sh, dh, mh).
 */
import type { ForwardMethod } from "./constants.js";
import { DEST_F_AVAILABLE } from "./constants.js";
import type { Scheduler } from "./sched/scheduler.js";

/** Packet and byte counters (struct ip_vs_kstats: conns, inpkts, outpkts, inbytes, outbytes). */
export interface IpvsCounters {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
}

/** Counters on their own (the table's totals). */
export class IpvsStats implements IpvsCounters {
  conns = 0;
  inpkts = 0;
  outpkts = 0;
  inbytes = 0;
  outbytes = 0;

  reset(): void {
    this.conns = this.inpkts = this.outpkts = this.inbytes = this.outbytes = 0;
  }
}

/** A frozen copy of an object's counters. */
function snapshot(c: IpvsCounters): Readonly<IpvsCounters> {
  return Object.freeze({ conns: c.conns, inpkts: c.inpkts, outpkts: c.outpkts, inbytes: c.inbytes, outbytes: c.outbytes });
}

/**
 * A real server of one virtual service. Its counters are fields of the object itself, as
 * struct ip_vs_stats is embedded in struct ip_vs_dest, so counting a packet touches no
 * second object; `stats` reads them.
 */
export class IpvsDest implements IpvsCounters {
  /** Connections scheduled to this server, ever (ip_vs_conn_stats); ActiveConn/InActConn are below. */
  conns = 0;
  inpkts = 0;
  outpkts = 0;
  inbytes = 0;
  outbytes = 0;
  /** Latest weight; 0 means quiescent (no new connections, existing ones continue). */
  weight: number;
  /** The latest non-zero weight (dest->last_weight), which mh builds its table from. */
  lastWeight: number;
  fwd: ForwardMethod;
  /** Upper connection threshold (-x); 0 = none. */
  uThreshold: number;
  /** Lower connection threshold (-y); 0 = none. */
  lThreshold: number;
  /** DEST_F_AVAILABLE while linked to its service; DEST_F_OVERLOAD above the threshold. */
  flags = DEST_F_AVAILABLE;
  activeConns = 0;
  inactConns = 0;
  /** Persistence templates pointing at this server. */
  persistConns = 0;

  /** The counters now (a frozen copy: count through the fields themselves). */
  get stats(): Readonly<IpvsCounters> {
    return snapshot(this);
  }

  constructor(
    readonly service: IpvsService,
    readonly addr: number,
    readonly port: number,
    weight: number,
    fwd: ForwardMethod,
    uThreshold: number,
    lThreshold: number,
  ) {
    this.weight = weight;
    this.lastWeight = weight;
    this.fwd = fwd;
    this.uThreshold = uThreshold;
    this.lThreshold = lThreshold;
  }

  /** ip_vs_dest_totalconns: what the thresholds compare against. */
  totalConns(): number {
    return this.activeConns + this.inactConns;
  }

  /** All connections and templates still bound to this server. */
  refs(): number {
    return this.activeConns + this.inactConns + this.persistConns;
  }

  get available(): boolean {
    return (this.flags & DEST_F_AVAILABLE) !== 0;
  }
}

/**
 * A virtual service: (protocol, address, port), or a firewall mark when `fwmark` is
 * non-zero. Its counters are embedded like a real server's (see IpvsDest).
 */
export class IpvsService implements IpvsCounters {
  /** Connections scheduled to this service, ever (ip_vs_conn_stats). */
  conns = 0;
  inpkts = 0;
  outpkts = 0;
  inbytes = 0;
  outbytes = 0;
  /** Real servers in kernel list order (newest first). */
  readonly dests: IpvsDest[] = [];
  /** Real servers by `destKey(addr, port)`. */
  readonly destIndex = new Map<number, IpvsDest>();
  /** Deleted real servers still referenced by connections (the kernel's dest trash). */
  readonly trash = new Map<number, IpvsDest>();

  /** The counters now (a frozen copy: count through the fields themselves). */
  get stats(): Readonly<IpvsCounters> {
    return snapshot(this);
  }

  schedName: string;
  /** IP_VS_SVC_F_* bits: persistence and scheduler flags. */
  flags: number;
  /** Persistence timeout in seconds (meaningful with SVC_F_PERSISTENT). */
  timeoutSec: number;
  /** Persistence granularity as an IPv4 netmask (default 255.255.255.255). */
  netmask: number;
  /** Set by the table when the service is created or its scheduler changes. */
  scheduler!: Scheduler;

  constructor(
    /** IPPROTO_TCP / IPPROTO_UDP / IPPROTO_SCTP; 0 for a firewall-mark service. */
    readonly protocol: number,
    readonly addr: number,
    readonly port: number,
    readonly fwmark: number,
    schedName: string,
    flags: number,
    timeoutSec: number,
    netmask: number,
  ) {
    this.schedName = schedName;
    this.flags = flags;
    this.timeoutSec = timeoutSec;
    this.netmask = netmask;
  }
}

/** Map key of a real server within its service. */
export function destKey(addr: number, port: number): number {
  return (addr >>> 0) * 65536 + port;
}
