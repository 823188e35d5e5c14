/**
 * The IPVS table of one network namespace: virtual services, real servers, connections and
 * the packet entry points. Configuration follows net/netfilter/ipvs/ip_vs_ctl.c
 * (ip_vs_add_service, ip_vs_edit_service, ip_vs_del_service, ip_vs_add_dest,
 * ip_vs_edit_dest, ip_vs_del_dest, ip_vs_flush); errors carry ipvsadm's messages
 * (libipvs ipvs_strerror).
 */
import type { Clock } from "../base/clock.js";
import { PodwireError } from "../base/errors.js";
import { formatIpv4 } from "../base/ipv4-int.js";
import type { ForwardMethod } from "./constants.js";
import { DEST_F_AVAILABLE, DEST_F_OVERLOAD, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, SEC, SVC_F_PERSISTENT, SVC_F_SCHED_MASK, protoName } from "./constants.js";
import type { IpvsConn } from "./conn.js";
import { ConnTable } from "./conn-table.js";
import type { IpvsCore } from "./core.js";
import { ipvsInbound } from "./inbound.js";
import { IpvsDest, IpvsService, IpvsStats, destKey } from "./model.js";
import { ipvsOutbound } from "./outbound.js";
import { ServiceHash } from "./service-hash.js";
import { IpvsResult } from "./result.js";
import type { ScheduleOutcome } from "./schedule.js";
import { createScheduler } from "./sched/registry.js";
import type { SchedulerOptions } from "./sched/scheduler.js";
import type { IpvsSysctl, ReuseBehaviour } from "./sysctl.js";
import { DEFAULT_SYSCTL } from "./sysctl.js";

/** A virtual service's protocol: a name ipvsadm takes (`-t`, `-u`, `--sctp-service`) or an IPPROTO_* number. */
export type ServiceProtocol = "tcp" | "udp" | "sctp" | number;

/** A virtual service's identity: protocol + address + port, or a firewall mark. */
export type ServiceKey = { protocol: ServiceProtocol; addr: number; port: number } | { fwmark: number };

export interface ServiceOptions {
  /** Scheduler name (default "wlc", ipvsadm's default). */
  scheduler?: string;
  /** Persistence timeout in seconds (`-p`); absent/0/false = not persistent. */
  persistent?: number | false;
  /** Persistence netmask (`-M`), default 255.255.255.255. */
  netmask?: number;
  /** Scheduler flags (`-b`) as SVC_F_SCHED1..3 bits: sh/mh "fallback" = SCHED1, "port" = SCHED2. */
  schedFlags?: number;
}

export interface DestOptions {
  addr: number;
  port: number;
  /** Default 1. */
  weight?: number;
  /** Default "masq" (ipvsadm itself defaults to "route", -g). */
  fwd?: ForwardMethod;
  uThreshold?: number;
  lThreshold?: number;
}

export interface IpvsTableOptions {
  clock: Clock;
  sysctl?: Partial<IpvsSysctl>;
  /** Port-reuse logic of ip_vs_in; default "modern" (Linux >= 5.16). */
  reuseBehaviour?: ReuseBehaviour;
  /** Decrement TTL on transmit (default true, as Linux >= 4.11 does). */
  decrementTtl?: boolean;
  /** Override of ip_vs_conn_uses_old_conntrack (see IpvsCore.usesOldConntrack). */
  usesOldConntrack?: (conn: IpvsConn) => boolean;
  scheduler?: SchedulerOptions;
}

function protoNumber(p: ServiceProtocol): number {
  return p === "tcp" ? IPPROTO_TCP : p === "udp" ? IPPROTO_UDP : p === "sctp" ? IPPROTO_SCTP : p;
}

export function describeServiceKey(key: ServiceKey): string {
  if ("fwmark" in key) return `FWM ${key.fwmark}`;
  const proto = protoNumber(key.protocol);
  const name = proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP ? protoName(proto) : `proto ${proto}`;
  return `${name} ${formatIpv4(key.addr)}:${key.port}`;
}

