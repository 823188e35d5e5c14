/**
 * Trace events: what happened to a packet at one hop. Recorded only while tracing is on.
 *
 * An event carries structured fields (the rules a netfilter walk hit, the verdict, a NAT
 * binding, the conntrack state, a drop reason) beside its one-line `detail`; the text and
 * JSON renderings are derived from the fields. Each event also names the packet it is about
 * (`packetId`: one id per packet from the moment it is built until it is consumed, across
 * veths, bridges and VXLAN) and, when a capture numbers frames for the tracer, the frame of
 * that packet on the event's device (`frame`, Wireshark's frame.number).
 */
import { formatIpv4, formatMac } from "../base/index.js";
import {
  ARP_REPLY,
  ARP_REQUEST,
  ArpPacket,
  ETHERNET_HEADER_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  EthernetFrame,
  IPPROTO_ICMP,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IcmpPacket,
  Ipv4Packet,
  SctpPacket,
  TcpPacket,
  UdpPacket,
  VXLAN_PORT,
  sctpChunkName,
  summarizeFrame,
  summarizeIpv4,
  tcpFlagsString,
} from "../wire/index.js";
import type { PacketBuffer } from "./packet-buffer.js";

export type TraceAction =
  | "send"
  | "arp-request"
  | "arp-reply"
  | "arp-resolved"
  | "bridge-forward"
  | "bridge-flood"
  | "bridge-local"
  | "route"
  | "forward"
  | "encap"
  | "decap"
  | "deliver"
  | "reply"
  | "icmp-error"
  | "drop"
  | "transmit"
  | "receive"
  | "loopback"
  | "netfilter";

/** One step of a netfilter walk: a rule that matched (and jumped, or decided), or a chain's policy. */
export interface TraceRuleStep {
  /** iptables: the table (`nat`); nftables: family and table (`ip kube-proxy`); IPVS: `ipvs`. */
  table: string;
  /** The chain (IPVS: the virtual service, `TCP 10.96.0.10:53`). */
  chain: string;
  /** The rule's 1-based position in its chain; null for the chain's policy. */
  position: number | null;
  /** The rule as iptables-save or `nft list` prints it; for the policy, `policy ACCEPT` (or DROP). */
  rule: string;
}

export type TraceNatKind = "DNAT" | "SNAT" | "MASQUERADE";

/** A translation of this packet: the address (and port) it replaced, and by what. */
export interface TraceNat {
  /** The binding's kind (a later packet of the flow, or a reply, is rewritten from the binding: DNAT or SNAT). */
  kind: TraceNatKind;
  /** `ip:port` (or `ip` for ICMP) before. */
  from: string;
  /** `ip:port` (or `ip`) after. */
  to: string;
  /** A reply, whose addresses the binding gives back (un-DNAT: its source; un-SNAT: its destination). */
  reply: boolean;
}

export interface TraceConntrack {
  /** NEW, ESTABLISHED, RELATED, INVALID, UNTRACKED; a failure names itself (`table full`). */
  state: string;
  /** The packet's tuple as conntrack prints it (`src=… dst=… sport=… dport=…`); "" when none. */
  tuple: string;
  /** Which of the connection's directions the packet goes: original or reply; null without a connection. */
  direction: "original" | "reply" | null;
}

export interface TraceDrop {
  reason: string;
}

/** The packet at the hop, in a few fields (the tcpdump line is `summary`). */
export interface TracePacket {
  /** tcp, udp, icmp, sctp, arp, or `ip-proto-N`. */
  proto: string;
  /** `ip:port`, or `ip` for protocols without ports. */
  src: string;
  dst: string;
  /** A few words: TCP flags (`[S.]`), the ICMP type, SCTP chunks, the ARP question. */
  info: string;
}

/** Which frame of its packet an event is about, on its device. */
export type TraceFrameSide =
  /** The frame the packet arrived as (already captured when the event is recorded). */
  | "before"
  /** The frame the packet leaves as (captured after the event). */
  | "after"
  /** Either: an earlier frame if there is one, else the next. */
  | "either";

/** The optional, structured part of an event. */
export interface TraceFields {
  /** The netfilter hook (PREROUTING, INPUT, FORWARD, OUTPUT, POSTROUTING). */
  hook?: string;
  /** What ran: `nat PREROUTING`, `nft ip kube-proxy nat-prerouting (prerouting -100)`, `conntrack`, `ipvs`. */
  stage?: string;
  rules?: TraceRuleStep[];
  verdict?: string;
  nat?: TraceNat;
  conntrack?: TraceConntrack;
  drop?: TraceDrop;
  /** Which frame to link (default: by action). */
  side?: TraceFrameSide;
  /** false: the event names the packet but does not describe it (its head is not at a header). */
  describe?: boolean;
}

