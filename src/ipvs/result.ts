/** What `IpvsTable.inbound` / `outbound` decided for one packet. The table reuses one object per direction. */
import type { IpvsConn } from "./conn.js";

/**
 * - "not-virtual": not IPVS traffic (or IPVS lets it continue untouched): carry on as usual.
 * - "forwarded": rewritten in place (DNAT inbound / reverse NAT outbound); send it on.
 * - "dropped": IPVS drops it (see `reason`; `icmp` says whether the kernel answers with ICMP).
 * - "no-dest": a virtual service matched but no real server was available (ip_vs_leave):
 *   the kernel sends ICMP port unreachable to the client and drops the packet.
 */
export type IpvsVerdict = "not-virtual" | "forwarded" | "dropped" | "no-dest";

export type IpvsReason =
  | ""
  | "truncated"
  | "fragment"
  /** Not a protocol IPVS carries (TCP, UDP, SCTP). */
  | "not-tcp-udp"
  | "no-service"
  | "not-syn"
  /** An SCTP packet without a connection whose first chunk is not an INIT (sctp_conn_schedule). */
  | "not-init"
  | "no-conn"
  | "ftp-data"
  | "port-zero-not-persistent"
  | "no-dest"
  | "dest-unavailable"
  | "reuse-old-conntrack"
  | "ttl-exceeded"
  | "not-masq"
  | "icmp-unrelated"
  | "icmp-error";

/** ICMP the kernel would send about the packet. */
export type IpvsIcmp = "" | "port-unreachable" | "time-exceeded";

export class IpvsResult {
  verdict: IpvsVerdict = "not-virtual";
  conn: IpvsConn | null = null;
  reason: IpvsReason = "";
  /** The packet created `conn`. */
  newConn = false;
  icmp: IpvsIcmp = "";

  /** Whether the packet belonged to IPVS (anything but "not-virtual"). */
  get isIpvs(): boolean {
    return this.verdict !== "not-virtual";
  }

  /** Alias of `verdict`, for callers that think in kinds. */
  get kind(): IpvsVerdict {
    return this.verdict;
  }

  reset(): this {
    this.verdict = "not-virtual";
    this.conn = null;
    this.reason = "";
    this.newConn = false;
    this.icmp = "";
    return this;
  }

  set(verdict: IpvsVerdict, reason: IpvsReason, conn: IpvsConn | null): this {
    this.verdict = verdict;
    this.reason = reason;
    this.conn = conn;
    return this;
  }
}
