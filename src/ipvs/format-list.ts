/**
 * `ipvsadm -Ln` and `ipvsadm -Lnc` text (ipvsadm.c list_all / print_title /
 * print_service_entry / list_conn / print_conn; the connection lines come from
 * /proc/net/ip_vs_conn, ip_vs_conn.c ip_vs_conn_seq_show). Column widths are ipvsadm's
 * printf formats, trailing spaces included.
 */
import { formatIpv4 } from "../base/ipv4-int.js";
import { CONN_F_TEMPLATE, CONN_TAB_SIZE, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, SCTP_STATE_NAMES, SVC_F_PERSISTENT, SVC_F_SCHED_MASK, TCP_STATE_NAMES, protoName } from "./constants.js";
import type { ForwardMethod } from "./constants.js";
import type { IpvsConn } from "./conn.js";
import { schedFlagNames, sortedServices } from "./format-save.js";
import { compareDests, glibcMergeSort } from "./list-order.js";
import type { IpvsService } from "./model.js";

function padEnd(s: string, w: number): string {
  return s.length >= w ? s : s + " ".repeat(w - s.length);
}

/** fwd_name. */
export function forwardName(fwd: ForwardMethod): string {
  return fwd === "masq" ? "Masq" : fwd === "local" ? "Local" : fwd === "tunnel" ? "Tunnel" : "Route";
}

export interface ListOptions {
  /** The connection table size in the banner (default 4096). */
  size?: number;
}

/** print_service_entry's protocol column: TCP, UDP, SCTP, ICMP. */
function listProto(p: number): string {
  return p === IPPROTO_TCP ? "TCP" : p === IPPROTO_UDP ? "UDP" : p === IPPROTO_SCTP ? "SCTP" : "ICMP";
}

export function formatIpvsadmList(services: Iterable<IpvsService>, opts: ListOptions = {}): string {
  let out = `IP Virtual Server version 1.2.1 (size=${opts.size ?? CONN_TAB_SIZE})\n`;
  out += "Prot LocalAddress:Port Scheduler Flags\n";
  out += "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";
  for (const svc of sortedServices(services)) {
    let name: string;
    if (svc.fwmark !== 0) name = `FWM  ${svc.fwmark}`;
    else name = `${listProto(svc.protocol)}  ${formatIpv4(svc.addr)}:${svc.port}`.slice(0, 33);
    out += `${name} ${svc.schedName}`;
    if (svc.flags & SVC_F_SCHED_MASK) out += ` (${schedFlagNames(svc).join(",")})`;
    if (svc.flags & SVC_F_PERSISTENT) {
      out += ` persistent ${svc.timeoutSec}`;
      if (svc.netmask !== 0xffffffff) out += ` mask ${formatIpv4(svc.netmask)}`;
    }
    out += "\n";
    for (const d of glibcMergeSort(svc.dests, compareDests)) {
      const dname = `${formatIpv4(d.addr)}:${d.port}`.slice(0, 28);
      out += `  -> ${padEnd(dname, 28)} ${padEnd(forwardName(d.fwd), 7)} ${padEnd(String(d.weight), 6)} ${padEnd(String(d.activeConns), 10)} ${padEnd(String(d.inactConns), 10)}\n`;
    }
  }
  return out;
}

/** ip_vs_state_name. */
export function connStateName(c: IpvsConn): string {
  if (c.flags & CONN_F_TEMPLATE) return c.state & 1 ? "ASSURED" : "NONE";
  if (c.protocol === IPPROTO_TCP) return TCP_STATE_NAMES[c.state] ?? "ERR!";
  if (c.protocol === IPPROTO_SCTP) return SCTP_STATE_NAMES[c.state] ?? "ERR!";
  if (c.protocol === IPPROTO_UDP) return "UDP";
  return c.protocol === 0 ? "NONE" : "ERR!";
}

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** `ipvsadm -Lnc`: every connection and template with the seconds left on its timer. */
export function formatIpvsadmConnections(conns: Iterable<IpvsConn>, nowNs: number): string {
  let out = "IPVS connection entries\n";
  out += "pro expire state       source             virtual            destination\n";
  for (const c of conns) {
    const left = Math.max(0, Math.floor((c.expires - nowNs) / 1e9));
    const expire = `${two(Math.floor(left / 60))}:${two(left % 60)}`;
    // A firewall-mark template's "virtual address" is the mark.
    const vname = `${formatIpv4(c.vaddr)}:${c.vport}`;
    out += `${padEnd(protoName(c.protocol), 3)} ${padEnd(expire, 6)} ${padEnd(connStateName(c), 11)} ${padEnd(`${formatIpv4(c.caddr)}:${c.cport}`, 18)} ${padEnd(vname, 18)} ${formatIpv4(c.daddr)}:${c.dport}\n`;
  }
  return out;
}