export class IpvsTable implements IpvsCore {
  readonly conns: ConnTable;
  readonly sysctl: IpvsSysctl;
  readonly reuseBehaviour: ReuseBehaviour;
  readonly decrementTtl: boolean;
  readonly totalStats = new IpvsStats();
  readonly outcome: ScheduleOutcome = { ignored: 0 };
  private readonly clock: Clock;
  private readonly schedOpts: SchedulerOptions;
  private readonly oldCt: ((conn: IpvsConn) => boolean) | undefined;
  private readonly byAddr = new ServiceHash<IpvsService>();
  private readonly byMark = new Map<number, IpvsService>();
  /** Services in creation order. */
  private readonly list = new Set<IpvsService>();
  /** Number of port-zero services (the kernel's nullsvc_counter). */
  private nullServices = 0;
  private readonly inResult = new IpvsResult();
  private readonly outResult = new IpvsResult();

  constructor(opts: IpvsTableOptions) {
    this.clock = opts.clock;
    this.conns = new ConnTable(opts.clock);
    this.sysctl = { ...DEFAULT_SYSCTL, ...opts.sysctl };
    this.reuseBehaviour = opts.reuseBehaviour ?? "modern";
    this.decrementTtl = opts.decrementTtl ?? true;
    this.oldCt = opts.usesOldConntrack;
    this.schedOpts = opts.scheduler ?? {};
  }

  // ---- packet path -------------------------------------------------------------------

  /**
   * ip_vs_in for the IPv4 packet at `buf[ipOff, ipOff+len)` arriving for local delivery
   * (LOCAL_IN) or sent by a local process (LOCAL_OUT); `mark` is skb->mark for fwmark
   * services. A "forwarded" packet has been DNATed in place to the real server. The
   * returned object is reused by the next call.
   */
  inbound(buf: Uint8Array, ipOff: number, len: number, mark = 0): IpvsResult {
    return ipvsInbound(this, buf, ipOff, len, mark, this.inResult);
  }

  /**
   * ip_vs_out for a packet leaving a real server (FORWARD / LOCAL_OUT): a reply of a
   * masquerading connection has its source rewritten back to the virtual service.
   */
  outbound(buf: Uint8Array, ipOff: number, len: number): IpvsResult {
    return ipvsOutbound(this, buf, ipOff, len, this.outResult);
  }

  /** Fires connection timers due on the virtual clock. */
  runTimers(): void {
    this.conns.runTimers(this.clock.now());
  }

  usesOldConntrack(conn: IpvsConn): boolean {
    if (this.oldCt) return this.oldCt(conn);
    return this.reuseBehaviour === "legacy" ? this.sysctl.conntrack !== 0 : false;
  }

  findService(mark: number, proto: number, addr: number, port: number): IpvsService | null {
    if (mark !== 0) {
      const s = this.byMark.get(mark >>> 0);
      if (s !== undefined) return s;
    }
    const s = this.byAddr.get(proto, addr, port);
    if (s !== undefined) return s;
    if (this.nullServices > 0) return this.byAddr.get(proto, addr, 0) ?? null;
    return null;
  }

  // ---- services ----------------------------------------------------------------------

  services(): IpvsService[] {
    return [...this.list];
  }

  getService(protocol: ServiceProtocol, addr: number, port: number): IpvsService | null {
    return this.byAddr.get(protoNumber(protocol), addr, port) ?? null;
  }

  getServiceByMark(mark: number): IpvsService | null {
    return this.byMark.get(mark >>> 0) ?? null;
  }

  private lookup(key: ServiceKey): IpvsService | null {
    return "fwmark" in key ? this.getServiceByMark(key.fwmark) : this.getService(key.protocol, key.addr, key.port);
  }

  private require(key: ServiceKey, message = "No such service"): IpvsService {
    const svc = this.lookup(key);
    if (svc === null) throw new PodwireError("E_IPVS_NO_SERVICE", `${message}: ${describeServiceKey(key)}`);
    return svc;
  }

  addService(key: ServiceKey, opts: ServiceOptions = {}): IpvsService {
    if (this.lookup(key) !== null) {
      throw new PodwireError("E_IPVS_SERVICE_EXISTS", `Service already exists: ${describeServiceKey(key)}`, undefined, "edit it (-E) or delete it (-D) first");
    }
    const schedName = opts.scheduler ?? "wlc";
    const fwmark = "fwmark" in key ? key.fwmark >>> 0 : 0;
    const svc =
      "fwmark" in key
        ? new IpvsService(0, 0, 0, fwmark, schedName, 0, 0, 0xffffffff)
        : new IpvsService(protoNumber(key.protocol), key.addr >>> 0, key.port, 0, schedName, 0, 0, 0xffffffff);
    this.applyServiceOptions(svc, opts);
    const sched = createScheduler(schedName, svc, this.schedOpts);
    if (sched === null) throw new PodwireError("E_IPVS_SCHEDULER", `Scheduler not found: ${schedName}`, undefined, "use rr, wrr, lc, wlc, sed, nq, sh, dh or mh");
    svc.scheduler = sched;
    if (fwmark !== 0) this.byMark.set(fwmark, svc);
    else {
      this.byAddr.set(svc.protocol, svc.addr, svc.port, svc);
      if (svc.port === 0) this.nullServices++;
    }
    this.list.add(svc);
    return svc;
  }

