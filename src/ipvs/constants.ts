/**
 * IPVS numbers: protocols, flags, TCP and SCTP states with their names and timeouts.
 *
 * Flags mirror include/uapi/linux/ip_vs.h (IP_VS_SVC_F_*, IP_VS_CONN_F_*, IP_VS_DEST_F_*);
 * TCP states and timeouts come from net/netfilter/ipvs/ip_vs_proto_tcp.c (`tcp_timeouts`,
 * `tcp_state_name_table`, `tcp_state_active_table`), UDP from ip_vs_proto_udp.c, SCTP from
 * ip_vs_proto_sctp.c (`sctp_timeouts`, `sctp_state_name_table`; the states are
 * include/net/ip_vs.h `enum ip_vs_sctp_states`).
 */
import { NS_PER_SEC } from "../base/clock.js";

// The protocol numbers live in wire; re-exported for IPVS's users.
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "../wire/ipv4.js";
export { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP };

/** Service flags (IP_VS_SVC_F_*). */
export const SVC_F_PERSISTENT = 0x0001;
export const SVC_F_ONEPACKET = 0x0004;
/** Scheduler flags 1..3: for sh and mh, flag-1 is "fallback" and flag-2 is "port". */
export const SVC_F_SCHED1 = 0x0008;
export const SVC_F_SCHED2 = 0x0010;
export const SVC_F_SCHED3 = 0x0020;
export const SVC_F_SCHED_MASK = SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3;

/** Forwarding methods, as kept in a destination's conn_flags (IP_VS_CONN_F_FWD_MASK). */
export type ForwardMethod = "masq" | "local" | "tunnel" | "route";

/** Connection flags used here (IP_VS_CONN_F_*). */
export const CONN_F_TEMPLATE = 0x1000;
export const CONN_F_INACTIVE = 0x0040;
export const CONN_F_NOOUTPUT = 0x0004;

/** Destination flags (IP_VS_DEST_F_*). */
export const DEST_F_AVAILABLE = 0x0001;
export const DEST_F_OVERLOAD = 0x0002;

/** TCP states, in the kernel's order (IP_VS_TCP_S_*). */
export const TCP_S_NONE = 0;
export const TCP_S_ESTABLISHED = 1;
export const TCP_S_SYN_SENT = 2;
export const TCP_S_SYN_RECV = 3;
export const TCP_S_FIN_WAIT = 4;
export const TCP_S_TIME_WAIT = 5;
export const TCP_S_CLOSE = 6;
export const TCP_S_CLOSE_WAIT = 7;
export const TCP_S_LAST_ACK = 8;
export const TCP_S_LISTEN = 9;
export const TCP_S_SYNACK = 10;
export const TCP_S_LAST = 11;

export const TCP_STATE_NAMES: readonly string[] = [
  "NONE",
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECV",
  "FIN_WAIT",
  "TIME_WAIT",
  "CLOSE",
  "CLOSE_WAIT",
  "LAST_ACK",
  "LISTEN",
  "SYNACK",
];

/** tcp_state_active_table: the states counted in a destination's ActiveConn. */
export const TCP_STATE_ACTIVE: readonly boolean[] = [false, true, true, true, false, false, false, false, false, false, true];

/** tcp_timeouts, in seconds, indexed by state (the kernel's defaults). */
export const TCP_TIMEOUTS_SEC: readonly number[] = [2, 15 * 60, 2 * 60, 60, 2 * 60, 2 * 60, 10, 60, 30, 2 * 60, 120];

