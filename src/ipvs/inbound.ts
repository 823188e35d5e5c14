/**
 * The director's receive path (net/netfilter/ipvs/ip_vs_core.c ip_vs_in, LOCAL_IN /
 * LOCAL_OUT hooks) for an IPv4 packet addressed to a virtual service:
 * 1. find the connection by the client tuple;
 * 2. a TCP SYN, or an SCTP packet whose first chunk is an INIT, on an existing tuple may be
 *    rescheduled (conn_reuse_mode, expire_nodest_conn with weight 0; is_new_conn /
 *    is_new_conn_expected: TCP in TIME_WAIT or CLOSE, SCTP in CLOSED);
 * 3. otherwise a new connection needs a service and, for TCP, a SYN without RST
 *    (tcp_conn_schedule; sloppy_tcp lifts that), for SCTP a first chunk that is an INIT
 *    (sctp_conn_schedule; sloppy_sctp lets any chunk but ABORT through) — UDP needs only
 *    the service;
 * 4. packets of a connection whose server was deleted are dropped (and the connection
 *    expired with expire_nodest_conn);
 * 5. count, run the state machine, DNAT in place (ip_vs_nat_xmit), restart the timer.
 * ICMP errors about a connection go through ip_vs_in_icmp. ICMP echo is not an IPVS
 * protocol: pings to a VIP are answered by the host itself.
 */
import { ICMP_HEADER_LEN, icmp } from "../wire/icmp.js";
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HEADER_LEN, ipv4 } from "../wire/ipv4.js";
import { ports } from "../wire/ports.js";
import { SCTP_CHUNK_ABORT, SCTP_CHUNK_HEADER_LEN, SCTP_CHUNK_INIT, SCTP_HEADER_LEN, sctp } from "../wire/sctp.js";
import { TCP_MIN_HEADER_LEN, TCP_RST, TCP_SYN, tcp } from "../wire/tcp.js";
import { UDP_HEADER_LEN } from "../wire/udp.js";
import type { IpvsConn } from "./conn.js";
import { DIR_INPUT } from "./conn-table.js";
import { CONN_F_NOOUTPUT, SCTP_S_CLOSED, TCP_S_CLOSE, TCP_S_FIN_WAIT, TCP_S_TIME_WAIT } from "./constants.js";
import type { IpvsCore } from "./core.js";
import { QUOTE_TRUNCATED, decrementTtl, natIcmp, quotedTransport, rewriteAddrPort } from "./nat.js";
import type { IpvsResult } from "./result.js";
import { ipvsSchedule } from "./schedule.js";
import { sctpEvent as event } from "./sctp-state.js";

/** is_new_conn_expected: may a SYN (an INIT) on this connection's tuple start a new connection? */
function newConnExpected(cp: IpvsConn, mode: number, legacy: boolean): boolean {
  if (legacy && cp.control !== null) return false;
  if (cp.protocol === IPPROTO_SCTP) return cp.state === SCTP_S_CLOSED;
  if (cp.protocol !== IPPROTO_TCP) return false;
  return (
    cp.state === TCP_S_TIME_WAIT ||
    cp.state === TCP_S_CLOSE ||
    ((mode & 2) !== 0 && cp.state === TCP_S_FIN_WAIT && (cp.flags & CONN_F_NOOUTPUT) !== 0)
  );
}

/**
 * The port-reuse check of ip_vs_in for a SYN (or an SCTP INIT: is_new_conn) that found
 * `cp`. Returns the connection to use (null: schedule a new one) or undefined when the
 * packet must be dropped.
 */
function checkReuse(core: IpvsCore, cp: IpvsConn): IpvsConn | null | undefined {
  const sys = core.sysctl;
  const legacy = core.reuseBehaviour === "legacy";
  if (legacy ? sys.connReuseMode === 0 : cp.control !== null) return cp;
  let oldCt = false;
  let resched = false;
  if (sys.expireNodestConn !== 0 && cp.dest !== null && cp.dest.weight === 0) {
    resched = true;
    oldCt = core.usesOldConntrack(cp);
  } else if (sys.connReuseMode !== 0 && newConnExpected(cp, sys.connReuseMode, legacy)) {
    oldCt = core.usesOldConntrack(cp);
    resched = cp.nControl === 0 ? true : !oldCt;
  }
  if (!resched) return cp;
  if (cp.nControl === 0) core.conns.expire(cp);
  return oldCt ? undefined : null;
}