export interface TraceEvent {
  /** Virtual time in ns. */
  time: number;
  /** The node or Pod namespace, e.g. `worker-1` or `default/client`. */
  netns: string;
  /** The device involved, when one is. */
  device: string;
  action: TraceAction;
  /** One line for people, everything included, e.g. `route 10.244.2.0/24 via 10.244.2.0 dev flannel.1`. */
  detail: string;
  /** tcpdump-style summary of the frame at this point ("" when the event has no packet). */
  summary: string;
  /** The packet at this point; null when the event has no packet. */
  packet: TracePacket | null;
  /** Which packet of the trace (1, 2, …) the event is about; 0 for none. */
  packetId: number;
  hook: string | null;
  stage: string | null;
  /** The rules the walk hit, in order, ending with the deciding rule or the policy. */
  rules: TraceRuleStep[] | null;
  /** ACCEPT, DROP, REJECT, DNAT, SNAT, MASQUERADE, … */
  verdict: string | null;
  nat: TraceNat | null;
  conntrack: TraceConntrack | null;
  drop: TraceDrop | null;
  /** Wireshark's frame.number of this packet on this device in the capture; null when none was written. */
  frame: number | null;
}

/** Frames a packet was captured as, and the events waiting for its next frame on a device. */
export class PacketTrace {
  /** Frames of this packet so far: the device's capture name, the frame number and its summary. */
  readonly frames: { device: string; frame: number; summary: string }[] = [];
  /** Events waiting for the packet's next frame on their device. */
  readonly pending: { device: string; event: TraceEvent }[] = [];

  constructor(
    readonly tracer: Tracer,
    /** 0 until an event names the packet. */
    public id: number,
  ) {}

  /** The same packet copied (a bridge flooding it): same id, same frames so far, nothing pending. */
  forClone(): PacketTrace {
    const c = new PacketTrace(this.tracer, this.id);
    c.frames.push(...this.frames);
    return c;
  }
}

/** Actions whose frame is the one the packet leaves (or is delivered) as, captured after the event. */
const FRAME_AFTER: ReadonlySet<TraceAction> = new Set<TraceAction>(["send", "forward", "reply", "icmp-error", "arp-request", "arp-reply", "encap", "decap", "loopback", "transmit"]);

export class Tracer {
  readonly events: TraceEvent[] = [];
  private nextPacketId = 1;

  /**
   * Records an event. `ipOff` ≥ 0: the packet's IPv4 header is there; -1: an Ethernet frame
   * starts at `pkt.head`. Returns the event so a caller can add what it learns later (a NAT
   * binding made after the rules ran).
   */
  add(time: number, netns: string, device: string, action: TraceAction, detail: string, pkt: PacketBuffer | null, ipOff: number, fields: TraceFields | null): TraceEvent {
    const f = fields ?? {};
    const e: TraceEvent = {
      time,
      netns,
      device,
      action,
      detail,
      summary: "",
      packet: null,
      packetId: 0,
      hook: f.hook ?? null,
      stage: f.stage ?? null,
      rules: f.rules ?? null,
      verdict: f.verdict ?? null,
      nat: f.nat ?? null,
      conntrack: f.conntrack ?? null,
      drop: f.drop ?? null,
      frame: null,
    };
    if (pkt !== null) {
      if (f.describe !== false) {
        e.summary = ipOff >= 0 ? summarizeIpv4(pkt.buf, ipOff, pkt.tail - ipOff) : summarizeFrame(pkt.buf, pkt.head, pkt.tail - pkt.head);
        e.packet = describePacket(pkt.buf, ipOff >= 0 ? ipOff : pkt.head, pkt.tail, ipOff >= 0);
      }
      // A reply built in the buffer of the packet it answers (ICMP echo, UDP echo) is a new packet.
      let t = pkt.traceLinks;
      if (t === null || t.tracer !== this || action === "reply") t = pkt.traceLinks = new PacketTrace(this, 0);
      if (t.id === 0) t.id = this.nextPacketId++;
      e.packetId = t.id;
      if (device !== "" && e.summary !== "") this.link(e, t, f.side ?? (FRAME_AFTER.has(action) ? "after" : "before"));
    }
    this.events.push(e);
    return e;
  }

  /** Re-describes an event's packet after the hop changed it (a source NAT on the way out) and links its frame again. */
  redescribe(e: TraceEvent, pkt: PacketBuffer, ipOff: number, side: TraceFrameSide): void {
    e.summary = summarizeIpv4(pkt.buf, ipOff, pkt.tail - ipOff);
    e.packet = describePacket(pkt.buf, ipOff, pkt.tail, true);
    e.frame = null;
    const t = pkt.traceLinks;
    if (t === null || t.tracer !== this) return;
    for (let i = t.pending.length - 1; i >= 0; i--) if (t.pending[i]!.event === e) t.pending.splice(i, 1);
    this.link(e, t, side);
  }

  private link(e: TraceEvent, t: PacketTrace, side: TraceFrameSide): void {
    const device = captureName(e.netns, e.device);
    if (side !== "after") {
      for (let i = t.frames.length - 1; i >= 0; i--) {
        const f = t.frames[i]!;
        if (f.device === device && f.summary === e.summary) {
          e.frame = f.frame;
          return;
        }
      }
    }
    if (side !== "before") t.pending.push({ device, event: e });
  }

