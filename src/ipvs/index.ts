/**
 * IPVS (Linux Virtual Server) in masquerading mode: TCP, UDP and SCTP virtual services and
 * real servers, the kernel's schedulers, the connection table with its TCP and SCTP state
 * machines, persistence templates and timers on the virtual clock, in-place DNAT/SNAT of
 * packets (SCTP's CRC32c recomputed), and the ipvsadm text formats. Imports only base, wire and conntrack.
 */
export * from "./constants.js";
export { IpvsStats, IpvsDest, IpvsService, destKey } from "./model.js";
export { IpvsConn } from "./conn.js";
export { ConnTable } from "./conn-table.js";
export { DIR_INPUT, DIR_OUTPUT, DIR_INPUT_ONLY, nextTcpState, tcpEventIndex } from "./tcp-state.js";
export {
  SCTP_EV_ABORT,
  SCTP_EV_COOKIE_ACK,
  SCTP_EV_COOKIE_ECHO,
  SCTP_EV_DATA,
  SCTP_EV_ERROR,
  SCTP_EV_INIT,
  SCTP_EV_INIT_ACK,
  SCTP_EV_NONE,
  SCTP_EV_SHUTDOWN,
  SCTP_EV_SHUTDOWN_ACK,
  SCTP_EV_SHUTDOWN_COMPLETE,
  SCTP_EVENT_NAMES,
  nextSctpState,
  sctpEvent,
} from "./sctp-state.js";
export type { IpvsSysctl, ReuseBehaviour } from "./sysctl.js";
export { DEFAULT_SYSCTL } from "./sysctl.js";
export { IpvsResult } from "./result.js";
export type { IpvsVerdict, IpvsReason, IpvsIcmp } from "./result.js";
export { IpvsTable, describeServiceKey } from "./table.js";
export type { ServiceKey, ServiceProtocol, ServiceOptions, DestOptions, IpvsTableOptions } from "./table.js";
export type { Scheduler, SchedulerOptions } from "./sched/scheduler.js";
export { createScheduler, isSchedulerName, SCHEDULER_NAMES } from "./sched/registry.js";
export { MH_PRIMES, MH_DEFAULT_KEYS, mhHashKey } from "./sched/mh.js";
export { sipHash, hsiphashU32 } from "./sched/siphash.js";
export type { SipKey } from "./sched/siphash.js";
export { formatIpvsadmSave, forwardSwitch, schedFlagNames } from "./format-save.js";
export { formatIpvsadmList, formatIpvsadmConnections, forwardName, connStateName } from "./format-list.js";
export type { ListOptions } from "./format-list.js";
export { parseIpvsadmRestore } from "./restore-parse.js";
export type { IpvsCommand } from "./restore-parse.js";
export { applyIpvsCommands, ipvsadmRestore } from "./restore-apply.js";
export { compareServices, compareDests, glibcMergeSort } from "./list-order.js";
