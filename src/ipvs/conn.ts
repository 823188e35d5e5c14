/**
 * One IPVS connection or persistence template (struct ip_vs_conn, include/net/ip_vs.h).
 * A connection is found from the client side by (proto, caddr, cport, vaddr, vport) and
 * from the real server's replies by (proto, daddr, dport, caddr, cport). A template
 * (CONN_F_TEMPLATE) records which real server a client network was sent to; it has
 * cport 0 and controls the connections created through it.
 */
import type { IpvsDest, IpvsService } from "./model.js";

export class IpvsConn {
  /** Protocol state (TCP_S_* for TCP, SCTP_S_* for SCTP, 0 for UDP); CTPL_S_* for a template. */
  state = 0;
  /** CONN_F_* bits. */
  flags: number;
  /** Idle timeout in ns, chosen by the state. */
  timeout = 0;
  /** Virtual time (ns) at which the timer fires. */
  expires = 0;
  /** The template this connection was created through. */
  control: IpvsConn | null = null;
  /** Connections this template controls. */
  nControl = 0;
  /** Packets seen from the client side. */
  inPkts = 0;
  /** Unlinked: expired or flushed. */
  dead = false;
  /** A template that failed ip_vs_check_template: no longer found, waits for its timer. */
  invalid = false;
  /** Whether a timer entry for this conn is in the table's queue. */
  queued = false;
  /** Neighbours in the table's creation-order list of live connections. */
  prevLive: IpvsConn | null = null;
  nextLive: IpvsConn | null = null;

  constructor(
    readonly protocol: number,
    readonly caddr: number,
    readonly cport: number,
    readonly vaddr: number,
    readonly vport: number,
    readonly daddr: number,
    readonly dport: number,
    flags: number,
    public dest: IpvsDest | null,
    readonly service: IpvsService | null,
    /** The firewall mark the first packet carried (cp->fwmark). */
    readonly fwmark: number,
  ) {
    this.flags = flags;
  }
}
