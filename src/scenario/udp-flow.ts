/**
 * A one-way UDP flow, as a statsd or syslog client makes one: a socket bound to one source
 * port sends a datagram every period to the same destination and never expects an answer;
 * being a connected socket, it does learn of ICMP errors (the next send() fails with
 * ECONNREFUSED after a port unreachable). And the server side: a socket that counts what
 * arrives and never replies (a statsd daemon), so conntrack never sees a reply and the
 * entry stays [UNREPLIED], refreshed to nf_conntrack_udp_timeout by every datagram.
 */
import type { PacketBuffer } from "../netdev/index.js";
import type { IcmpErrorReport, NetworkNamespace, UdpHandler } from "../netns/index.js";
import { IPPROTO_UDP } from "../wire/ipv4.js";

/** A server socket that counts datagrams and answers none. */
export class UdpSink implements UdpHandler {
  received = 0;
  /** Virtual time of each datagram received. */
  readonly times: number[] = [];
  onDatagram(ns: NetworkNamespace, pkt: PacketBuffer): void {
    this.received++;
    this.times.push(ns.sim.now());
    ns.sim.pool.release(pkt);
  }
}

/** Replaces whatever listens on a UDP port of `ns` with a sink. */
export function sinkOn(ns: NetworkNamespace, port: number): UdpSink {
  const sink = new UdpSink();
  ns.unbindUdp(port);
  ns.bindUdp(port, sink);
  return sink;
}

export interface UdpSend {
  /** Virtual time of the send. */
  at: number;
  seq: number;
}

/** The client of a one-way flow: one fixed source port, one destination. */
export class OneWayUdpClient implements UdpHandler {
  readonly sent: UdpSend[] = [];
  /** ICMP errors that came back for this socket (what makes send() fail with ECONNREFUSED). */
  readonly errors: { at: number; report: IcmpErrorReport }[] = [];
  private readonly listener: (ns: NetworkNamespace, r: IcmpErrorReport) => void;

  constructor(
    readonly ns: NetworkNamespace,
    readonly srcPort: number,
    readonly dst: number,
    readonly dstPort: number,
    readonly text: (seq: number) => string = (seq) => `requests.count:1|c #${seq}`,
  ) {
    ns.bindUdp(srcPort, this);
    this.listener = (n, r) => {
      if (r.origProto === IPPROTO_UDP && r.origSrcPort === srcPort && r.origDstPort === dstPort) this.errors.push({ at: n.sim.now(), report: r });
    };
    ns.icmpErrorListeners.push(this.listener);
  }

  /** Sends the next datagram now. */
  send(): void {
    const seq = this.sent.length + 1;
    this.sent.push({ at: this.ns.sim.now(), seq });
    this.ns.sendUdp(this.srcPort, this.dst, this.dstPort, new TextEncoder().encode(this.text(seq)));
  }

  /** Nothing is expected back; a stray answer is dropped. */
  onDatagram(ns: NetworkNamespace, pkt: PacketBuffer): void {
    ns.sim.pool.release(pkt);
  }

  close(): void {
    this.ns.unbindUdp(this.srcPort);
    const i = this.ns.icmpErrorListeners.indexOf(this.listener);
    if (i >= 0) this.ns.icmpErrorListeners.splice(i, 1);
  }
}
