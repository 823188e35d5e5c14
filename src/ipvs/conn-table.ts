/**
 * The connection table (net/netfilter/ipvs/ip_vs_conn.c): creation with destination
 * binding and counters (ip_vs_conn_new, ip_vs_bind_dest / ip_vs_unbind_dest), lookup from
 * either side, persistence templates, per-connection timers on the virtual clock
 * (ip_vs_conn_put re-arms a timer to `now + timeout`; ip_vs_conn_expire), and the state
 * bookkeeping that moves a connection between a server's ActiveConn and InActConn (TCP in
 * ip_vs_proto_tcp.c set_tcp_state, SCTP in ip_vs_proto_sctp.c set_sctp_state).
 */
import type { Clock } from "../base/clock.js";
import {
  CONN_F_INACTIVE,
  CONN_F_NOOUTPUT,
  CONN_F_TEMPLATE,
  CTPL_S_ASSURED,
  DEST_F_OVERLOAD,
  NEW_CONN_TIMEOUT_SEC,
  SCTP_S_ESTABLISHED,
  SCTP_TIMEOUTS_SEC,
  SEC,
  TCP_S_ESTABLISHED,
  TCP_STATE_ACTIVE,
  TCP_TIMEOUTS_SEC,
  TEMPLATE_RETRY_SEC,
  UDP_TIMEOUT_SEC,
} from "./constants.js";
import { IPPROTO_SCTP, IPPROTO_TCP } from "../wire/ipv4.js";
import { IpvsConn } from "./conn.js";
import { ConnIndex } from "./conn-index.js";
import { ConnTimers } from "./conn-timers.js";
import type { IpvsDest, IpvsService } from "./model.js";
import { destKey } from "./model.js";
import { SCTP_EV_NONE, nextSctpState } from "./sctp-state.js";
import { DIR_INPUT, DIR_INPUT_ONLY, DIR_OUTPUT, nextTcpState } from "./tcp-state.js";

// Module-local copies of imported values used on the per-packet path (imported bindings
// cost a getter call per use under the tsx loader).
const F_INACTIVE = CONN_F_INACTIVE;
const F_NOOUTPUT = CONN_F_NOOUTPUT;
const ACTIVE = TCP_STATE_ACTIVE;
const S_ESTABLISHED = TCP_S_ESTABLISHED;
const D_OUTPUT = DIR_OUTPUT;
const D_INPUT_ONLY = DIR_INPUT_ONLY;
const nextState = nextTcpState;
const nextSctp = nextSctpState;
const SCTP_ESTABLISHED = SCTP_S_ESTABLISHED;
const EV_NONE = SCTP_EV_NONE;

export class ConnTable {
  /** Connections by client tuple (proto, caddr, cport, vaddr, vport). */
  readonly byClient = new ConnIndex("client");
  /** Connections by real-server tuple (proto, daddr, dport, caddr, cport). */
  readonly byServer = new ConnIndex("server");
  /** Valid templates by (proto, client network, 0, vaddr or fwmark, vport). */
  readonly templates = new ConnIndex("client");
  /** Every live connection and template, in creation order: a list through `prevLive` / `nextLive`. */
  private oldest: IpvsConn | null = null;
  private newest: IpvsConn | null = null;
  private liveCount = 0;
  /** Per-state timeouts in ns (tcp_timeouts; ipvsadm --set changes three of them). */
  readonly tcpTimeouts = Float64Array.from(TCP_TIMEOUTS_SEC, (s) => s * SEC);
  udpTimeout = UDP_TIMEOUT_SEC * SEC;
  /** Per-state SCTP timeouts in ns (sctp_timeouts). */
  readonly sctpTimeouts = Float64Array.from(SCTP_TIMEOUTS_SEC, (s) => s * SEC);
  private readonly timers = new ConnTimers<IpvsConn>();

  constructor(private readonly clock: Clock) {}

  /**
   * ip_vs_conn_new: a connection (or, with CONN_F_TEMPLATE, a template) bound to `dest`,
   * hashed, with the provisional 3 s timeout. New connections start INACTIVE (the flag
   * comes from the destination's conn_flags, see ip_vs_ctl.c __ip_vs_update_dest) until
   * the TCP state machine reaches an active state.
   */
  create(
    protocol: number,
    caddr: number,
    cport: number,
    vaddr: number,
    vport: number,
    daddr: number,
    dport: number,
    flags: number,
    dest: IpvsDest | null,
    service: IpvsService | null,
    fwmark: number,
  ): IpvsConn {
    const c = new IpvsConn(protocol, caddr, cport, vaddr, vport, daddr, dport, flags, null, service, fwmark);
    this.bindDest(c, dest);
    if (flags & CONN_F_TEMPLATE) this.templates.insert(c);
    else {
      this.byClient.insert(c);
      this.byServer.insert(c);
    }
    this.linkLive(c);
    c.timeout = NEW_CONN_TIMEOUT_SEC * SEC;
    return c;
  }