  /**
   * A capture wrote frame number `frame` (1-based, as Wireshark counts) of `pkt` seen on the
   * device named `device` (`owner/name`). Events waiting for this packet's next frame on that
   * device take it when it shows the same packet (a frame rewritten since, e.g. by a source
   * NAT the event came before, is not theirs).
   */
  frameCaptured(device: string, pkt: PacketBuffer, frame: number): void {
    let t = pkt.traceLinks;
    if (t === null || t.tracer !== this) t = pkt.traceLinks = new PacketTrace(this, 0);
    const summary = summarizeFrame(pkt.buf, pkt.head, pkt.tail - pkt.head);
    t.frames.push({ device, frame, summary });
    for (let i = 0; i < t.pending.length; ) {
      const p = t.pending[i]!;
      if (p.device !== device) {
        i++;
        continue;
      }
      if (p.event.summary === summary && p.event.frame === null) p.event.frame = frame;
      t.pending.splice(i, 1);
    }
  }

  clear(): void {
    this.events.length = 0;
  }
}

/** The name a capture gives a device: `owner/name` (as NetDevice.qualifiedName). */
export function captureName(netns: string, device: string): string {
  return netns ? `${netns}/${device}` : device;
}

/** The few fields of TracePacket, read through the wire views; never throws. */
export function describePacket(buf: Uint8Array, off: number, end: number, atIpv4: boolean): TracePacket | null {
  try {
    if (!atIpv4) {
      if (end - off < ETHERNET_HEADER_LEN) return null;
      const type = new EthernetFrame(buf, off).etherType();
      if (type === ETHERTYPE_ARP) {
        if (end - off < ETHERNET_HEADER_LEN + 28) return null;
        const a = new ArpPacket(buf, off + ETHERNET_HEADER_LEN);
        const op = a.operation();
        const info = op === ARP_REQUEST ? `who-has ${formatIpv4(a.targetIp())}` : op === ARP_REPLY ? `${formatIpv4(a.senderIp())} is-at ${formatMac(a.senderMac())}` : `op ${op}`;
        return { proto: "arp", src: formatIpv4(a.senderIp()), dst: formatIpv4(a.targetIp()), info };
      }
      if (type !== ETHERTYPE_IPV4) return null;
      off += ETHERNET_HEADER_LEN;
    }
    if (end - off < 20) return null;
    const ip = new Ipv4Packet(buf, off);
    const src = formatIpv4(ip.srcAddr());
    const dst = formatIpv4(ip.dstAddr());
    const proto = ip.protocol();
    const l4 = off + ip.headerLen();
    const l4Len = Math.min(end, off + ip.totalLen()) - l4;
    const firstFragment = ip.fragOffset() === 0;
    if (proto === IPPROTO_TCP && firstFragment && l4Len >= 20) {
      const tcp = new TcpPacket(buf, l4, l4Len);
      const data = l4Len - tcp.headerLen();
      return { proto: "tcp", src: `${src}:${tcp.srcPort()}`, dst: `${dst}:${tcp.dstPort()}`, info: `${tcpFlagsString(tcp.flags())}${data > 0 ? ` ${data} bytes` : ""}` };
    }
    if (proto === IPPROTO_UDP && firstFragment && l4Len >= 8) {
      const udp = new UdpPacket(buf, l4);
      const what = udp.dstPort() === VXLAN_PORT ? "VXLAN" : udp.srcPort() === 53 || udp.dstPort() === 53 ? "DNS" : "";
      return { proto: "udp", src: `${src}:${udp.srcPort()}`, dst: `${dst}:${udp.dstPort()}`, info: `${what ? `${what}, ` : ""}${l4Len - 8} bytes` };
    }
    if (proto === IPPROTO_ICMP && firstFragment && l4Len >= 8) {
      const icmp = new IcmpPacket(buf, l4, l4Len);
      return { proto: "icmp", src, dst, info: icmpTypeName(icmp.type(), icmp.code()) };
    }
    if (proto === IPPROTO_SCTP && firstFragment && l4Len >= 12) {
      const sctp = new SctpPacket(buf, l4, l4Len);
      const chunks: string[] = [];
      sctp.forEachChunk((type) => {
        chunks.push(sctpChunkName(type));
      });
      return { proto: "sctp", src: `${src}:${sctp.srcPort()}`, dst: `${dst}:${sctp.dstPort()}`, info: chunks.join(" ") };
    }
    return { proto: `ip-proto-${proto}`, src, dst, info: "" };
  } catch {
    return null;
  }
}

function icmpTypeName(type: number, code: number): string {
  switch (type) {
    case 0:
      return "echo reply";
    case 8:
      return "echo request";
    case 3:
      return ["net unreachable", "host unreachable", "protocol unreachable", "port unreachable", "fragmentation needed"][code] ?? `unreachable code ${code}`;
    case 11:
      return "time exceeded";
    default:
      return `type ${type} code ${code}`;
  }
}
