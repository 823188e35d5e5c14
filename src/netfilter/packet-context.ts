/**
 * What the matches see of one packet at one hook: header fields parsed once, plus the
 * metadata the kernel keeps beside the skb (interfaces, bridge ports, mark, conntrack
 * state). One context object is reused for every packet, so classification allocates
 * nothing.
 */
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
    this.src = ((buf[h + 12]! << 24) | (buf[h + 13]! << 16) | (buf[h + 14]! << 8) | buf[h + 15]!) >>> 0;
    this.dst = ((buf[h + 16]! << 24) | (buf[h + 17]! << 16) | (buf[h + 18]! << 8) | buf[h + 19]!) >>> 0;
    this.proto = buf[h + 9]!;
    this.fragment = (((buf[h + 6]! & 0x1f) << 8) | buf[h + 7]!) !== 0;
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
    const l4 = h + (buf[h]! & 0x0f) * 4;
    const avail = ipOff + len - l4;
    const p = this.proto;
    if ((p === 6 || p === 17 || p === 132) && avail >= 4) {
      this.sport = (buf[l4]! << 8) | buf[l4 + 1]!;
      this.dport = (buf[l4 + 2]! << 8) | buf[l4 + 3]!;
      this.hasPorts = true;
      if (p === 6 && avail >= 14) this.tcpFlags = buf[l4 + 13]!;
    } else if (p === 1 && avail >= 2) {
      this.icmpType = buf[l4]!;
      this.icmpCode = buf[l4 + 1]!;
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
