/** The parts of an IPVS table the packet path reads (implemented by IpvsTable). */
import type { ConnTable } from "./conn-table.js";
import type { IpvsConn } from "./conn.js";
import type { IpvsService, IpvsStats } from "./model.js";
import type { ScheduleOutcome } from "./schedule.js";
import type { IpvsSysctl, ReuseBehaviour } from "./sysctl.js";

export interface IpvsCore {
  readonly conns: ConnTable;
  readonly sysctl: IpvsSysctl;
  readonly reuseBehaviour: ReuseBehaviour;
  /** Whether IPVS decrements the TTL of packets it transmits (decrement_ttl, Linux >= 4.11). */
  readonly decrementTtl: boolean;
  readonly totalStats: IpvsStats;
  /** Scratch for ipvsSchedule's outcome. */
  readonly outcome: ScheduleOutcome;
  /**
   * Whether the packet's conntrack entry is an old, confirmed one when a SYN reuses
   * `conn`'s tuple (ip_vs_conn_uses_old_conntrack). netfilter owns that answer; by default
   * "modern" says no (conntrack replaces a TIME_WAIT/CLOSE entry on a new SYN) and
   * "legacy" says yes whenever sysctl conntrack is on (ip_vs_conn_uses_conntrack).
   */
  usesOldConntrack(conn: IpvsConn): boolean;
  /** ip_vs_service_find: by firewall mark first, then (proto, addr, port), then the port-zero service. */
  findService(mark: number, proto: number, addr: number, port: number): IpvsService | null;
}
