import { ipv4, parseCidr } from "../../src/base/index.js";
import { type CaptureTap, type NetDevice, type PacketBuffer, Simulator, createVethPair } from "../../src/netdev/index.js";
import { NetworkNamespace } from "../../src/netns/index.js";
import { summarizeFrame } from "../../src/wire/index.js";

/** Records a tcpdump-like line per frame seen on the tapped devices. */
export class Recorder implements CaptureTap {
  readonly lines: string[] = [];
  readonly frames: Uint8Array[] = [];
  capture(dev: NetDevice, dir: "rx" | "tx", pkt: PacketBuffer): void {
    this.lines.push(`${dev.qualifiedName} ${dir} ${summarizeFrame(pkt.buf, pkt.head, pkt.tail - pkt.head)}`);
    this.frames.push(pkt.buf.slice(pkt.head, pkt.tail));
  }
}

/**
 *   a (10.0.1.2/24) ── veth ── r (10.0.1.1/24 | 10.0.2.1/24, forwarding) ── veth ── b (10.0.2.2/24)
 * a and b route everything via r. `mtuAB` sets the MTU of r's link to b.
 */
export function routedPair(opts: { mtuToB?: number } = {}) {
  const sim = new Simulator(7);
  const a = new NetworkNamespace(sim, "a");
  const r = new NetworkNamespace(sim, "r");
  const b = new NetworkNamespace(sim, "b");
  r.ipForward = true;
  const [aEth, rEth1] = createVethPair(sim, { name: "eth0", mac: 0x020000000a02 }, { name: "eth1", mac: 0x020000000a01 });
  const [rEth2, bEth] = createVethPair(sim, { name: "eth2", mac: 0x020000000b01, mtu: opts.mtuToB ?? 1500 }, { name: "eth0", mac: 0x020000000b02, mtu: opts.mtuToB ?? 1500 });
  a.addDevice(aEth);
  r.addDevice(rEth1);
  r.addDevice(rEth2);
  b.addDevice(bEth);
  a.addAddress(aEth, ipv4("10.0.1.2"), 24);
  r.addAddress(rEth1, ipv4("10.0.1.1"), 24);
  r.addAddress(rEth2, ipv4("10.0.2.1"), 24);
  b.addAddress(bEth, ipv4("10.0.2.2"), 24);
  a.addRoute(parseCidr("0.0.0.0/0")!, aEth, { gateway: ipv4("10.0.1.1") });
  b.addRoute(parseCidr("0.0.0.0/0")!, bEth, { gateway: ipv4("10.0.2.1") });
  const rec = new Recorder();
  for (const d of [aEth, rEth1, rEth2, bEth]) d.taps.push(rec);
  return { sim, a, r, b, aEth, rEth1, rEth2, bEth, rec };
}
