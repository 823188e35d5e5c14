/**
 * Where netfilter plugs into a namespace: the five IPv4 hooks, called at the points the
 * kernel calls NF_HOOK (ip_rcv, ip_local_deliver, ip_forward, __ip_local_out, ip_output).
 * With no hooks installed every packet is accepted. `pkt.head` is at the IPv4 header.
 */
import type { NetDevice, PacketBuffer } from "../netdev/index.js";
import type { NetworkNamespace } from "./netns.js";

export const NF_DROP = 0;
export const NF_ACCEPT = 1;
/** The hook consumed the packet (e.g. queued or answered it); the stack must not touch it. */
export const NF_STOLEN = 2;
export type NfVerdict = typeof NF_DROP | typeof NF_ACCEPT | typeof NF_STOLEN;

export interface NetfilterHooks {
  prerouting(ns: NetworkNamespace, pkt: PacketBuffer, inDev: NetDevice): NfVerdict;
  input(ns: NetworkNamespace, pkt: PacketBuffer, inDev: NetDevice): NfVerdict;
  forward(ns: NetworkNamespace, pkt: PacketBuffer, inDev: NetDevice, outDev: NetDevice): NfVerdict;
  output(ns: NetworkNamespace, pkt: PacketBuffer, outDev: NetDevice): NfVerdict;
  postrouting(ns: NetworkNamespace, pkt: PacketBuffer, outDev: NetDevice): NfVerdict;
  /**
   * The conntrack confirmation that POSTROUTING or INPUT left for the end of the packet's
   * softirq pass (`pkt.confirmLate`; softirq.ts): run as the packet leaves.
   */
  confirmLate?(ns: NetworkNamespace, pkt: PacketBuffer): NfVerdict;
}