  private applyServiceOptions(svc: IpvsService, opts: ServiceOptions): void {
    let flags = svc.flags;
    if (opts.persistent !== undefined) {
      if (opts.persistent === false || opts.persistent === 0) flags &= ~SVC_F_PERSISTENT;
      else {
        if (!Number.isInteger(opts.persistent) || opts.persistent < 0) {
          throw new PodwireError("E_IPVS_RANGE", `persistence timeout must be a whole number of seconds: ${opts.persistent}`);
        }
        flags |= SVC_F_PERSISTENT;
        svc.timeoutSec = opts.persistent;
      }
    }
    if (opts.netmask !== undefined) svc.netmask = opts.netmask >>> 0;
    if (opts.schedFlags !== undefined) flags = (flags & ~SVC_F_SCHED_MASK) | (opts.schedFlags & SVC_F_SCHED_MASK);
    svc.flags = flags;
  }

  /**
   * ip_vs_edit_service: changes scheduler, persistence, netmask or scheduler flags; options
   * left out keep their value. A new scheduler starts from scratch (init_service).
   */
  editService(key: ServiceKey, opts: ServiceOptions): IpvsService {
    const svc = this.require(key);
    const schedName = opts.scheduler ?? svc.schedName;
    let sched = svc.scheduler;
    if (schedName !== svc.schedName) {
      const s = createScheduler(schedName, svc, this.schedOpts);
      if (s === null) throw new PodwireError("E_IPVS_SCHEDULER", `Scheduler not found: ${schedName}`);
      sched = s;
    }
    this.applyServiceOptions(svc, opts);
    svc.schedName = schedName;
    svc.scheduler = sched;
    return svc;
  }

  /** ip_vs_del_service: its real servers go to the trash; their connections stay until they expire. */
  deleteService(key: ServiceKey): void {
    const svc = this.require(key);
    for (const d of [...svc.dests]) this.unlinkDest(svc, d);
    if (svc.fwmark !== 0) this.byMark.delete(svc.fwmark);
    else {
      this.byAddr.delete(svc.protocol, svc.addr, svc.port);
      if (svc.port === 0) this.nullServices--;
    }
    this.list.delete(svc);
  }

  /** ip_vs_flush: deletes every virtual service. */
  flush(): void {
    for (const svc of [...this.list]) {
      this.deleteService(svc.fwmark !== 0 ? { fwmark: svc.fwmark } : { protocol: svc.protocol, addr: svc.addr, port: svc.port });
    }
  }

  // ---- real servers ------------------------------------------------------------------

  private checkDestOptions(d: DestOptions): void {
    const w = d.weight ?? 1;
    if (!Number.isInteger(w) || w < 0 || w > 2147483647) {
      throw new PodwireError("E_IPVS_RANGE", `server weight must be 0..2147483647: ${w}`);
    }
    const u = d.uThreshold ?? 0;
    const l = d.lThreshold ?? 0;
    if (l > u) throw new PodwireError("E_IPVS_RANGE", `lower threshold ${l} is higher than upper threshold ${u}`);
  }

  /** ip_vs_add_dest: a new real server, or one revived from the trash with its counters. */
  addDest(key: ServiceKey, d: DestOptions): IpvsDest {
    const svc = this.require(key, "Service not defined");
    this.checkDestOptions(d);
    const k = destKey(d.addr, d.port);
    if (svc.destIndex.has(k)) {
      throw new PodwireError("E_IPVS_DEST_EXISTS", `Destination already exists: ${formatIpv4(d.addr)}:${d.port} in ${describeServiceKey(key)}`);
    }
    let dest = svc.trash.get(k);
    if (dest !== undefined) {
      svc.trash.delete(k);
      dest.flags |= DEST_F_AVAILABLE;
    } else {
      dest = new IpvsDest(svc, d.addr >>> 0, d.port, d.weight ?? 1, d.fwd ?? "masq", 0, 0);
    }
    this.updateDest(dest, d, true);
    svc.dests.unshift(dest);
    svc.destIndex.set(k, dest);
    svc.scheduler.addDest(svc, dest);
    return dest;
  }

