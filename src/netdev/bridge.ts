/**
 * A Linux-like bridge (`cni0`, or the node network's switch): learns source MACs per port
 * with ageing, forwards known unicast to one port, floods broadcast, multicast and unknown
 * unicast to every other port, and never sends a frame back out of the port it came in on
 * unless that port has hairpin mode on (the kernel's `br_allowed_egress` / hairpin rule).
 * The bridge is also a device of its own netns: frames for its MAC go up to that stack.
 * With `bridge-nf-call-iptables` the IPv4 hooks run on bridged frames (br_netfilter), and a
 * frame whose destination PREROUTING rewrote to an address behind this same bridge stays
 * bridged ("bridged DNAT"), with the new destination's MAC — never routed.
 */
import { NetDevice, type RxHandler } from "./device.js";
import { ETHERTYPE_IPV4, eth } from "../wire/ethernet.js";
import type { PacketBuffer } from "./packet-buffer.js";
import type { Simulator } from "./simulator.js";
import { BRIDGE_FORWARD_NS, STACK_RX_NS, STEP_BRIDGE } from "./timing.js";

/** The kernel's default FDB ageing time (`ageing_time` 300 s). */
export const DEFAULT_AGEING_NS = 300 * 1_000_000_000;

interface FdbEntry {
  port: NetDevice;
  updated: number;
}

/** bridgePreRouting's answers: drop the frame, … */
export const BR_NF_DROP = 0;
/** … go on bridging it by its (possibly rewritten) destination MAC, … */
export const BR_NF_CONTINUE = 1;
/** … the hook holds it (it answered it itself), … */
export const BR_NF_STOLEN = 2;
/**
 * … or it stays bridged but was DNATed to a next hop whose MAC is not at hand
 * (`brNfBridgedDnat` set): at the forwarding step it goes to the neighbour output
 * (bridgeNeighOutput), and comes back through the bridge's own xmit once resolved
 * (br_dev_xmit → br_nf_pre_routing_finish_bridge_slow).
 */
export const BR_NF_NEIGH = 3;

/**
 * Hooks the bridge calls on bridged IPv4 frames when `bridge-nf-call-iptables` is on, as
 * br_netfilter does: PREROUTING on entry (with br_nf_pre_routing_finish's decision when it
 * changed the destination address: a BR_NF_* answer), FORWARD between ports (false drops).
 */
export interface BridgeNetfilterHooks {
  bridgePreRouting(bridge: Bridge, inPort: NetDevice, pkt: PacketBuffer): number;
  bridgeForward(bridge: Bridge, inPort: NetDevice, outPort: NetDevice, pkt: PacketBuffer): boolean;
  /** Hands a BR_NF_NEIGH frame to its next hop's neighbour output (an ARP from the bridge when unresolved). */
  bridgeNeighOutput(bridge: Bridge, pkt: PacketBuffer): void;
}

export class Bridge extends NetDevice implements RxHandler {
  readonly kind = "bridge" as const;
  readonly ports: NetDevice[] = [];
  private readonly fdb = new Map<number, FdbEntry>();
  ageingNs = DEFAULT_AGEING_NS;
  /** `net.bridge.bridge-nf-call-iptables`: on in Kubernetes nodes. */
  nfCallIptables = false;
  nfHooks: BridgeNetfilterHooks | null = null;
  /** Ports hand frames over at once; the forwarding step costs `forwardNs` (timing.ts). */
  readonly rxDelayNs = 0;
  forwardNs = BRIDGE_FORWARD_NS;

  constructor(sim: Simulator, name: string, mac: number, mtu = 1500) {
    super(sim, name, mac, mtu);
  }

  /** Enslaves `dev` (`ip link set dev master br`). */
  addPort(dev: NetDevice): void {
    if (dev.rxHandler !== null && dev.rxHandler !== this) throw new Error(`${dev.name} already has an owner`);
    dev.rxHandler = this;
    this.ports.push(dev);
  }

