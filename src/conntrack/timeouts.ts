/**
 * Conntrack timeouts in seconds, with the Linux defaults:
 * TCP from nf_conntrack_proto_tcp.c `tcp_timeouts`, UDP from nf_conntrack_proto_udp.c
 * `udp_timeouts` (UNREPLIED 30 s, REPLIED 120 s = nf_conntrack_udp_timeout_stream), ICMP
 * from nf_conntrack_proto_icmp.c (30 s), generic from nf_conntrack_proto_generic.c (600 s),
 * SCTP from nf_conntrack_proto_sctp.c `sctp_timeouts` (Linux ≥ 5.x: ESTABLISHED 210 s, the
 * `net.netfilter.nf_conntrack_sctp_timeout_*` sysctls of a 6.18 kernel read the same).
 */
import { NS_PER_SEC } from "../base/clock.js";
import {
  TCP_CT_CLOSE,
  TCP_CT_CLOSE_WAIT,
  TCP_CT_ESTABLISHED,
  TCP_CT_FIN_WAIT,
  TCP_CT_LAST_ACK,
  TCP_CT_NONE,
  TCP_CT_RETRANS,
  TCP_CT_SYN_RECV,
  TCP_CT_SYN_SENT,
  TCP_CT_SYN_SENT2,
  TCP_CT_TIME_WAIT,
  TCP_CT_UNACK,
  TCP_CT_TIMEOUT_MAX,
} from "./tcp-state.js";
import {
  SCTP_CT_CLOSED, SCTP_CT_COOKIE_ECHOED, SCTP_CT_COOKIE_WAIT, SCTP_CT_ESTABLISHED, SCTP_CT_HEARTBEAT_SENT, SCTP_CT_MAX,
  SCTP_CT_NONE, SCTP_CT_SHUTDOWN_ACK_SENT, SCTP_CT_SHUTDOWN_RECD, SCTP_CT_SHUTDOWN_SENT,
} from "./sctp-track.js";

export interface Timeouts {
  tcpSynSent: number;
  tcpSynRecv: number;
  tcpEstablished: number;
  tcpFinWait: number;
  tcpCloseWait: number;
  tcpLastAck: number;
  tcpTimeWait: number;
  tcpClose: number;
  tcpSynSent2: number;
  /** nf_conntrack_tcp_timeout_max_retrans: after 3 retransmissions without an answer. */
  tcpMaxRetrans: number;
  /** nf_conntrack_tcp_timeout_unacknowledged: while data is in flight unacknowledged. */
  tcpUnacknowledged: number;
  /** nf_conntrack_udp_timeout: until traffic is seen both ways for more than 2 s. */
  udp: number;
  /** nf_conntrack_udp_timeout_stream: once a UDP flow is a stream (ASSURED). */
  udpStream: number;
  /** nf_conntrack_icmp_timeout. */
  icmp: number;
  /** nf_conntrack_generic_timeout. */
  generic: number;
  /** nf_conntrack_sctp_timeout_*. */
  sctpClosed: number;
  sctpCookieWait: number;
  sctpCookieEchoed: number;
  sctpEstablished: number;
  sctpShutdownSent: number;
  sctpShutdownRecd: number;
  sctpShutdownAckSent: number;
  sctpHeartbeatSent: number;
}

export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  tcpSynSent: 120,
  tcpSynRecv: 60,
  tcpEstablished: 432000,
  tcpFinWait: 120,
  tcpCloseWait: 60,
  tcpLastAck: 30,
  tcpTimeWait: 120,
  tcpClose: 10,
  tcpSynSent2: 120,
  tcpMaxRetrans: 300,
  tcpUnacknowledged: 300,
  udp: 30,
  udpStream: 120,
  icmp: 30,
  generic: 600,
  sctpClosed: 10,
  sctpCookieWait: 3,
  sctpCookieEchoed: 3,
  sctpEstablished: 210,
  sctpShutdownSent: 3,
  sctpShutdownRecd: 3,
  sctpShutdownAckSent: 3,
  sctpHeartbeatSent: 30,
});

/** Timeouts converted to virtual nanoseconds, TCP ones indexed by TCP_CONNTRACK_* state. */
export interface TimeoutsNs {
  tcp: Float64Array;
  udp: number;
  udpStream: number;
  icmp: number;
  generic: number;
  /** Indexed by SCTP_CT_* state; slot 0 (NONE) holds the CLOSED timeout, as the kernel's does. */
  sctp: Float64Array;
}

export function timeoutsNs(partial: Partial<Timeouts> | undefined): TimeoutsNs {
  const t: Timeouts = { ...DEFAULT_TIMEOUTS, ...partial };
  const tcp = new Float64Array(TCP_CT_TIMEOUT_MAX);
  // Slot 0 (NONE) holds the "new" timeout like the kernel's tn->timeouts[0].
  tcp[TCP_CT_NONE] = t.tcpSynSent * NS_PER_SEC;
  tcp[TCP_CT_SYN_SENT] = t.tcpSynSent * NS_PER_SEC;
  tcp[TCP_CT_SYN_RECV] = t.tcpSynRecv * NS_PER_SEC;
  tcp[TCP_CT_ESTABLISHED] = t.tcpEstablished * NS_PER_SEC;
  tcp[TCP_CT_FIN_WAIT] = t.tcpFinWait * NS_PER_SEC;
  tcp[TCP_CT_CLOSE_WAIT] = t.tcpCloseWait * NS_PER_SEC;
  tcp[TCP_CT_LAST_ACK] = t.tcpLastAck * NS_PER_SEC;
  tcp[TCP_CT_TIME_WAIT] = t.tcpTimeWait * NS_PER_SEC;
  tcp[TCP_CT_CLOSE] = t.tcpClose * NS_PER_SEC;
  tcp[TCP_CT_SYN_SENT2] = t.tcpSynSent2 * NS_PER_SEC;
  tcp[TCP_CT_RETRANS] = t.tcpMaxRetrans * NS_PER_SEC;
  tcp[TCP_CT_UNACK] = t.tcpUnacknowledged * NS_PER_SEC;
  const sctp = new Float64Array(SCTP_CT_MAX);
  sctp[SCTP_CT_NONE] = t.sctpClosed * NS_PER_SEC;
  sctp[SCTP_CT_CLOSED] = t.sctpClosed * NS_PER_SEC;
  sctp[SCTP_CT_COOKIE_WAIT] = t.sctpCookieWait * NS_PER_SEC;
  sctp[SCTP_CT_COOKIE_ECHOED] = t.sctpCookieEchoed * NS_PER_SEC;
  sctp[SCTP_CT_ESTABLISHED] = t.sctpEstablished * NS_PER_SEC;
  sctp[SCTP_CT_SHUTDOWN_SENT] = t.sctpShutdownSent * NS_PER_SEC;
  sctp[SCTP_CT_SHUTDOWN_RECD] = t.sctpShutdownRecd * NS_PER_SEC;
  sctp[SCTP_CT_SHUTDOWN_ACK_SENT] = t.sctpShutdownAckSent * NS_PER_SEC;
  sctp[SCTP_CT_HEARTBEAT_SENT] = t.sctpHeartbeatSent * NS_PER_SEC;
  return {
    tcp,
    sctp,
    udp: t.udp * NS_PER_SEC,
    udpStream: t.udpStream * NS_PER_SEC,
    icmp: t.icmp * NS_PER_SEC,
    generic: t.generic * NS_PER_SEC,
  };
}