export function ipvsInbound(core: IpvsCore, buf: Uint8Array, ipOff: number, len: number, mark: number, res: IpvsResult): IpvsResult {
  res.reset();
  core.conns.runTimers();
  if (len < IPV4_MIN_HEADER_LEN) return res.set("not-virtual", "truncated", null);
  const end = ipOff + Math.min(ipv4.totalLen(buf, ipOff), len);
  if (ipv4.isFragment(buf, ipOff)) return res.set("not-virtual", "fragment", null);
  const proto = ipv4.protocol(buf, ipOff);
  const l4 = ipv4.payloadOffset(buf, ipOff);
  if (proto === IPPROTO_ICMP) return inIcmp(core, buf, ipOff, l4, end, res);
  const isSctp = proto === IPPROTO_SCTP;
  if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP && !isSctp) return res.set("not-virtual", "not-tcp-udp", null);
  if (end - l4 < (proto === IPPROTO_TCP ? TCP_MIN_HEADER_LEN : isSctp ? SCTP_HEADER_LEN : UDP_HEADER_LEN)) return res.set("dropped", "truncated", null);
  const saddr = ipv4.src(buf, ipOff);
  const daddr = ipv4.dst(buf, ipOff);
  const sport = ports.src(buf, l4);
  const dport = ports.dst(buf, l4);
  // What the state machine reads: TCP's flags, or SCTP's event (the first chunk, mostly).
  const input = proto === IPPROTO_TCP ? tcp.flags(buf, l4) : isSctp ? event(buf, l4, end) : 0;
  // The first chunk's type, -1 when its header is cut off.
  const chunk = isSctp ? (end - l4 >= SCTP_HEADER_LEN + SCTP_CHUNK_HEADER_LEN ? sctp.chunkType(buf, sctp.chunksOffset(buf, l4)) : -1) : 0;

  let cp = core.conns.byClient.find(proto, saddr, sport, daddr, dport);
  if (cp !== null && ((proto === IPPROTO_TCP && input & TCP_SYN) || (isSctp && chunk === SCTP_CHUNK_INIT))) {
    const reused = checkReuse(core, cp);
    if (reused === undefined) return res.set("dropped", "reuse-old-conntrack", cp);
    cp = reused;
  }
  if (cp === null) {
    if (proto === IPPROTO_TCP && (input & TCP_RST || !(core.sysctl.sloppyTcp !== 0 || input & TCP_SYN))) {
      return res.set("not-virtual", "not-syn", null);
    }
    if (isSctp) {
      // sctp_conn_schedule: no chunk header to read → NF_DROP; only an INIT (any chunk but
      // ABORT with sloppy_sctp) may create a connection, anything else goes on untouched.
      if (chunk < 0) return res.set("dropped", "truncated", null);
      if (chunk === SCTP_CHUNK_ABORT || !(core.sysctl.sloppySctp !== 0 || chunk === SCTP_CHUNK_INIT)) return res.set("not-virtual", "not-init", null);
    }
    const svc = core.findService(mark, proto, daddr, dport);
    if (svc === null) return res.set("not-virtual", "no-service", null);
    const out = core.outcome;
    cp = ipvsSchedule(core.conns, core.sysctl, core.totalStats, svc, proto, saddr, sport, daddr, dport, mark, out);
    if (cp === null) {
      if (out.ignored > 0) return res.set("not-virtual", sport === 20 ? "ftp-data" : "", null);
      if (out.ignored < 0) return res.set("dropped", "", null);
      res.icmp = "port-unreachable";
      return res.set("no-dest", svc.fwmark === 0 && dport !== svc.port && svc.port === 0 ? "port-zero-not-persistent" : "no-dest", null);
    }
    res.newConn = true;
  }
  const dest = cp.dest;
  if (dest !== null && !dest.available) {
    if (core.sysctl.expireNodestConn !== 0) core.conns.expire(cp);
    return res.set("dropped", "dest-unavailable", cp);
  }
  const bytes = end - ipOff;
  if (dest !== null) {
    dest.inpkts++;
    dest.inbytes += bytes;
    dest.service.inpkts++;
    dest.service.inbytes += bytes;
    core.totalStats.inpkts++;
    core.totalStats.inbytes += bytes;
  }
  core.conns.transition(cp, DIR_INPUT, input);
  cp.inPkts++;
  if (dest === null || dest.fwd === "masq") {
    if (core.decrementTtl && !decrementTtl(buf, ipOff)) {
      core.conns.put(cp);
      res.icmp = "time-exceeded";
      return res.set("dropped", "ttl-exceeded", cp);
    }
    rewriteAddrPort(buf, ipOff, l4, proto, false, cp.daddr, cp.dport, end);
  }
  core.conns.put(cp);
  return res.set("forwarded", "", cp);
}

/**
 * ip_vs_in_icmp: an ICMP error (unreachable, source quench, time exceeded) quoting a
 * packet the director sent to a client (VIP -> client). It is passed on to the real
 * server with the outer destination and the quoted source rewritten (ip_vs_nat_icmp).
 */
function inIcmp(core: IpvsCore, buf: Uint8Array, ipOff: number, l4: number, end: number, res: IpvsResult): IpvsResult {
  if (end - l4 < ICMP_HEADER_LEN) return res.set("dropped", "truncated", null);
  const innerL4 = quotedTransport(buf, l4, end);
  if (innerL4 < 0) return res.set("not-virtual", innerL4 === QUOTE_TRUNCATED ? "truncated" : "icmp-unrelated", null);
  const inner = icmp.payloadOffset(buf, l4);
  const innerProto = ipv4.protocol(buf, inner);
  // The quoted packet went VIP -> client: its destination is the client.
  const cp = core.conns.byClient.find(innerProto, ipv4.dst(buf, inner), ports.dst(buf, innerL4), ipv4.src(buf, inner), ports.src(buf, innerL4));
  if (cp === null) return res.set("not-virtual", "no-conn", null);
  const dest = cp.dest;
  if (dest !== null) {
    const bytes = end - ipOff;
    dest.inpkts++;
    dest.inbytes += bytes;
    dest.service.inpkts++;
    dest.service.inbytes += bytes;
    core.totalStats.inpkts++;
    core.totalStats.inbytes += bytes;
  }
  if (dest === null || dest.fwd === "masq") {
    if (core.decrementTtl && !decrementTtl(buf, ipOff)) {
      res.icmp = "time-exceeded";
      return res.set("dropped", "ttl-exceeded", cp);
    }
    natIcmp(buf, ipOff, l4, inner, end, false, cp.daddr, cp.dport);
  }
  return res.set("forwarded", "icmp-error", cp);
}
