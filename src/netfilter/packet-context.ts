/**
 * What the matches see of one packet at one hook: header fields parsed once, plus the
 * metadata the kernel keeps beside the skb (interfaces, bridge ports, mark, conntrack
 * state). One context object is reused for every packet, so classification allocates
 * nothing.
 */
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, ipv4 } from "../wire/ipv4.js";
import { icmp } from "../wire/icmp.js";
import { PORTS_LEN, ports } from "../wire/ports.js";
import { tcp } from "../wire/tcp.js";
import { CT_STATE_INVALID, type IpvsMethod } from "./model.js";

export type HookName = "PREROUTING" | "INPUT" | "FORWARD" | "OUTPUT" | "POSTROUTING";

export class PacketContext {
  buf: Uint8Array = new Uint8Array(0);
  /** Offset of the IPv4 header in `buf`. */
  ipOff = 0;
  /** Bytes of the IPv4 datagram (what rule counters add up). */
  len = 0;
  src = 0;
  dst = 0;
  proto = 0;
  /** True for non-first fragments (no transport header to look at). */
  fragment = false;
  /** TCP/UDP/SCTP ports; 0 when the packet has none. */
  sport = 0;
  dport = 0;
  hasPorts = false;
  tcpFlags = 0;
  /** -1 when the packet is not ICMP. */
  icmpType = -1;
  icmpCode = -1;
  /** Interface names; "" when the hook has none (no in-interface at OUTPUT, etc.). */
  inIface = "";
  outIface = "";
  /** Bridge ports, for bridged frames (br_netfilter): `physdev` matches look at these. */
  physIn = "";
  physOut = "";
  bridged = false;
  /** skb->mark; targets may change it and the caller copies it back. */
  mark = 0;
  /** The packet's conntrack state as XT_CONNTRACK_STATE bits (with SNAT/DNAT bits). */
  ctState = CT_STATE_INVALID;
  /** Conntrack status bits (IPS_*), 0 without a connection. */
  ctStatus = 0;
  hook: HookName = "PREROUTING";
  /**
   * IPVS metadata for the `ipvs` match (xt_ipvs). `load` resets them to "not an IPVS
   * packet"; whoever runs IPVS sets them afterwards with `setIpvs`.
   * - `ipvsProperty`: skb->ipvs_property, the packet was handled by IPVS.
   * - `ipvsMethod`: forwarding method of the IPVS connection found for the packet; "none"
   *   when there is no such connection (then every option but `--ipvs` fails).
   * - `ipvsVaddr` / `ipvsVport`: the connection's virtual address and port.
   * - `ipvsVportctl`: virtual port of the controlling connection, -1 when there is none.
   * - `ipvsDir`: conntrack direction of the packet; "none" without a conntrack entry.
   */
  ipvsProperty = false;
  ipvsMethod: IpvsMethod | "none" = "none";
  ipvsVaddr = 0;
  ipvsVport = 0;
  ipvsVportctl = -1;
  ipvsDir: "ORIGINAL" | "REPLY" | "none" = "none";

  /** Parses the headers of the IPv4 datagram at `buf[ipOff..ipOff+len)`. */
  load(buf: Uint8Array, ipOff: number, len: number): this {
    this.buf = buf;
    this.ipOff = ipOff;
    this.len = len;
    const h = ipOff;
    this.src = ipv4.src(buf, h);
    this.dst = ipv4.dst(buf, h);
    this.proto = ipv4.protocol(buf, h);
    this.fragment = ipv4.fragOffset(buf, h) !== 0;
    this.sport = 0;
    this.dport = 0;
    this.hasPorts = false;
    this.tcpFlags = 0;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.ipvsProperty = false;
    this.ipvsMethod = "none";
    this.ipvsVaddr = 0;
    this.ipvsVport = 0;
    this.ipvsVportctl = -1;
    this.ipvsDir = "none";
    if (this.fragment) return this;
    const l4 = ipv4.payloadOffset(buf, h);
    const avail = ipOff + len - l4;
    const p = this.proto;
    if ((p === IPPROTO_TCP || p === IPPROTO_UDP || p === IPPROTO_SCTP) && avail >= PORTS_LEN) {
      this.sport = ports.src(buf, l4);
      this.dport = ports.dst(buf, l4);
      this.hasPorts = true;
      // The flags byte is the 14th of the header: present in a segment cut that short.
      if (p === IPPROTO_TCP && avail >= 14) this.tcpFlags = tcp.flags(buf, l4);
    } else if (p === IPPROTO_ICMP && avail >= 2) {
      this.icmpType = icmp.type(buf, l4);
      this.icmpCode = icmp.code(buf, l4);
    }
    return this;
  }

  /** Sets the per-hook metadata. */
  at(hook: HookName, inIface: string, outIface: string, mark: number, ctState: number, ctStatus: number): this {
    this.hook = hook;
    this.inIface = inIface;
    this.outIface = outIface;
    this.mark = mark;
    this.ctState = ctState;
    this.ctStatus = ctStatus;
    this.physIn = "";
    this.physOut = "";
    this.bridged = false;
    return this;
  }

  /** Marks the packet as handled by IPVS, with the connection xt_ipvs would find for it. */
  setIpvs(method: IpvsMethod | "none", vaddr: number, vport: number, dir: "ORIGINAL" | "REPLY" | "none", vportctl = -1): this {
    this.ipvsProperty = true;
    this.ipvsMethod = method;
    this.ipvsVaddr = vaddr >>> 0;
    this.ipvsVport = vport;
    this.ipvsDir = dir;
    this.ipvsVportctl = vportctl;
    return this;
  }
}