  /** Live connections and templates, oldest first (a copy). */
  list(): IpvsConn[] {
    const out: IpvsConn[] = [];
    for (let c = this.oldest; c !== null; c = c.nextLive) out.push(c);
    return out;
  }

  /** How many connections and templates are live. */
  get size(): number {
    return this.liveCount;
  }

  private linkLive(c: IpvsConn): void {
    c.prevLive = this.newest;
    c.nextLive = null;
    if (this.newest !== null) this.newest.nextLive = c;
    else this.oldest = c;
    this.newest = c;
    this.liveCount++;
  }

  private unlinkLive(c: IpvsConn): void {
    const prev = c.prevLive;
    const next = c.nextLive;
    if (prev !== null) prev.nextLive = next;
    else this.oldest = next;
    if (next !== null) next.prevLive = prev;
    else this.newest = prev;
    c.prevLive = c.nextLive = null;
    this.liveCount--;
  }

  private bindDest(c: IpvsConn, dest: IpvsDest | null): void {
    if (dest === null) return;
    c.dest = dest;
    c.flags |= CONN_F_INACTIVE;
    if (dest.fwd !== "masq") c.flags |= CONN_F_NOOUTPUT;
    if (c.flags & CONN_F_TEMPLATE) dest.persistConns++;
    else dest.inactConns++;
    if (dest.uThreshold !== 0 && dest.totalConns() >= dest.uThreshold) dest.flags |= DEST_F_OVERLOAD;
  }

  private unbindDest(c: IpvsConn): void {
    const dest = c.dest;
    if (dest === null) return;
    if (c.flags & CONN_F_TEMPLATE) dest.persistConns--;
    else if (c.flags & CONN_F_INACTIVE) dest.inactConns--;
    else dest.activeConns--;
    if (dest.lThreshold !== 0) {
      if (dest.totalConns() < dest.lThreshold) dest.flags &= ~DEST_F_OVERLOAD;
    } else if (dest.uThreshold !== 0) {
      if (dest.totalConns() * 4 < dest.uThreshold * 3) dest.flags &= ~DEST_F_OVERLOAD;
    } else {
      dest.flags &= ~DEST_F_OVERLOAD;
    }
    // A deleted server leaves the trash once nothing refers to it.
    if (!dest.available && dest.refs() === 0) {
      const key = destKey(dest.addr, dest.port);
      if (dest.service.trash.get(key) === dest) dest.service.trash.delete(key);
    }
  }

  /** ip_vs_control_add: `c` was created through template `ct`. */
  addControl(c: IpvsConn, ct: IpvsConn): void {
    c.control = ct;
    ct.nControl++;
  }

  /** ip_vs_conn_put: the timer restarts at now + timeout. */
  put(c: IpvsConn): void {
    c.expires = this.clock.now() + c.timeout;
    if (!c.queued && !c.dead) {
      c.queued = true;
      this.timers.push(c.expires, c);
    }
  }

  /**
   * ip_vs_conn_expire: unlink and unbind, unless the conn still controls others (then it
   * is retried in 60 s). Returns whether it was removed.
   */
  expire(c: IpvsConn): boolean {
    if (c.dead) return true;
    if (c.nControl > 0) {
      c.timeout = TEMPLATE_RETRY_SEC * SEC;
      this.put(c);
      return false;
    }
    if (c.flags & CONN_F_TEMPLATE) {
      if (!c.invalid) this.templates.remove(c);
    } else {
      this.byClient.remove(c);
      this.byServer.remove(c);
    }
    this.unlinkLive(c);
    c.dead = true;
    if (c.control !== null) {
      c.control.nControl--;
      c.control = null;
    }
    this.unbindDest(c);
    return true;
  }

