/**
 * A namespace's SCTP endpoint table, as far as podwire needs one: packets for a bound port
 * go to its handler (parsed, CRC32c checked, as sctp_rcv does), and out-of-the-blue packets
 * for an unbound port are answered as RFC 9260 §8.4 says and Linux's SCTP does (the sctp
 * module is loaded wherever SCTP Services are used): an INIT with an ABORT carrying the
 * INIT's own tag, a SHUTDOWN ACK with a SHUTDOWN COMPLETE (T bit), ABORT / SHUTDOWN
 * COMPLETE / COOKIE ACK / ERROR silently discarded, anything else with an ABORT (T bit).
 * Associations themselves (retransmission, congestion control) are the handler's business.
 */
import type { PacketBuffer } from "../netdev/index.js";
import {
  IPPROTO_SCTP, SCTP_CHUNK_ABORT, SCTP_CHUNK_COOKIE_ACK, SCTP_CHUNK_ERROR, SCTP_CHUNK_SHUTDOWN_ACK,
  SCTP_CHUNK_SHUTDOWN_COMPLETE, SctpPacket, SctpRepr, ipv4, prependIpv4, sctpChunkCode,
} from "../wire/index.js";
import type { NetworkNamespace } from "./netns.js";

/** Where an SCTP packet came from and went to (addresses and ports of the common header). */
export interface SctpEnvelope {
  srcIp: number;
  dstIp: number;
  srcPort: number;
  dstPort: number;
}

export interface SctpHandler {
  onPacket(stack: SctpStack, from: SctpEnvelope, repr: SctpRepr): void;
}

const view = new SctpPacket(new Uint8Array(0));

export class SctpStack {
  private readonly sockets = new Map<number, SctpHandler>();
  /** Out-of-the-blue packets answered or discarded (§8.4). */
  ootb = 0;

  constructor(readonly ns: NetworkNamespace) {}

  bind(port: number, handler: SctpHandler): void {
    if (this.sockets.has(port)) throw new Error(`${this.ns.name}: SCTP port ${port} is in use`);
    this.sockets.set(port, handler);
  }

  unbind(port: number): void {
    this.sockets.delete(port);
  }

  isBound(port: number): boolean {
    return this.sockets.has(port);
  }

  /** Sends one SCTP packet (CRC32c filled) from `srcIp` (0: the route's source). False without a route. */
  send(repr: SctpRepr, dstIp: number, srcIp = 0): boolean {
    const ns = this.ns;
    const route = ns.routeOutput(dstIp);
    if (route === null) {
      ns.stats.countDrop("no-route");
      return false;
    }
    const pkt = ns.sim.pool.acquire();
    const n = SctpRepr.emit(repr, pkt.buf, pkt.head);
    pkt.tail = pkt.head + n;
    const src = srcIp !== 0 ? srcIp : ns.selectSource(route);
    // Linux's SCTP sets DF and IP ID 0 (sctp_v4_xmit with PMTU discovery on).
    prependIpv4(pkt, { src, dst: dstIp, protocol: IPPROTO_SCTP, ttl: 64, ident: 0, dontFrag: true });
    ns.ipOutput(pkt, route, true);
    return true;
  }

  /** sctp_rcv for a packet whose head is at its IPv4 header; takes ownership of `pkt`. */
  receive(pkt: PacketBuffer): void {
    const ns = this.ns;
    const b = pkt.buf;
    const h = pkt.head;
    const l4 = ipv4.payloadOffset(b, h);
    const len = pkt.tail - l4;
    const p = view.wrap(b, l4, len);
    let repr: SctpRepr;
    try {
      p.checkLen(len);
      if (!p.verifyChecksum()) return ns.dropPkt(pkt, "sctp-checksum");
      repr = SctpRepr.parse(b, l4, len);
    } catch {
      return ns.dropPkt(pkt, "sctp-malformed");
    }
    if (repr.chunks.length === 0) return ns.dropPkt(pkt, "sctp-malformed");
    const env: SctpEnvelope = {
      srcIp: ipv4.src(b, h),
      dstIp: ipv4.dst(b, h),
      srcPort: repr.srcPort,
      dstPort: repr.dstPort,
    };
    // The handler gets copies of the byte fields: the buffer goes back to the pool.
    repr = copyRepr(repr);
    const handler = this.sockets.get(env.dstPort);
    if (handler === undefined) {
      if (ns.sim.tracer) ns.sim.trace(ns.name, "", "deliver", `SCTP port ${env.dstPort}: no endpoint (out of the blue)`, pkt, true);
      ns.dropPkt(pkt, "sctp-no-socket");
      this.outOfTheBlue(env, repr);
      return;
    }
    if (ns.sim.tracer) ns.sim.trace(ns.name, "", "deliver", `to SCTP endpoint :${env.dstPort}`, pkt, true);
    ns.sim.pool.release(pkt);
    handler.onPacket(this, env, repr);
  }

  /** RFC 9260 §8.4 for a packet no endpoint owns. */
  private outOfTheBlue(env: SctpEnvelope, repr: SctpRepr): void {
    this.ootb++;
    const types = repr.chunks.map(sctpChunkCode);
    if (types.some((t) => t === SCTP_CHUNK_ABORT || t === SCTP_CHUNK_SHUTDOWN_COMPLETE || t === SCTP_CHUNK_COOKIE_ACK || t === SCTP_CHUNK_ERROR)) return;
    const reply = (tag: number, chunk: SctpRepr["chunks"][number]): void => {
      this.send({ srcPort: env.dstPort, dstPort: env.srcPort, verificationTag: tag, chunks: [chunk] }, env.srcIp, env.dstIp);
    };
    const first = repr.chunks[0]!;
    if (first.type === "INIT") return reply(first.initiateTag, { type: "ABORT", tBit: false });
    if (types.includes(SCTP_CHUNK_SHUTDOWN_ACK)) return reply(repr.verificationTag, { type: "SHUTDOWN_COMPLETE", tBit: true });
    reply(repr.verificationTag, { type: "ABORT", tBit: true });
  }
}

function copyRepr(r: SctpRepr): SctpRepr {
  return {
    ...r,
    chunks: r.chunks.map((c) => {
      if (c.type === "DATA") return { ...c, data: c.data.slice() };
      if (c.type === "COOKIE_ECHO") return { ...c, cookie: c.cookie.slice() };
      if ((c.type === "INIT" || c.type === "INIT_ACK") && c.cookie) return { ...c, cookie: c.cookie.slice() };
      if (c.type === "HEARTBEAT" || c.type === "HEARTBEAT_ACK") return { ...c, info: c.info.slice() };
      if (c.type === "other") return { ...c, value: c.value.slice() };
      return c;
    }),
  };
}
