/**
 * The timing model: how much virtual time each hop of a frame costs. Every step that the
 * kernel does in a separate pass (a veth crossing, a bridge's forwarding decision, the IPv4
 * stack's receive path, VXLAN encapsulation and decapsulation, a wire between hosts) moves
 * the frame forward on the virtual clock, so a capture's timestamps differ from hop to hop
 * and Wireshark's delta and RTT columns mean something. The figures are of the order a
 * Linux host shows (single-digit µs per software hop, tens of µs across a LAN); they are
 * fixed, so a run stays a pure function of its inputs and seed.
 */

/** A veth crossing: veth_xmit → the peer's backlog → its softirq (veth.ts). */
export const VETH_CROSSING_NS = 1_000;
/** Loopback: loopback_xmit → netif_rx → the same namespace's softirq (loopback.ts). */
export const LOOPBACK_CROSSING_NS = 500;
/**
 * A bridge's forwarding step: from a frame entering on a port (when `tcpdump -i cni0` sees
 * it) to its FDB lookup, br_netfilter's hooks and the output port or the local stack.
 */
export const BRIDGE_FORWARD_NS = 1_000;
/**
 * The IPv4 stack's receive path: ip_rcv, conntrack and the netfilter hooks (PREROUTING,
 * then INPUT or FORWARD and POSTROUTING), the route lookup, and the socket or the output
 * device. A flat cost per packet: the rules a packet walks are counted (and benchmarked)
 * but do not change the virtual time.
 */
export const STACK_RX_NS = 2_000;
/** VXLAN encapsulation: from `flannel.1` taking the inner frame to the outer packet's output. */
export const VXLAN_ENCAP_NS = 2_000;
/** VXLAN decapsulation: from the outer UDP datagram's delivery to the inner frame on `flannel.1`. */
export const VXLAN_DECAP_NS = 2_000;
/** The node network: one wire between a host's `eth0` and the switch (each way, per hop). */
export const NODE_LINK_NS = 20_000;
/**
 * TCP: an application's answer to what its socket delivered (the wakeup and the syscall),
 * from the segment's delivery to the application's first segment.
 */
export const APP_RESPONSE_NS = 5_000;
/** TCP: the least time between two segments one socket sends back to back. */
export const TCP_SEGMENT_GAP_NS = 1_000;

/** Steps a device can schedule for a frame it holds (Simulator.resumeLater → NetDevice.resume). */
export const STEP_RECEIVE = 0;
/** Hand the frame to the device's rx handler (the stack), after STACK_RX_NS. */
export const STEP_HANDLER = 1;
/** A bridge's forwarding step, after BRIDGE_FORWARD_NS. */
export const STEP_BRIDGE = 2;
/** A VXLAN device's encapsulation, after VXLAN_ENCAP_NS. */
export const STEP_ENCAP = 3;
