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
import type { IpvsConn } from "./conn.js";
import { DIR_INPUT } from "./conn-table.js";
import type { IpvsCore } from "./core.js";
import * as nat from "./nat.js";
import type { IpvsResult } from "./result.js";
import { ipvsSchedule } from "./schedule.js";
import { sctpEvent } from "./sctp-state.js";

// Local copies of constants.ts values: imported bindings cost a getter call per use under
// the tsx loader, which shows on the per-packet path.
const SYN = 0x02;
const RST = 0x04;
const get16 = nat.get16;
const get32 = nat.get32;
const rewriteAddrPort = nat.rewriteAddrPort;
const decrementTtl = nat.decrementTtl;
const natIcmp = nat.natIcmp;
const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_SCTP = 132;
const CONN_F_NOOUTPUT = 0x0004;
const TCP_S_FIN_WAIT = 4;
const TCP_S_TIME_WAIT = 5;
const TCP_S_CLOSE = 6;
const SCTP_S_CLOSED = 13;
const CHUNK_INIT = 1;
const CHUNK_ABORT = 6;
const event = sctpEvent;

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
  if (len < 20) return res.set("not-virtual", "truncated", null);
  const ihl = (buf[ipOff]! & 0x0f) * 4;
  const end = ipOff + Math.min(get16(buf, ipOff + 2), len);
  if (get16(buf, ipOff + 6) & 0x3fff) return res.set("not-virtual", "fragment", null);
  const proto = buf[ipOff + 9]!;
  const l4 = ipOff + ihl;
  if (proto === IPPROTO_ICMP) return inIcmp(core, buf, ipOff, l4, end, res);
  const sctp = proto === IPPROTO_SCTP;
  if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP && !sctp) return res.set("not-virtual", "not-tcp-udp", null);
  if (end - l4 < (proto === IPPROTO_TCP ? 20 : sctp ? 12 : 8)) return res.set("dropped", "truncated", null);
  const saddr = get32(buf, ipOff + 12);
  const daddr = get32(buf, ipOff + 16);
  const sport = get16(buf, l4);
  const dport = get16(buf, l4 + 2);
  // What the state machine reads: TCP's flags, or SCTP's event (the first chunk, mostly).
  const input = proto === IPPROTO_TCP ? buf[l4 + 13]! : sctp ? event(buf, l4, end) : 0;
  // The first chunk's type, -1 when its header is cut off.
  const chunk = sctp ? (end - l4 >= 16 ? buf[l4 + 12]! : -1) : 0;

  let cp = core.conns.byClient.find(proto, saddr, sport, daddr, dport);
  if (cp !== null && ((proto === IPPROTO_TCP && input & SYN) || (sctp && chunk === CHUNK_INIT))) {
    const reused = checkReuse(core, cp);
    if (reused === undefined) return res.set("dropped", "reuse-old-conntrack", cp);
    cp = reused;
  }
  if (cp === null) {
    if (proto === IPPROTO_TCP && (input & RST || !(core.sysctl.sloppyTcp !== 0 || input & SYN))) {
      return res.set("not-virtual", "not-syn", null);
    }
    if (sctp) {
      // sctp_conn_schedule: no chunk header to read → NF_DROP; only an INIT (any chunk but
      // ABORT with sloppy_sctp) may create a connection, anything else goes on untouched.
      if (chunk < 0) return res.set("dropped", "truncated", null);
      if (chunk === CHUNK_ABORT || !(core.sysctl.sloppySctp !== 0 || chunk === CHUNK_INIT)) return res.set("not-virtual", "not-init", null);
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
    dest.stats.inpkts++;
    dest.stats.inbytes += bytes;
    dest.service.stats.inpkts++;
    dest.service.stats.inbytes += bytes;
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
  if (end - l4 < 8) return res.set("dropped", "truncated", null);
  const innerL4 = nat.quotedTransport(buf, l4, end);
  if (innerL4 < 0) return res.set("not-virtual", innerL4 === nat.QUOTE_TRUNCATED ? "truncated" : "icmp-unrelated", null);
  const inner = l4 + 8;
  const innerProto = buf[inner + 9]!;
  // The quoted packet went VIP -> client: its destination is the client.
  const cp = core.conns.byClient.find(innerProto, get32(buf, inner + 16), get16(buf, innerL4 + 2), get32(buf, inner + 12), get16(buf, innerL4));
  if (cp === null) return res.set("not-virtual", "no-conn", null);
  const dest = cp.dest;
  if (dest !== null) {
    const bytes = end - ipOff;
    dest.stats.inpkts++;
    dest.stats.inbytes += bytes;
    dest.service.stats.inpkts++;
    dest.service.stats.inbytes += bytes;
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
