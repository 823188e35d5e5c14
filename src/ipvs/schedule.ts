/**
 * Creating a connection for the first packet of a flow (net/netfilter/ipvs/ip_vs_core.c
 * ip_vs_schedule and ip_vs_sched_persist, ip_vs_conn.c ip_vs_check_template).
 *
 * Persistence: a template <proto, caddr & netmask, 0, vaddr, vport> -> <daddr, dport>
 * remembers the real server chosen for a client network; while it is valid, new
 * connections from that network skip the scheduler. Each use restarts its timer with the
 * service's persistence timeout, and it cannot expire while it still controls
 * connections. A firewall-mark service keys templates by <IPPROTO_IP, net, 0, mark, 0>.
 */
import { CONN_F_TEMPLATE, SEC, SVC_F_PERSISTENT } from "./constants.js";
import type { ConnTable } from "./conn-table.js";
import type { IpvsConn } from "./conn.js";
import type { IpvsCounters, IpvsDest, IpvsService } from "./model.js";
import type { IpvsSysctl } from "./sysctl.js";

const FTPDATA = 20;
const FTPPORT = 21;

/** Why scheduling produced no connection: 1 = not ours (accept), 0 = no server (ip_vs_leave), -1 = drop. */
export interface ScheduleOutcome {
  ignored: number;
}

/** ip_vs_check_template: is the template's server still usable? Invalidates it if not. */
export function checkTemplate(conns: ConnTable, sysctl: IpvsSysctl, ct: IpvsConn): boolean {
  const dest = ct.dest;
  if (dest === null || !dest.available || (sysctl.expireQuiescentTemplate !== 0 && dest.weight === 0)) {
    conns.invalidateTemplate(ct);
    return false;
  }
  return true;
}

/** ip_vs_conn_stats. */
function countConn(dest: IpvsDest, svc: IpvsService, total: IpvsCounters): void {
  dest.conns++;
  svc.conns++;
  total.conns++;
}

export function ipvsSchedule(
  conns: ConnTable,
  sysctl: IpvsSysctl,
  total: IpvsCounters,
  svc: IpvsService,
  proto: number,
  caddr: number,
  cport: number,
  vaddr: number,
  vport: number,
  mark: number,
  out: ScheduleOutcome,
): IpvsConn | null {
  out.ignored = 1;
  // Active FTP data connections are never scheduled from this side.
  if (cport === FTPDATA) return null;
  if (svc.flags & SVC_F_PERSISTENT) return schedPersist(conns, sysctl, total, svc, proto, caddr, cport, vaddr, vport, mark, out);
  out.ignored = 0;
  // Port-zero services only work with persistence.
  if (svc.fwmark === 0 && vport !== svc.port) return null;
  const dest = svc.scheduler.schedule(svc, caddr, cport, vaddr, vport);
  if (dest === null) return null;
  const cp = conns.create(proto, caddr, cport, vaddr, vport, dest.addr, dest.port !== 0 ? dest.port : vport, 0, dest, svc, mark);
  countConn(dest, svc, total);
  return cp;
}

function schedPersist(
  conns: ConnTable,
  sysctl: IpvsSysctl,
  total: IpvsCounters,
  svc: IpvsService,
  proto: number,
  caddr: number,
  cport: number,
  vaddr: number,
  vport: number,
  mark: number,
  out: ScheduleOutcome,
): IpvsConn | null {
  const snet = (caddr & svc.netmask) >>> 0;
  let tProto = proto;
  let tVaddr = vaddr;
  let tVport = 0;
  if (vport === svc.port) {
    if (svc.port !== FTPPORT) tVport = vport;
  } else if (svc.fwmark !== 0) {
    tProto = 0;
    tVaddr = svc.fwmark >>> 0;
  }
  let ct = conns.templates.find(tProto, snet, 0, tVaddr, tVport);
  let dest: IpvsDest;
  if (ct === null || !checkTemplate(conns, sysctl, ct)) {
    const chosen = svc.scheduler.schedule(svc, caddr, cport, vaddr, vport);
    if (chosen === null) {
      out.ignored = 0;
      return null;
    }
    dest = chosen;
    const tDport = vport === svc.port && svc.port !== FTPPORT ? dest.port : 0;
    ct = conns.create(tProto, snet, 0, tVaddr, tVport, dest.addr, tDport, CONN_F_TEMPLATE, dest, svc, mark);
    ct.timeout = svc.timeoutSec * SEC;
  } else {
    dest = ct.dest!;
  }
  let dport = vport;
  if (dport === svc.port && dest.port !== 0) dport = dest.port;
  const cp = conns.create(proto, caddr, cport, vaddr, vport, dest.addr, dport, 0, dest, svc, mark);
  conns.addControl(cp, ct);
  // ip_vs_conn_put(ct): every use restarts the template's timer (with its current timeout,
  // which ip_vs_conn_expire lowers to 60 s once it had to keep a controlling template).
  conns.put(ct);
  countConn(dest, svc, total);
  return cp;
}