/** SCTP states, in the kernel's order (IP_VS_SCTP_S_*, "as seen in real server"). */
export const SCTP_S_NONE = 0;
/** The first INIT from the client, waiting for the server's INIT ACK. */
export const SCTP_S_INIT1 = 1;
/** A further INIT from the client (a retransmission), still waiting for INIT ACK. */
export const SCTP_S_INIT = 2;
/** The server sent INIT ACK; waiting for the client's COOKIE ECHO. */
export const SCTP_S_COOKIE_SENT = 3;
/** The client sent COOKIE ECHO; waiting for the server's COOKIE ACK. */
export const SCTP_S_COOKIE_REPLIED = 4;
/** The server sent an INIT (a connection set up from the server's side); waiting for INIT ACK. */
export const SCTP_S_COOKIE_WAIT = 5;
export const SCTP_S_COOKIE = 6;
export const SCTP_S_COOKIE_ECHOED = 7;
export const SCTP_S_ESTABLISHED = 8;
export const SCTP_S_SHUTDOWN_SENT = 9;
export const SCTP_S_SHUTDOWN_RECEIVED = 10;
export const SCTP_S_SHUTDOWN_ACK_SENT = 11;
/** An INIT answered with ABORT. */
export const SCTP_S_REJECTED = 12;
export const SCTP_S_CLOSED = 13;
export const SCTP_S_LAST = 14;

/** sctp_state_name_table: what /proc/net/ip_vs_conn (and so `ipvsadm -Lnc`) prints. */
export const SCTP_STATE_NAMES: readonly string[] = [
  "NONE",
  "INIT1",
  "INIT",
  "C-SENT",
  "C-REPLIED",
  "C-WAIT",
  "COOKIE",
  "C-ECHOED",
  "ESTABLISHED",
  "S-SENT",
  "S-RECEIVED",
  "S-ACK-SENT",
  "REJECTED",
  "CLOSED",
];

/** IP_VS_SCTP_MAX_RTO: (60 + 1) s, the timeout of every handshake and shutdown state. */
const SCTP_MAX_RTO_SEC = 60 + 1;

/**
 * sctp_timeouts, in seconds, indexed by state: 2 s for NONE, (0 + 3 + 1) s for INIT1 and
 * REJECTED ("shorter timeout for dropped INIT packets" / "if INIT is rejected with ABORT"),
 * 15 min for ESTABLISHED, IP_VS_SCTP_MAX_RTO for the rest.
 */
export const SCTP_TIMEOUTS_SEC: readonly number[] = [
  2,
  0 + 3 + 1,
  SCTP_MAX_RTO_SEC,
  SCTP_MAX_RTO_SEC,
  SCTP_MAX_RTO_SEC,
  SCTP_MAX_RTO_SEC,
  SCTP_MAX_RTO_SEC,
  SCTP_MAX_RTO_SEC,
  15 * 60,
  SCTP_MAX_RTO_SEC,
  SCTP_MAX_RTO_SEC,
  SCTP_MAX_RTO_SEC,
  0 + 3 + 1,
  SCTP_MAX_RTO_SEC,
];

/** udp_timeouts[IP_VS_UDP_S_NORMAL]: 5 minutes. */
export const UDP_TIMEOUT_SEC = 5 * 60;
/** ip_vs_conn_new's provisional timeout before the first state transition. */
export const NEW_CONN_TIMEOUT_SEC = 3;
/** ip_vs_conn_expire re-arms a template that still controls connections for this long. */
export const TEMPLATE_RETRY_SEC = 60;

/** Template states (IP_VS_CTPL_S_*): ASSURED once a controlled conn is established. */
export const CTPL_S_NONE = 0;
export const CTPL_S_ASSURED = 1;

/** Default size of the connection hash table that `ipvsadm -Ln` reports (ip_vs_conn_tab_bits = 12). */
export const CONN_TAB_SIZE = 4096;

export const SEC = NS_PER_SEC;

/** ip_vs_proto_name. */
export function protoName(proto: number): string {
  switch (proto) {
    case 0:
      return "IP";
    case IPPROTO_UDP:
      return "UDP";
    case IPPROTO_TCP:
      return "TCP";
    case IPPROTO_SCTP:
      return "SCTP";
    case IPPROTO_ICMP:
      return "ICMP";
    default:
      return `IP_${proto}`;
  }
}