  /** Fires every timer due at or before `now` (the virtual clock's present by default). */
  runTimers(now = this.clock.now()): void {
    const q = this.timers;
    while (q.size > 0 && q.peekTime() <= now) {
      const c = q.pop()!;
      c.queued = false;
      if (c.dead) continue;
      if (c.expires > now) {
        c.queued = true;
        q.push(c.expires, c);
      } else {
        this.expire(c);
      }
    }
  }

  /** The earliest pending timer, or Infinity: when the caller should run timers next. */
  nextTimer(): number {
    return this.timers.size > 0 ? this.timers.peekTime() : Infinity;
  }

  /** ip_vs_check_template failed: hide the template from lookups; its timer still runs. */
  invalidateTemplate(ct: IpvsConn): void {
    if (ct.invalid || ct.dead) return;
    this.templates.remove(ct);
    ct.invalid = true;
  }

  /**
   * ip_vs_set_state for TCP (set_tcp_state): the next state from the packet's flags, moving
   * the connection between ActiveConn and InActConn when it crosses the active set, and the
   * new state's timeout.
   */
  tcpTransition(c: IpvsConn, dir: number, tcpFlags: number): void {
    let d = dir;
    if (c.flags & F_NOOUTPUT) {
      if (dir === D_OUTPUT) c.flags &= ~F_NOOUTPUT;
      else d = D_INPUT_ONLY;
    }
    const next = nextState(c.state, d, tcpFlags);
    if (next !== c.state) {
      const dest = c.dest;
      if (dest !== null) {
        const active = ACTIVE[next]!;
        if (!(c.flags & F_INACTIVE) && !active) {
          dest.activeConns--;
          dest.inactConns++;
          c.flags |= F_INACTIVE;
        } else if (c.flags & F_INACTIVE && active) {
          dest.activeConns++;
          dest.inactConns--;
          c.flags &= ~F_INACTIVE;
        }
      }
      if (next === S_ESTABLISHED) assure(c);
    }
    c.state = next;
    c.timeout = this.tcpTimeouts[next]!;
  }

  /**
   * set_sctp_state: the next state from the packet's SCTP_EV_* event (sctpEvent). Only
   * ESTABLISHED counts as active; reaching it assures the template. A packet whose first
   * chunk header is cut off (SCTP_EV_NONE) changes nothing, not even the timeout.
   */
  sctpTransition(c: IpvsConn, dir: number, event: number): void {
    if (event === EV_NONE) return;
    let d = dir;
    if (c.flags & F_NOOUTPUT) {
      if (dir === D_OUTPUT) c.flags &= ~F_NOOUTPUT;
      else d = D_INPUT_ONLY;
    }
    const next = nextSctp(c.state, d, event);
    if (next !== c.state) {
      const dest = c.dest;
      if (dest !== null) {
        if (!(c.flags & F_INACTIVE) && next !== SCTP_ESTABLISHED) {
          dest.activeConns--;
          dest.inactConns++;
          c.flags |= F_INACTIVE;
        } else if (c.flags & F_INACTIVE && next === SCTP_ESTABLISHED) {
          dest.activeConns++;
          dest.inactConns--;
          c.flags &= ~F_INACTIVE;
        }
      }
      if (next === SCTP_ESTABLISHED) assure(c);
    }
    c.state = next;
    c.timeout = this.sctpTimeouts[next]!;
  }

  /** udp_state_transition: a reply assures the template; every packet sets the 5 min timeout. */
  udpTransition(c: IpvsConn, dir: number): void {
    if (dir === D_OUTPUT) assure(c);
    c.timeout = this.udpTimeout;
  }

  /**
   * ip_vs_set_state: the protocol's state_transition. `input` is what the protocol's state
   * machine reads from the packet: the TCP flags for TCP, the sctpEvent for SCTP.
   */
  transition(c: IpvsConn, dir: number, input: number): void {
    if (c.protocol === IPPROTO_TCP) this.tcpTransition(c, dir, input);
    else if (c.protocol === IPPROTO_SCTP) this.sctpTransition(c, dir, input);
    else this.udpTransition(c, dir);
  }

  /** Drops every connection (used when the table is thrown away). */
  clear(): void {
    for (const c of this.list()) {
      c.nControl = 0;
      this.expire(c);
    }
    this.timers.clear();
  }
}

/** ip_vs_control_assure_ct: mark the controlling template ASSURED. */
function assure(c: IpvsConn): void {
  const ct = c.control;
  if (ct !== null && ct.flags & CONN_F_TEMPLATE) ct.state |= CTPL_S_ASSURED;
}

export { DIR_INPUT, DIR_OUTPUT };
