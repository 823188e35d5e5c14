/**
 * A VXLAN device (RFC 7348) configured the way flannel configures `flannel.1`: VNI 1,
 * destination port 8472, an FDB that maps each remote node's VTEP MAC to that node's IP
 * (`bridge fdb append <mac> dev flannel.1 dst <node-ip>`), and no learning. Transmit wraps
 * the inner Ethernet frame in VXLAN/UDP/IPv4 in the packet's headroom (no copy) and hands
 * it to the underlay stack, which routes it, resolves the next hop and adds Ethernet.
 */
import { formatIpv4, formatMac } from "../base/index.js";
import {
  ETHERNET_HEADER_LEN,
  ETHERTYPE_IPV4,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_MIN_HEADER_LEN,
  PORTS_LEN,
  UDP_HEADER_LEN,
  VXLAN_HEADER_LEN,
  VXLAN_PORT,
  eth,
  ipv4,
  ports,
  prependIpv4,
  prependUdp,
  prependVxlan,
  vxlan,
} from "../wire/index.js";
import { NetDevice } from "./device.js";
import type { PacketBuffer } from "./packet-buffer.js";
import type { Simulator } from "./simulator.js";
import { STEP_ENCAP, VXLAN_DECAP_NS, VXLAN_ENCAP_NS } from "./timing.js";

export const FLANNEL_VXLAN_PORT = VXLAN_PORT;
/** Outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 = 50; flannel sets the MTU to eth0's − 50. */
export const VXLAN_OVERHEAD = ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN + UDP_HEADER_LEN + VXLAN_HEADER_LEN;
/** Linux's default local port range, which `udp_flow_src_port` spreads source ports over. */
const SRC_PORT_MIN = 32768;
const SRC_PORT_MAX = 61000;

/** The netns side that carries encapsulated packets: routing, neighbours, Ethernet. */
export interface UnderlayStack {
  /** Sends a locally generated IPv4 packet (`pkt.head` at its IPv4 header). Takes ownership. */
  sendIpv4(pkt: PacketBuffer): void;
}

export class VxlanDevice extends NetDevice {
  readonly kind = "vxlan" as const;
  /** Remote VTEP MAC → remote node IP. */
  readonly fdb = new Map<number, number>();
  underlay: UnderlayStack | null = null;
  /**
   * `ethtool -K flannel.1 tx-checksum-ip-generic on|off` (on by default: a VXLAN device
   * advertises NETIF_F_HW_CSUM). On, a TCP packet whose checksum its sender left to the
   * device stays CHECKSUM_PARTIAL through encapsulation (the underlay NIC finishes it); off,
   * validate_xmit_skb computes it in software before the device sees it.
   */
  txChecksumOffload = true;
  private ident = 0;

  constructor(
    sim: Simulator,
    name: string,
    mac: number,
    mtu: number,
    readonly vni: number,
    /** This node's VTEP address (its node IP). */
    readonly localIp: number,
    readonly port = FLANNEL_VXLAN_PORT,
  ) {
    super(sim, name, mac, mtu);
  }

  transmit(pkt: PacketBuffer): void {
    this.countTx(pkt);
    const remote = this.fdb.get(eth.dst(pkt.buf, pkt.head));
    if (remote === undefined) {
      this.drop(pkt, "vxlan-no-fdb-entry", "tx");
      return;
    }
    if (this.underlay === null) {
      this.drop(pkt, "vxlan-no-underlay", "tx");
      return;
    }
    // Encapsulation costs virtual time: the outer packet leaves VXLAN_ENCAP_NS later.
    this.sim.resumeLater(this, pkt, VXLAN_ENCAP_NS, STEP_ENCAP);
  }

  override resume(pkt: PacketBuffer, step: number): void {
    if (step === STEP_ENCAP) this.encapsulate(pkt);
    else super.resume(pkt, step);
  }

  private encapsulate(pkt: PacketBuffer): void {
    const remote = this.fdb.get(eth.dst(pkt.buf, pkt.head));
    if (remote === undefined || this.underlay === null) {
      this.drop(pkt, remote === undefined ? "vxlan-no-fdb-entry" : "vxlan-no-underlay", "tx");
      return;
    }
    pkt.scrub();
    // skb_csum_hwoffload_help: without the feature the checksum is done here, in software.
    if (!this.txChecksumOffload) pkt.csumPartial = false;
    const srcPort = flowSourcePort(pkt.buf, pkt.head, pkt.tail - pkt.head);
    prependVxlan(pkt, this.vni);
    // The kernel's VXLAN device sends IPv4 UDP with a zero checksum unless `udpcsum` is set,
    // and flannel does not set it (RFC 7348 §5 allows a zero UDP checksum).
    prependUdp(pkt, this.localIp, remote, srcPort, this.port, false);
    // Outer DF is clear and TTL 64 by default (vxlan `df unset`, `ttl auto`).
    this.ident = (this.ident + 1) & 0xffff;
    prependIpv4(pkt, { src: this.localIp, dst: remote, protocol: IPPROTO_UDP, ttl: 64, ident: this.ident, dontFrag: false });
    if (this.sim.tracer) {
      this.sim.trace(this.owner, this.name, "encap", `VXLAN vni ${this.vni} → VTEP ${formatIpv4(remote)}:${this.port}`, pkt, true);
    }
    this.underlay.sendIpv4(pkt);
  }