  /**
   * Releases a port (`ip link set dev X nomaster`, or the port's deletion): the bridge
   * forgets every FDB entry learned on it (br_fdb_delete_by_port), so frames for those MACs
   * are flooded again.
   */
  removePort(dev: NetDevice): void {
    const i = this.ports.indexOf(dev);
    if (i < 0) return;
    this.ports.splice(i, 1);
    for (const [mac, e] of this.fdb) if (e.port === dev) this.fdb.delete(mac);
    if (dev.rxHandler === this) dev.rxHandler = null;
  }

  /** The port a MAC was learned on, if the entry has not aged out. */
  lookup(mac: number): NetDevice | null {
    const e = this.fdb.get(mac);
    if (!e) return null;
    if (this.sim.now() - e.updated > this.ageingNs) {
      this.fdb.delete(mac);
      return null;
    }
    return e.port;
  }

  /** FDB entries as `bridge fdb show` would list them (for the topology printer and tests). */
  fdbEntries(): { mac: number; port: string; ageNs: number }[] {
    const now = this.sim.now();
    const out: { mac: number; port: string; ageNs: number }[] = [];
    for (const [mac, e] of this.fdb) {
      if (now - e.updated <= this.ageingNs) out.push({ mac, port: e.port.name, ageNs: now - e.updated });
    }
    return out;
  }

  /** A port's softirq pass: the forwarding step, and the stack's receive path for frames that go up. */
  softirqPassNs(_port: NetDevice, pkt: PacketBuffer): number {
    const up = eth.isGroupDst(pkt.buf, pkt.head) || eth.dst(pkt.buf, pkt.head) === this.mac;
    return this.forwardNs + (up ? STACK_RX_NS : 0);
  }

  /**
   * A frame arrived on one of the ports (br_handle_frame): learned, then br_netfilter's
   * PREROUTING (NF_BR_PRE_ROUTING), then the forwarding step after `forwardNs`.
   */
  handleFrame(inPort: NetDevice, pkt: PacketBuffer): void {
    const buf = pkt.buf;
    const off = pkt.head;
    pkt.bridgePort = inPort;
    const src = eth.src(buf, off);
    if (!eth.isGroupSrc(buf, off)) this.learn(src, inPort);
    let neigh = false;
    if (this.nfCallIptables && this.nfHooks !== null && isIpv4(buf, off)) {
      const v = this.nfHooks.bridgePreRouting(this, inPort, pkt);
      if (v === BR_NF_STOLEN) return;
      if (v === BR_NF_DROP) {
        this.stats.countDrop("netfilter-prerouting");
        this.sim.pool.release(pkt);
        return;
      }
      neigh = v === BR_NF_NEIGH;
    }
    // tcpdump on the bridge device puts it in promiscuous mode: br_handle_frame_finish then
    // hands it every frame (local_rcv), as it is after PREROUTING — a DNATed frame with its
    // new destination, as a real capture on a bridge shows it. A frame that goes through the
    // neighbour output first is seen when the bridge sends it (transmit).
    if (this.taps.length !== 0 && !neigh) this.tap("rx", pkt);
    if (this.forwardNs > 0) this.sim.resumeLater(this, pkt, this.forwardNs, STEP_BRIDGE);
    else this.forwardStep(inPort, pkt);
  }

  override resume(pkt: PacketBuffer, step: number): void {
    if (step === STEP_BRIDGE) this.forwardStep(pkt.bridgePort!, pkt);
    else super.resume(pkt, step);
  }

  private forwardStep(inPort: NetDevice, pkt: PacketBuffer): void {
    if (pkt.brNfBridgedDnat && this.nfHooks !== null) this.nfHooks.bridgeNeighOutput(this, pkt);
    else this.handleFrameFinish(inPort, pkt);
  }

  /**
   * br_handle_frame_finish: group frames flood (and go up), the bridge's own MAC goes up,
   * a learned MAC goes to its port — never back out of the port it came in on unless that
   * port is in hairpin mode (should_deliver) — and an unknown one floods.
   */
  private handleFrameFinish(inPort: NetDevice, pkt: PacketBuffer): void {
    const buf = pkt.buf;
    const off = pkt.head;
    if (eth.isGroupDst(buf, off)) {
      this.flood(inPort, pkt, true);
      return;
    }
    const dst = eth.dst(buf, off);
    if (dst === this.mac) {
      this.passUp(pkt);
      return;
    }
    const out = this.lookup(dst);
    if (out === null) {
      this.flood(inPort, pkt, false);
      return;
    }
    if (out === inPort && !inPort.hairpin) {
      this.dropFrame(pkt, "same-port-no-hairpin");
      return;
    }
    this.forward(inPort, out, pkt);
  }

