/**
 * A Linux-like bridge (`cni0`, or the node network's switch): learns source MACs per port
 * with ageing, forwards known unicast to one port, floods broadcast, multicast and unknown
 * unicast to every other port, and never sends a frame back out of the port it came in on
 * unless that port has hairpin mode on (the kernel's `br_allowed_egress` / hairpin rule).
 * The bridge is also a device of its own netns: frames for its MAC go up to that stack.
 */
import { NetDevice, type RxHandler } from "./device.js";
import { isGroupDst, macAt } from "./frame-peek.js";
import type { PacketBuffer } from "./packet-buffer.js";
import type { Simulator } from "./simulator.js";
import { BRIDGE_FORWARD_NS, STEP_BRIDGE } from "./timing.js";

/** The kernel's default FDB ageing time (`ageing_time` 300 s). */
export const DEFAULT_AGEING_NS = 300 * 1_000_000_000;

interface FdbEntry {
  port: NetDevice;
  updated: number;
}

/**
 * Hooks the bridge calls on bridged IPv4 frames when `bridge-nf-call-iptables` is on, as
 * br_netfilter does: PREROUTING on entry, FORWARD between ports. Returning false drops.
 */
export interface BridgeNetfilterHooks {
  bridgePreRouting(bridge: Bridge, inPort: NetDevice, pkt: PacketBuffer): boolean;
  bridgeForward(bridge: Bridge, inPort: NetDevice, outPort: NetDevice, pkt: PacketBuffer): boolean;
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

  /** A frame arrived on one of the ports. */
  handleFrame(inPort: NetDevice, pkt: PacketBuffer): void {
    const buf = pkt.buf;
    const off = pkt.head;
    pkt.bridgePort = inPort;
    const src = macAt(buf, off + 6);
    if (!isGroupDst(buf, off + 6)) this.learn(src, inPort);
    // tcpdump on the bridge device puts it in promiscuous mode and sees every frame that enters.
    if (this.taps.length !== 0) this.tap("rx", pkt);
    if (this.forwardNs > 0) this.sim.resumeLater(this, pkt, this.forwardNs, STEP_BRIDGE);
    else this.forwardFrame(inPort, pkt);
  }

  override resume(pkt: PacketBuffer, step: number): void {
    if (step === STEP_BRIDGE) this.forwardFrame(pkt.bridgePort!, pkt);
    else super.resume(pkt, step);
  }

  /** The forwarding step: br_netfilter's PREROUTING, then up, flood or the FDB's port. */
  private forwardFrame(inPort: NetDevice, pkt: PacketBuffer): void {
    const buf = pkt.buf;
    const off = pkt.head;
    if (this.nfCallIptables && this.nfHooks !== null && isIpv4(buf, off)) {
      if (!this.nfHooks.bridgePreRouting(this, inPort, pkt)) {
        this.stats.countDrop("netfilter-prerouting");
        this.sim.pool.release(pkt);
        return;
      }
    }

    if (isGroupDst(buf, off)) {
      this.flood(inPort, pkt, true);
      return;
    }
    const dst = macAt(buf, off);
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
    this.countTx(pkt);
    const buf = pkt.buf;
    const off = pkt.head;
    if (!isGroupDst(buf, off)) {
      const out = this.lookup(macAt(buf, off));
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
  return buf[off + 12] === 0x08 && buf[off + 13] === 0x00;
}