  /**
   * A UDP datagram for our port arrived at the underlay stack; `pkt.head` is at the VXLAN
   * header. Strips it and receives the inner frame on this device.
   */
  decapsulate(pkt: PacketBuffer): void {
    const b = pkt.buf;
    const h = pkt.head;
    if (pkt.tail - h < VXLAN_HEADER_LEN + ETHERNET_HEADER_LEN || !vxlan.hasVni(b, h)) {
      this.drop(pkt, "vxlan-malformed");
      return;
    }
    const vni = vxlan.vni(b, h);
    if (vni !== this.vni) {
      this.drop(pkt, "vxlan-unknown-vni");
      return;
    }
    pkt.pull(VXLAN_HEADER_LEN);
    pkt.scrub();
    // The inner frame is a new arrival: its own softirq pass, its checksum already checked.
    pkt.softirq = null;
    pkt.csumPartial = false;
    if (this.sim.tracer) this.sim.trace(this.owner, this.name, "decap", `VXLAN vni ${vni}`, pkt);
    // The inner frame arrives on this device VXLAN_DECAP_NS later.
    this.sim.deliverLater(this, pkt, VXLAN_DECAP_NS);
  }

  /** FDB as `bridge fdb show dev flannel.1` prints it. */
  fdbLines(): string[] {
    return [...this.fdb].map(([mac, ip]) => `${formatMac(mac)} dev ${this.name} dst ${formatIpv4(ip)} self permanent`);
  }
}

/**
 * The outer UDP source port, from a hash of the inner flow, as `udp_flow_src_port` does so
 * that ECMP in the underlay keeps one flow on one path. The hash here is FNV-1a over the
 * inner IPv4 addresses, protocol and ports (the kernel uses its flow dissector's jhash).
 */
export function flowSourcePort(buf: Uint8Array, off: number, len: number): number {
  let h = 0x811c9dc5;
  if (len >= ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN && eth.etherType(buf, off) === ETHERTYPE_IPV4) {
    const ip = eth.payloadOffset(buf, off);
    // Each value's bytes, most significant first (the order they have on the wire).
    const src = ipv4.src(buf, ip);
    h = Math.imul(h ^ (src >>> 24), FNV_PRIME);
    h = Math.imul(h ^ ((src >>> 16) & 255), FNV_PRIME);
    h = Math.imul(h ^ ((src >>> 8) & 255), FNV_PRIME);
    h = Math.imul(h ^ (src & 255), FNV_PRIME);
    const dst = ipv4.dst(buf, ip);
    h = Math.imul(h ^ (dst >>> 24), FNV_PRIME);
    h = Math.imul(h ^ ((dst >>> 16) & 255), FNV_PRIME);
    h = Math.imul(h ^ ((dst >>> 8) & 255), FNV_PRIME);
    h = Math.imul(h ^ (dst & 255), FNV_PRIME);
    const proto = ipv4.protocol(buf, ip);
    h = Math.imul(h ^ proto, FNV_PRIME);
    const l4 = ipv4.payloadOffset(buf, ip);
    if ((proto === IPPROTO_TCP || proto === IPPROTO_UDP) && off + len >= l4 + PORTS_LEN) {
      const sport = ports.src(buf, l4);
      const dport = ports.dst(buf, l4);
      h = Math.imul(h ^ (sport >>> 8), FNV_PRIME);
      h = Math.imul(h ^ (sport & 255), FNV_PRIME);
      h = Math.imul(h ^ (dport >>> 8), FNV_PRIME);
      h = Math.imul(h ^ (dport & 255), FNV_PRIME);
    }
  } else {
    // Not IPv4: the two MAC addresses, byte by byte.
    for (let i = 0; i < 12 && i < len; i++) h = Math.imul(h ^ buf[off + i]!, FNV_PRIME);
  }
  return Math.floor(((h >>> 0) * (SRC_PORT_MAX - SRC_PORT_MIN)) / 4294967296) + SRC_PORT_MIN;
}

const FNV_PRIME = 0x01000193;