  /** The bridge's own stack sends a frame out through the bridge (e.g. cni0 as gateway). */
  transmit(pkt: PacketBuffer): void {
    const buf = pkt.buf;
    const off = pkt.head;
    if (pkt.brNfBridgedDnat && pkt.bridgePort !== null) {
      // br_dev_xmit → br_nf_pre_routing_finish_bridge_slow: a bridged DNATed frame whose
      // next hop the neighbour layer just resolved. Its destination MAC is the neighbour's;
      // the source MAC it came in with is put back (a capture on the bridge shows it leaving
      // so), and it is bridged from its ingress port.
      pkt.brNfBridgedDnat = false;
      eth.setSrc(buf, off, pkt.brNfSrcMac);
      this.countTx(pkt);
      this.handleFrameFinish(pkt.bridgePort, pkt);
      return;
    }
    this.countTx(pkt);
    if (!eth.isGroupDst(buf, off)) {
      const out = this.lookup(eth.dst(buf, off));
      if (out !== null) {
        if (this.sim.tracer) this.sim.trace(this.owner, this.name, "bridge-forward", `to port ${out.name} (fdb)`, pkt);
        out.transmit(pkt);
        return;
      }
    }
    this.floodPorts(null, pkt);
  }

  private learn(mac: number, port: NetDevice): void {
    const e = this.fdb.get(mac);
    if (e) {
      e.port = port;
      e.updated = this.sim.now();
    } else {
      this.fdb.set(mac, { port, updated: this.sim.now() });
    }
  }

  private forward(inPort: NetDevice, out: NetDevice, pkt: PacketBuffer): void {
    if (this.nfCallIptables && this.nfHooks !== null && isIpv4(pkt.buf, pkt.head)) {
      if (!this.nfHooks.bridgeForward(this, inPort, out, pkt)) {
        this.dropFrame(pkt, "netfilter-forward");
        return;
      }
    }
    if (this.sim.tracer) this.sim.trace(this.owner, this.name, "bridge-forward", `${inPort.name} → ${out.name} (fdb)`, pkt);
    out.transmit(pkt);
  }

  /** Floods to every port but the ingress one (hairpin ports get it back too); optionally up. */
  private flood(inPort: NetDevice, pkt: PacketBuffer, alsoLocal: boolean): void {
    if (this.sim.tracer) {
      this.sim.trace(this.owner, this.name, "bridge-flood", `from ${inPort.name}${alsoLocal ? " (and up to the host)" : " (unknown unicast)"}`, pkt);
    }
    if (alsoLocal && this.rxHandler !== null) {
      const up = this.sim.pool.clone(pkt);
      this.passUp(up);
    }
    this.floodPorts(inPort, pkt);
  }

  private floodPorts(inPort: NetDevice | null, pkt: PacketBuffer): void {
    let last: NetDevice | null = null;
    for (const p of this.ports) {
      if (p === inPort && !p.hairpin) continue;
      if (!p.up) continue;
      if (last !== null) last.transmit(this.sim.pool.clone(pkt));
      last = p;
    }
    if (last !== null) last.transmit(pkt);
    else this.sim.pool.release(pkt);
  }

  /** Hands a frame to the bridge device's own stack (the host netns). */
  private passUp(pkt: PacketBuffer): void {
    if (this.sim.tracer) this.sim.trace(this.owner, this.name, "bridge-local", "up to the host stack", pkt);
    this.stats.rxPackets++;
    this.stats.rxBytes += pkt.tail - pkt.head;
    pkt.ingress = this;
    if (this.rxHandler === null) {
      this.dropFrame(pkt, "no-local-stack");
      return;
    }
    this.handUp(pkt);
  }

  private dropFrame(pkt: PacketBuffer, reason: string): void {
    this.drop(pkt, reason);
  }
}

function isIpv4(buf: Uint8Array, off: number): boolean {
  return eth.etherType(buf, off) === ETHERTYPE_IPV4;
}
