/**
 * `ipvsadm-save -n` (ipvsadm -S -n, ipvsadm.c print_service_entry with FMT_RULE):
 *   -A -t 10.96.0.1:443 -s rr -p 10800
 *   -a -t 10.96.0.1:443 -r 10.244.1.3:6443 -m -w 1
 * An SCTP service is `--sctp-service addr:port` (print_service_entry's FMT_RULE name).
 * Services and real servers sorted as ipvsadm sorts them (list-order.ts). ipvsadm prints
 * neither thresholds (-x/-y) nor anything but -p/-M for persistence; scheduler flags are
 * printed as `-b flag,flag` by ipvsadm >= 1.28.
 */
import { formatIpv4 } from "../base/ipv4-int.js";
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3, SVC_F_SCHED_MASK } from "./constants.js";
import type { ForwardMethod } from "./constants.js";
import { compareDests, compareServices, glibcMergeSort } from "./list-order.js";
import type { IpvsService } from "./model.js";

/** fwd_switch. */
export function forwardSwitch(fwd: ForwardMethod): string {
  return fwd === "masq" ? "-m" : fwd === "tunnel" ? "-i" : "-g";
}

/** print_sched_flags: flag names as ipvsadm spells them for the service's scheduler. */
export function schedFlagNames(svc: IpvsService): string[] {
  const names: string[] = [];
  const f = svc.flags;
  const hashing = svc.schedName === "sh" || svc.schedName === "mh";
  if (f & SVC_F_SCHED1) names.push(hashing ? `${svc.schedName}-fallback` : "flag-1");
  if (f & SVC_F_SCHED2) names.push(hashing ? `${svc.schedName}-port` : "flag-2");
  if (f & SVC_F_SCHED3) names.push("flag-3");
  return names;
}

/** The `-t addr:port` / `-u addr:port` / `--sctp-service addr:port` / `-f mark` part. */
export function serviceArg(svc: IpvsService): string {
  if (svc.fwmark !== 0) return `-f ${svc.fwmark}`;
  const p = svc.protocol;
  return `${p === IPPROTO_TCP ? "-t" : p === IPPROTO_UDP ? "-u" : p === IPPROTO_SCTP ? "--sctp-service" : "-q"} ${formatIpv4(svc.addr)}:${svc.port}`;
}

export function sortedServices(services: Iterable<IpvsService>): IpvsService[] {
  return glibcMergeSort([...services], compareServices);
}

export function formatIpvsadmSave(services: Iterable<IpvsService>): string {
  let out = "";
  for (const svc of sortedServices(services)) {
    const name = serviceArg(svc);
    out += `-A ${name} -s ${svc.schedName}`;
    if (svc.flags & SVC_F_SCHED_MASK) out += ` -b ${schedFlagNames(svc).join(",")}`;
    if (svc.flags & SVC_F_PERSISTENT) {
      out += ` -p ${svc.timeoutSec}`;
      if (svc.netmask !== 0xffffffff) out += ` -M ${formatIpv4(svc.netmask)}`;
    }
    out += "\n";
    for (const d of glibcMergeSort(svc.dests, compareDests)) {
      out += `-a ${name} -r ${formatIpv4(d.addr)}:${d.port} ${forwardSwitch(d.fwd)} -w ${d.weight}\n`;
    }
  }
  return out;
}