  /** __ip_vs_update_dest: weight (last_weight keeps the latest non-zero one), method, thresholds. */
  private updateDest(dest: IpvsDest, d: DestOptions, add: boolean): void {
    const w = d.weight ?? (add ? 1 : dest.weight);
    if (add || w !== 0) dest.lastWeight = w;
    dest.weight = w;
    dest.fwd = d.fwd ?? (add ? "masq" : dest.fwd);
    const u = d.uThreshold ?? (add ? 0 : dest.uThreshold);
    if (u === 0 || u > dest.uThreshold) dest.flags &= ~DEST_F_OVERLOAD;
    dest.uThreshold = u;
    dest.lThreshold = d.lThreshold ?? (add ? 0 : dest.lThreshold);
    dest.flags |= DEST_F_AVAILABLE;
  }

  /** ip_vs_edit_dest, e.g. weight 0 for graceful termination. Options left out keep their value. */
  editDest(key: ServiceKey, d: DestOptions): IpvsDest {
    const svc = this.require(key, "Service not defined");
    const dest = svc.destIndex.get(destKey(d.addr, d.port));
    if (dest === undefined) throw new PodwireError("E_IPVS_NO_DEST", `No such destination: ${formatIpv4(d.addr)}:${d.port} in ${describeServiceKey(key)}`);
    this.checkDestOptions({ ...d, uThreshold: d.uThreshold ?? dest.uThreshold, lThreshold: d.lThreshold ?? dest.lThreshold, weight: d.weight ?? dest.weight });
    this.updateDest(dest, d, false);
    svc.scheduler.updDest(svc, dest);
    return dest;
  }

  /**
   * ip_vs_del_dest: the server stops being AVAILABLE; connections still bound to it keep
   * it in the trash (packets to them are dropped; with expire_nodest_conn they are expired
   * on their next packet, and on "modern" kernels flushed right away).
   */
  deleteDest(key: ServiceKey, addr: number, port: number): void {
    const svc = this.require(key, "Service not defined");
    const dest = svc.destIndex.get(destKey(addr, port));
    if (dest === undefined) throw new PodwireError("E_IPVS_NO_DEST", `No such destination: ${formatIpv4(addr)}:${port} in ${describeServiceKey(key)}`);
    this.unlinkDest(svc, dest);
  }

  private unlinkDest(svc: IpvsService, dest: IpvsDest): void {
    const i = svc.dests.indexOf(dest);
    svc.dests.splice(i, 1);
    const k = destKey(dest.addr, dest.port);
    svc.destIndex.delete(k);
    dest.flags &= ~DEST_F_AVAILABLE;
    svc.scheduler.delDest(svc, dest, i);
    if (dest.refs() > 0) {
      svc.trash.set(k, dest);
      if (this.sysctl.expireNodestConn !== 0 && this.reuseBehaviour === "modern") this.flushNodestConns();
    }
  }

  /** ip_vs_expire_nodest_conn_flush: expire connections whose server is gone, then their idle templates. */
  private flushNodestConns(): void {
    for (const c of this.conns.list()) {
      const dest = c.dest;
      // Expired earlier in this walk (a template whose last connection went).
      if (c.dead) continue;
      if (dest === null || dest.available || c.nControl > 0) continue;
      const ct = c.control;
      this.conns.expire(c);
      if (ct !== null && ct.nControl === 0) this.conns.expire(ct);
    }
  }

  // ---- connections -------------------------------------------------------------------

  /** Live connections and templates, oldest first (after firing due timers). */
  connections(): IpvsConn[] {
    this.runTimers();
    return this.conns.list();
  }

  /** ipvsadm --set tcp tcpfin udp: the ESTABLISHED, FIN_WAIT and UDP timeouts in seconds (0 keeps one). */
  setTimeouts(tcp: number, tcpfin: number, udp: number): void {
    if (tcp > 0) this.conns.tcpTimeouts[1] = tcp * SEC;
    if (tcpfin > 0) this.conns.tcpTimeouts[4] = tcpfin * SEC;
    if (udp > 0) this.conns.udpTimeout = udp * SEC;
  }
}
