/**
 * One network namespace: its devices and addresses, routing table, neighbour tables and
 * the IPv4 receive / forward / output paths, modelled on the kernel's ip_rcv →
 * ip_route_input → ip_local_deliver | ip_forward → ip_output → neighbour output, with the
 * netfilter hooks called where the kernel calls them. `pkt.head` is at the Ethernet header
 * while a frame is on a device and at the IPv4 header inside the stack.
 */
import { type Ipv4Cidr, formatIpv4, formatMac, prefixMask } from "../base/index.js";
import {
  BR_NF_CONTINUE,
  BR_NF_DROP,
  BR_NF_NEIGH,
  Loopback,
  type NetDevice,
  type PacketBuffer,
  type RxHandler,
  type Simulator,
  SoftirqCpus,
  type TimerTask,
  type UnderlayStack,
  VxlanDevice,
} from "../netdev/index.js";
import {
  ARP_REPLY,
  ARP_REQUEST,
  type ArpRepr,
  ETHERNET_HEADER_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ICMP_DST_UNREACHABLE as ICMP_DEST_UNREACH,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST as ICMP_ECHO,
  ICMP_FRAG_NEEDED,
  ICMP_HEADER_LEN,
  ICMP_HOST_UNREACHABLE as ICMP_HOST_UNREACH,
  ICMP_INFO_REPLY,
  ICMP_INFO_REQUEST,
  ICMP_NET_UNREACHABLE as ICMP_NET_UNREACH,
  ICMP_PORT_UNREACHABLE as ICMP_PORT_UNREACH,
  ICMP_PROTO_UNREACHABLE as ICMP_PROT_UNREACH,
  ICMP_TIME_EXCEEDED,
  ICMP_TIMESTAMP,
  ICMP_TIMESTAMP_REPLY,
  IPPROTO_ICMP,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_MIN_HEADER_LEN,
  PORTS_LEN,
  UDP_HEADER_LEN,
  arp,
  buildArpFrame,
  eth,
  icmp,
  icmpQuoteLength,
  ipv4,
  ports,
  prependEthernet,
  prependIcmp,
  prependIpv4,
  prependUdp,
  udp,
} from "../wire/index.js";
import { NF_ACCEPT, NF_DROP, type NetfilterHooks } from "./hooks.js";
import { placePayload } from "./l4-build.js";
import { ARP_MAX_PROBES, ARP_RETRANS_NS, type NeighEntry, NeighbourTable, REACHABLE_TIME_NS, UNRES_QLEN_BYTES } from "./neighbour.js";
import { type Route, RouteTable, formatRoute } from "./route-table.js";
import { type DropReason, NetnsStats } from "./stats.js";
import { SctpStack } from "./sctp.js";
import { TcpStack } from "./tcp.js";

export interface InterfaceAddress {
  ip: number;
  prefixLen: number;
}

/** A device as this namespace sees it: addresses and a neighbour table. */
export interface Interface {
  dev: NetDevice;
  addrs: InterfaceAddress[];
  neigh: NeighbourTable;
}

/** Receives UDP datagrams for a bound port; `pkt.head` is at the IPv4 header. Owns `pkt`. */
export interface UdpHandler {
  onDatagram(ns: NetworkNamespace, pkt: PacketBuffer): void;
}

/** Receives ICMP echo replies for one identifier (a ping socket). Does not own `pkt`. */
export interface PingHandler {
  onEchoReply(ns: NetworkNamespace, pkt: PacketBuffer, seq: number): void;
}

/** What an ICMP error said about a packet this namespace sent. */
export interface IcmpErrorReport {
  type: number;
  code: number;
  /** The router or host that sent the error. */
  from: number;
  /** Next-hop MTU for "fragmentation needed". */
  mtu: number;
  /** The quoted datagram's addresses, protocol and ports (0 where absent). */
  origSrc: number;
  origDst: number;
  origProto: number;
  origSrcPort: number;
  origDstPort: number;
}

const LOOPBACK_NET = 0x7f000000;
/** net.ipv4.route.mtu_expires: a learned path MTU is forgotten after 10 minutes. */
const PMTU_EXPIRES_NS = 600_000_000_000;
const DEFAULT_TTL = 64;
/** Linux marks ICMP errors as network control traffic (IPTOS_PREC_INTERNETCONTROL). */
const TOS_INTERNETCONTROL = 0xc0;

export class NetworkNamespace implements RxHandler, UnderlayStack {
  readonly lo: Loopback;
  readonly interfaces = new Map<NetDevice, Interface>();
  readonly routes = new RouteTable();
  readonly stats = new NetnsStats();
  readonly tcp: TcpStack;
  readonly sctp: SctpStack;
  /** `net.ipv4.ip_forward`. */
  ipForward = false;
  /**
   * `net.ipv4.icmp_ratemask`: the ICMP types whose errors are rate limited per destination
   * (default 0x1818: destination unreachable, source quench, time exceeded, parameter problem).
   */
  icmpRatemask = 0x1818;
  /** `net.ipv4.icmp_ratelimit` in ms: one token per this interval, a burst of six. */
  icmpRatelimitMs = 1000;
  /** Per-destination token buckets of the ICMP rate limit (the kernel keeps them in inet_peer). */
  private readonly icmpPeers = new Map<number, { tokens: number; last: number }>();
  /** Netfilter hooks; null means every hook accepts. */
  nf: NetfilterHooks | null = null;
  private softirqCpus: SoftirqCpus | null = null;
  private readonly localAddrs = new Map<number, Interface>();
  /** Directed broadcast addresses of the subnets on our interfaces (the kernel's local table has them). */
  private readonly broadcastAddrs = new Map<number, number>();
  private readonly udpSockets = new Map<number, UdpHandler>();
  /** The peers of connected UDP sockets, by local port. */
  private readonly udpPeers = new Map<number, { ip: number; port: number }>();
  private readonly pingSockets = new Map<number, PingHandler>();
  /** Path MTUs learned from ICMP "fragmentation needed" (the route's nexthop exceptions), by destination. */
  private readonly pmtus = new Map<number, { mtu: number; expires: number }>();
  /** Callbacks told about ICMP errors that reach this namespace (what a socket's error queue gets). */
  readonly icmpErrorListeners: ((ns: NetworkNamespace, report: IcmpErrorReport) => void)[] = [];
  private ipIdent: number;

  constructor(
    readonly sim: Simulator,
    /** Node name or `pod/NS/NAME`; shown in traces and capture interface names. */
    readonly name: string,
  ) {
    this.ipIdent = sim.rng.nextU32() & 0xffff;
    this.lo = new Loopback(sim);
    this.addDevice(this.lo);
    this.addAddress(this.lo, 0x7f000001, 8);
    this.tcp = new TcpStack(this);
    this.sctp = new SctpStack(this);
  }

  // ---------------------------------------------------------------- configuration

  /**
   * The CPUs the namespace's receive processing runs on (softirq.ts); null (the default):
   * passes never wait for a CPU and the hooks run at the end of each pass.
   */
  get softirq(): SoftirqCpus | null {
    return this.softirqCpus;
  }

  /** Models `cpus` softirq CPUs (null: no model). */
  setSoftirqCpus(cpus: number | null): void {
    this.softirqCpus = cpus === null ? null : new SoftirqCpus(cpus);
    for (const dev of this.interfaces.keys()) dev.softirq = this.softirqCpus;
  }

  /** Moves a device into this namespace (`ip link set dev X netns NS`). */
  addDevice(dev: NetDevice): Interface {
    if (this.interfaces.has(dev)) return this.interfaces.get(dev)!;
    for (const i of this.interfaces.keys()) {
      if (i.name === dev.name) throw new Error(`${this.name}: a device named ${dev.name} exists`);
    }
    dev.owner = this.name;
    dev.softirq = this.softirqCpus;
    if (dev.rxHandler === null) dev.rxHandler = this;
    const iface: Interface = { dev, addrs: [], neigh: new NeighbourTable() };
    this.interfaces.set(dev, iface);
    dev.ipConfig = iface;
    if (dev instanceof VxlanDevice) {
      dev.underlay = this;
      this.bindUdp(dev.port, new VxlanSocket(dev));
    }
    return iface;
  }

  /**
   * Deletes a device from this namespace (`ip link del`, or the namespace going away): its
   * addresses, the routes through it and its neighbour entries go with it, and it stops
   * receiving. A deleted VXLAN device's UDP socket is closed.
   */
  removeDevice(dev: NetDevice): void {
    const iface = this.interfaces.get(dev);
    if (!iface) return;
    for (const a of [...iface.addrs]) this.removeAddress(dev, a.ip);
    this.routes.remove((r) => r.dev === dev);
    this.interfaces.delete(dev);
    if (dev instanceof VxlanDevice) this.unbindUdp(dev.port);
    if (dev.ipConfig === iface) dev.ipConfig = null;
    if (dev.rxHandler === this) dev.rxHandler = null;
    dev.up = false;
  }

  device(name: string): NetDevice | undefined {
    for (const d of this.interfaces.keys()) if (d.name === name) return d;
    return undefined;
  }

  /** `ip addr add IP/LEN dev DEV`: the address becomes local and its connected route appears. */
  addAddress(dev: NetDevice, ip: number, prefixLen: number, opts: { noPrefixRoute?: boolean } = {}): void {
    const iface = this.interfaces.get(dev);
    if (!iface) throw new Error(`${this.name}: ${dev.name} is not in this namespace`);
    iface.addrs.push({ ip, prefixLen });
    this.localAddrs.set(ip, iface);
    if (prefixLen < 31) {
      const b = (ip | ~prefixMask(prefixLen)) >>> 0;
      this.broadcastAddrs.set(b, (this.broadcastAddrs.get(b) ?? 0) + 1);
    }
    if (prefixLen < 32 && !opts.noPrefixRoute && dev !== this.lo) {
      const mask = prefixMask(prefixLen);
      this.routes.add({
        dst: { net: (ip & mask) >>> 0, prefixLen, mask },
        gateway: 0,
        dev,
        prefSrc: ip,
        onlink: false,
        metric: 0,
        proto: "kernel",
      });
    }
  }

  /** `ip addr del IP dev DEV` (and its connected route, if it had one). */
  removeAddress(dev: NetDevice, ip: number): void {
    const iface = this.interfaces.get(dev);
    if (!iface) return;
    const removed = iface.addrs.find((a) => a.ip === ip);
    iface.addrs = iface.addrs.filter((a) => a.ip !== ip);
    if (this.localAddrs.get(ip) === iface) this.localAddrs.delete(ip);
    if (removed && removed.prefixLen < 31) {
      const b = (ip | ~prefixMask(removed.prefixLen)) >>> 0;
      const n = (this.broadcastAddrs.get(b) ?? 1) - 1;
      if (n <= 0) this.broadcastAddrs.delete(b);
      else this.broadcastAddrs.set(b, n);
    }
    this.routes.remove((r) => r.dev === dev && r.prefSrc === ip && r.proto === "kernel");
  }

  addRoute(dst: Ipv4Cidr, dev: NetDevice, opts: { gateway?: number; prefSrc?: number; onlink?: boolean; metric?: number; proto?: Route["proto"] } = {}): void {
    this.routes.add({
      dst,
      gateway: opts.gateway ?? 0,
      dev,
      prefSrc: opts.prefSrc ?? 0,
      onlink: opts.onlink ?? false,
      metric: opts.metric ?? 0,
      proto: opts.proto ?? "static",
    });
  }

  /** A static neighbour entry (`ip neigh add IP lladdr MAC dev DEV nud permanent`). */
  addPermanentNeighbour(dev: NetDevice, ip: number, mac: number): void {
    const iface = this.interfaces.get(dev);
    if (!iface) throw new Error(`${this.name}: ${dev.name} is not in this namespace`);
    iface.neigh.set(ip, mac, "PERMANENT", this.sim.now());
  }

  /**
   * __ip_rt_update_pmtu: the path to `dst` takes at most `mtu` bytes, for ip_rt_mtu_expires
   * (600 s). Only ever lowers it.
   */
  updatePmtu(dst: number, mtu: number): void {
    const cur = this.pmtus.get(dst);
    const now = this.sim.now();
    if (cur !== undefined && cur.expires > now && cur.mtu <= mtu) return;
    this.pmtus.set(dst, { mtu, expires: now + PMTU_EXPIRES_NS });
  }

  /** The MTU of the path to `dst`: the device's, or a lower one ICMP taught and not expired. */
  pathMtu(dst: number, devMtu: number): number {
    const p = this.pmtus.get(dst);
    if (p === undefined) return devMtu;
    if (p.expires <= this.sim.now()) {
      this.pmtus.delete(dst);
      return devMtu;
    }
    return Math.min(p.mtu, devMtu);
  }

  /** A directed broadcast address of one of our subnets. */
  isSubnetBroadcast(ip: number): boolean {
    return this.broadcastAddrs.has(ip);
  }

  isLocalAddress(ip: number): boolean {
    return this.localAddrs.has(ip) || ip >>> 24 === 127;
  }

  /** Addresses of this namespace, excluding loopback. */
  addresses(): { dev: NetDevice; ip: number; prefixLen: number }[] {
    const out: { dev: NetDevice; ip: number; prefixLen: number }[] = [];
    for (const iface of this.interfaces.values()) {
      if (iface.dev === this.lo) continue;
      for (const a of iface.addrs) out.push({ dev: iface.dev, ip: a.ip, prefixLen: a.prefixLen });
    }
    return out;
  }

  routeLines(): string[] {
    return this.routes.routes().map(formatRoute);
  }

  // ---------------------------------------------------------------- sockets

  bindUdp(port: number, handler: UdpHandler): void {
    if (this.udpSockets.has(port)) throw new Error(`${this.name}: UDP port ${port} is in use`);
    this.udpSockets.set(port, handler);
  }

  /**
   * A connected UDP socket (`connect()` after bind, as glibc's resolver uses): it takes
   * datagrams from `peerIp:peerPort` only. Any other datagram to the port finds no socket
   * (compute_score rejects a connected socket whose peer differs) and is answered with ICMP
   * port unreachable.
   */
  connectUdp(port: number, peerIp: number, peerPort: number, handler: UdpHandler): void {
    this.bindUdp(port, handler);
    this.udpPeers.set(port, { ip: peerIp, port: peerPort });
  }

  unbindUdp(port: number): void {
    this.udpSockets.delete(port);
    this.udpPeers.delete(port);
  }

  bindPing(ident: number, handler: PingHandler): void {
    this.pingSockets.set(ident, handler);
  }

  unbindPing(ident: number): void {
    this.pingSockets.delete(ident);
  }

  /** `net.ipv4.ip_local_port_range` (a per-namespace sysctl; the kernel's default 32768–60999). */
  ipLocalPortRange: readonly [number, number] = [32768, 60999];

  /** A free ephemeral port from ip_local_port_range. */
  ephemeralPort(inUse: (port: number) => boolean): number {
    const [lo, hi] = this.ipLocalPortRange;
    for (let i = 0; i <= hi - lo; i++) {
      const p = this.sim.rng.intBetween(lo, hi);
      if (!inUse(p)) return p;
    }
    throw new Error(`${this.name}: no free ephemeral port`);
  }

  udpPortInUse(port: number): boolean {
    return this.udpSockets.has(port);
  }

  /**
   * Sends a UDP datagram as an unconnected socket's sendto() does. Returns false (and
   * counts the drop) when there is no route. DF is set (Linux's default PMTU discovery).
   */
  sendUdp(srcPort: number, dstIp: number, dstPort: number, payload: Uint8Array | null, srcIp = 0): boolean {
    const route = this.routeOutput(dstIp);
    if (route === null) {
      this.stats.countDrop("no-route");
      return false;
    }
    const pkt = this.sim.pool.acquire();
    placePayload(pkt, payload);
    const src = srcIp !== 0 ? srcIp : this.selectSource(route);
    prependUdp(pkt, src, dstIp, srcPort, dstPort, true);
    // An unconnected socket sending with DF gets IP ID 0 (ip_select_ident_segs).
    prependIpv4(pkt, { src, dst: dstIp, protocol: IPPROTO_UDP, ttl: DEFAULT_TTL, ident: 0, dontFrag: true });
    this.ipOutput(pkt, route, true);
    return true;
  }

  /** Sends an ICMP echo request of `size` data bytes, as `ping -s size` does. */
  sendPing(dstIp: number, ident: number, seq: number, size = 56): boolean {
    const route = this.routeOutput(dstIp);
    if (route === null) {
      this.stats.countDrop("no-route");
      return false;
    }
    const pkt = this.sim.pool.acquire();
    for (let i = 0; i < size; i++) pkt.buf[pkt.head + i] = (i + 8) & 0xff;
    pkt.tail = pkt.head + size;
    prependIcmp(pkt, ICMP_ECHO, 0, ((ident & 0xffff) << 16) | (seq & 0xffff));
    const src = this.selectSource(route);
    // Ping sockets use PMTU discovery "want", so DF is set.
    prependIpv4(pkt, { src, dst: dstIp, protocol: IPPROTO_ICMP, ttl: DEFAULT_TTL, ident: this.nextIdent(), dontFrag: true });
    this.ipOutput(pkt, route, true);
    return true;
  }

  nextIdent(): number {
    this.ipIdent = (this.ipIdent + 1) & 0xffff;
    return this.ipIdent;
  }

  // ---------------------------------------------------------------- receive path

  handleFrame(dev: NetDevice, pkt: PacketBuffer): void {
    const b = pkt.buf;
    const h = pkt.head;
    if (pkt.tail - h < ETHERNET_HEADER_LEN) return this.dropPkt(pkt, "ip-header-invalid");
    if (!eth.isGroupDst(b, h) && dev.kind !== "loopback" && eth.dst(b, h) !== dev.mac) {
      return this.dropPkt(pkt, "not-for-us");
    }
    const etherType = eth.etherType(b, h);
    if (etherType === ETHERTYPE_IPV4) {
      pkt.head = eth.payloadOffset(b, h);
      this.ipRcv(dev, pkt);
    } else if (etherType === ETHERTYPE_ARP) {
      this.arpRcv(dev, pkt);
    } else {
      this.dropPkt(pkt, "unknown-ethertype");
    }
  }

  private ipRcv(dev: NetDevice, pkt: PacketBuffer): void {
    const b = pkt.buf;
    const h = pkt.head;
    const avail = pkt.tail - h;
    if (avail < IPV4_MIN_HEADER_LEN || ipv4.version(b, h) !== 4) return this.dropPkt(pkt, "ip-header-invalid");
    const ihl = ipv4.headerLen(b, h);
    const totalLen = ipv4.totalLen(b, h);
    if (ihl < IPV4_MIN_HEADER_LEN || ihl > avail || totalLen < ihl || totalLen > avail) return this.dropPkt(pkt, "ip-header-invalid");
    if (!ipv4.verifyChecksum(b, h)) return this.dropPkt(pkt, "ip-checksum");
    pkt.tail = h + totalLen; // strip Ethernet padding
    if (ipv4.isFragment(b, h)) return this.dropPkt(pkt, "ip-fragment");
    const src = ipv4.src(b, h);
    if (src === 0 || src >>> 28 === 0xe || src === 0xffffffff) return this.dropPkt(pkt, "martian-source");

    if (this.nf !== null) {
      const v = this.nf.prerouting(this, pkt, dev);
      if (v !== NF_ACCEPT) return this.nfDone(pkt, v);
    }
    const dst = ipv4.dst(pkt.buf, pkt.head);
    if (this.isLocalAddress(dst) || dst === 0xffffffff) {
      this.localDeliver(dev, pkt, dst === 0xffffffff);
      return;
    }
    if (dst >>> 28 === 0xe) return this.dropPkt(pkt, "not-for-us");
    this.forward(dev, pkt, dst);
  }

  private forward(inDev: NetDevice, pkt: PacketBuffer, dst: number): void {
    // ip_route_input: no forwarding → "host unreachable"; no route → "network unreachable".
    if (!this.ipForward) {
      this.sendIcmpError(pkt, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 0);
      return this.dropPkt(pkt, "forwarding-disabled");
    }
    const route = this.routes.lookup(dst);
    if (route === null) {
      this.sendIcmpError(pkt, ICMP_DEST_UNREACH, ICMP_NET_UNREACH, 0);
      return this.dropPkt(pkt, "no-route");
    }
    const b = pkt.buf;
    const h = pkt.head;
    // ip_forward: TTL first, then the MTU, then the TTL decrement, then the FORWARD hook.
    if (ipv4.ttl(b, h) <= 1) {
      this.sendIcmpError(pkt, ICMP_TIME_EXCEEDED, 0, 0);
      return this.dropPkt(pkt, "ttl-exceeded");
    }
    const outDev = route.dev;
    if (pkt.tail - h > outDev.mtu) {
      if (ipv4.dontFrag(b, h)) {
        this.sendIcmpError(pkt, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, outDev.mtu);
        return this.dropPkt(pkt, "frag-needed");
      }
      return this.dropPkt(pkt, "fragmentation-unsupported");
    }
    ipv4.setTtl(b, h, ipv4.ttl(b, h) - 1); // ip_decrease_ttl
    if (this.nf !== null) {
      const v = this.nf.forward(this, pkt, inDev, outDev);
      if (v !== NF_ACCEPT) return this.nfDone(pkt, v);
    }
    this.stats.forwarded++;
    if (this.sim.tracer) this.sim.trace(this.name, outDev.name, "forward", `route ${formatRoute(route)}`, pkt, true);
    this.finishOutput(pkt, outDev, route.gateway !== 0 ? route.gateway : ipv4.dst(b, h));
  }

  private localDeliver(dev: NetDevice, pkt: PacketBuffer, broadcast: boolean): void {
    if (this.nf !== null) {
      const v = this.nf.input(this, pkt, dev);
      if (v !== NF_ACCEPT) return this.nfDone(pkt, v);
    }
    if (this.atPassEnd(pkt, () => this.deliverLocal(pkt, broadcast))) return;
    this.deliverLocal(pkt, broadcast);
  }

  /**
   * In a softirq pass of this namespace's CPUs (softirq.ts) the packet leaves when the pass
   * ends: schedules `leave` for then and returns true; false when it may leave now.
   */
  private atPassEnd(pkt: PacketBuffer, leave: () => void): boolean {
    if (pkt.softirq === null || pkt.softirq !== this.softirqCpus) return false;
    const wait = pkt.passEnd - this.sim.now();
    if (wait <= 0) return false;
    this.sim.schedule(wait, { fire: leave });
    return true;
  }

  /** The end of the packet's pass: the confirmation it put off (false: dropped, counted). */
  private leavePass(pkt: PacketBuffer): boolean {
    pkt.softirq = null;
    if (!pkt.confirmLate) return true;
    pkt.confirmLate = false;
    const v = this.nf?.confirmLate?.(this, pkt) ?? NF_ACCEPT;
    if (v === NF_ACCEPT) return true;
    this.nfDone(pkt, v);
    return false;
  }

  private deliverLocal(pkt: PacketBuffer, broadcast: boolean): void {
    if (!this.leavePass(pkt)) return;
    this.stats.delivered++;
    const proto = ipv4.protocol(pkt.buf, pkt.head);
    if (proto === IPPROTO_UDP) this.udpRcv(pkt, broadcast);
    else if (proto === IPPROTO_TCP) this.tcp.receive(pkt);
    else if (proto === IPPROTO_ICMP) this.icmpRcv(pkt, broadcast);
    else if (proto === IPPROTO_SCTP && !broadcast) this.sctp.receive(pkt);
    else {
      if (!broadcast) this.sendIcmpError(pkt, ICMP_DEST_UNREACH, ICMP_PROT_UNREACH, 0);
      this.dropPkt(pkt, "icmp-unhandled");
    }
  }

  private udpRcv(pkt: PacketBuffer, broadcast: boolean): void {
    const b = pkt.buf;
    const h = pkt.head;
    const l4 = ipv4.payloadOffset(b, h);
    const avail = pkt.tail - l4;
    if (avail < UDP_HEADER_LEN) return this.dropPkt(pkt, "udp-malformed");
    const udpLen = udp.length(b, l4);
    if (udpLen < UDP_HEADER_LEN || udpLen > avail) return this.dropPkt(pkt, "udp-malformed");
    if (!udp.verifyChecksum(b, l4, ipv4.src(b, h), ipv4.dst(b, h))) return this.dropPkt(pkt, "udp-checksum");
    let sock = this.udpSockets.get(udp.dstPort(b, l4));
    if (sock !== undefined && this.udpPeers.size !== 0) {
      const peer = this.udpPeers.get(udp.dstPort(b, l4));
      if (peer !== undefined && (peer.ip !== ipv4.src(b, h) || peer.port !== udp.srcPort(b, l4))) sock = undefined;
    }
    if (sock === undefined) {
      if (!broadcast) this.sendIcmpError(pkt, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0);
      return this.dropPkt(pkt, "udp-no-socket");
    }
    if (this.sim.tracer && !(sock instanceof VxlanSocket)) this.sim.trace(this.name, "", "deliver", `to UDP socket :${udp.dstPort(b, l4)}`, pkt, true);
    sock.onDatagram(this, pkt);
  }

  private icmpRcv(pkt: PacketBuffer, broadcast: boolean): void {
    const b = pkt.buf;
    const h = pkt.head;
    const l4 = ipv4.payloadOffset(b, h);
    const len = pkt.tail - l4;
    if (len < ICMP_HEADER_LEN) return this.dropPkt(pkt, "icmp-malformed");
    if (!icmp.verifyChecksum(b, l4, len)) return this.dropPkt(pkt, "icmp-checksum");
    const type = icmp.type(b, l4);
    if (type === ICMP_ECHO) {
      if (broadcast) return this.dropPkt(pkt, "icmp-unhandled"); // icmp_echo_ignore_broadcasts
      this.echoReply(pkt, l4);
      return;
    }
    if (type === ICMP_ECHO_REPLY) {
      const sock = this.pingSockets.get(icmp.echoIdent(b, l4));
      if (sock !== undefined) {
        if (this.sim.tracer) this.sim.trace(this.name, "", "deliver", "to ping socket", pkt, true);
        sock.onEchoReply(this, pkt, icmp.echoSeq(b, l4));
      }
      this.sim.pool.release(pkt);
      return;
    }
    if ((type === ICMP_DEST_UNREACH || type === ICMP_TIME_EXCEEDED) && len >= ICMP_HEADER_LEN + IPV4_MIN_HEADER_LEN) {
      // icmp_socket_deliver: a TCP socket learns of errors about its segments (tcp_v4_err).
      const q = icmp.payloadOffset(b, l4);
      if (ipv4.protocol(b, q) === IPPROTO_TCP) this.tcp.icmpError(b, q, len - ICMP_HEADER_LEN, type, icmp.code(b, l4), icmp.nextHopMtu(b, l4));
      this.reportIcmpError(pkt, l4, len, type);
      this.sim.pool.release(pkt);
      return;
    }
    this.dropPkt(pkt, "icmp-unhandled");
  }

  /** Turns an echo request into the reply in place, as icmp_echo → icmp_reply does. */
  private echoReply(pkt: PacketBuffer, l4: number): void {
    const b = pkt.buf;
    const h = pkt.head;
    const src = ipv4.src(b, h);
    const dst = ipv4.dst(b, h);
    const route = this.routeOutput(src);
    if (route === null) return this.dropPkt(pkt, "no-route");
    // Type 8 → 0: patch the checksum instead of recomputing (RFC 1624).
    icmp.setType(b, l4, ICMP_ECHO_REPLY);
    const payloadStart = l4;
    const tos = ipv4.tos(b, h);
    pkt.mark = 0;
    pkt.head = payloadStart; // keep ICMP message; rebuild a fresh IP header without options
    prependIpv4(pkt, { src: dst, dst: src, protocol: IPPROTO_ICMP, ttl: DEFAULT_TTL, ident: this.nextIdent(), dontFrag: false, dscp: tos >>> 2, ecn: tos & 3 });
    if (this.sim.tracer) this.sim.trace(this.name, route.dev.name, "reply", "ICMP echo reply", pkt, true);
    this.ipOutput(pkt, route, true);
  }

  private reportIcmpError(pkt: PacketBuffer, l4: number, len: number, type: number): void {
    if (this.icmpErrorListeners.length === 0) return;
    const b = pkt.buf;
    const q = icmp.payloadOffset(b, l4);
    const qihl = ipv4.headerLen(b, q);
    const origProto = ipv4.protocol(b, q);
    const hasPorts = len >= ICMP_HEADER_LEN + qihl + PORTS_LEN && (origProto === IPPROTO_TCP || origProto === IPPROTO_UDP || origProto === IPPROTO_SCTP);
    const report: IcmpErrorReport = {
      type,
      code: icmp.code(b, l4),
      from: ipv4.src(b, pkt.head),
      mtu: icmp.nextHopMtu(b, l4),
      origSrc: ipv4.src(b, q),
      origDst: ipv4.dst(b, q),
      origProto,
      origSrcPort: hasPorts ? ports.src(b, q + qihl) : 0,
      origDstPort: hasPorts ? ports.dst(b, q + qihl) : 0,
    };
    if (this.sim.tracer) this.sim.trace(this.name, "", "deliver", "ICMP error to the sending socket", pkt, true);
    for (const l of this.icmpErrorListeners) l(this, report);
  }

  // ---------------------------------------------------------------- output path

  /** The route for a locally generated packet; local destinations go through `lo`. */
  routeOutput(dst: number): Route | null {
    if (this.isLocalAddress(dst)) return this.loRoute(dst);
    return this.routes.lookup(dst);
  }

  private loRouteCache: Route | null = null;
  /** Routes to this namespace's own non-loopback addresses, by address (the local table's entries). */
  private readonly localRoutes = new Map<number, Route>();

  /** The route local destinations take (through `lo`). */
  loRouteFor(): Route {
    return this.loRoute(0);
  }

  /**
   * The local table's route for `dst`: `local 127.0.0.0/8 dev lo src 127.0.0.1`, or for an
   * address of this namespace `local ADDR dev DEV src ADDR` — so a connection to one's own
   * address (a node to a VIP on kube-ipvs0, or to its eth0 address) has that address as
   * its source, not 127.0.0.1 (fib_table_insert of the local routes in fib_add_ifaddr).
   */
  private loRoute(dst: number): Route {
    if (dst === 0 || dst >>> 24 === 127) {
      if (this.loRouteCache === null) {
        this.loRouteCache = { dst: { net: LOOPBACK_NET, prefixLen: 8, mask: prefixMask(8) }, gateway: 0, dev: this.lo, prefSrc: 0, onlink: false, metric: 0, proto: "kernel" };
      }
      return this.loRouteCache;
    }
    let route = this.localRoutes.get(dst);
    if (route === undefined) {
      route = { dst: { net: dst, prefixLen: 32, mask: 0xffffffff }, gateway: 0, dev: this.lo, prefSrc: dst, onlink: false, metric: 0, proto: "kernel" };
      this.localRoutes.set(dst, route);
    }
    return route;
  }

  /** Source address selection: the route's `src`, else the device's first address, else any. */
  selectSource(route: Route): number {
    if (route.prefSrc !== 0) return route.prefSrc;
    if (route.dev === this.lo) return 0x7f000001;
    const iface = this.interfaces.get(route.dev);
    if (iface !== undefined && iface.addrs.length > 0) return iface.addrs[0]!.ip;
    for (const i of this.interfaces.values()) {
      if (i.dev !== this.lo && i.addrs.length > 0) return i.addrs[0]!.ip;
    }
    return 0;
  }

  /** UnderlayStack: send a complete IPv4 packet that this namespace originated (e.g. VXLAN). */
  sendIpv4(pkt: PacketBuffer): void {
    const dst = ipv4.dst(pkt.buf, pkt.head);
    const route = this.routeOutput(dst);
    if (route === null) return this.dropPkt(pkt, "no-route");
    this.ipOutput(pkt, route, false);
  }

  /**
   * Sends on a packet IPVS has just rewritten to a real server (ip_vs_nat_xmit →
   * ip_vs_send_or_cont): routed to its new destination, then the LOCAL_OUT and
   * POSTROUTING hooks with its conntrack entry kept. `pkt.head` at IPv4. Consumes `pkt`.
   */
  ipvsTransmit(pkt: PacketBuffer): void {
    // A real server at one of this node's own addresses is delivered locally (through lo).
    const route = this.routeOutput(ipv4.dst(pkt.buf, pkt.head));
    if (route === null) return this.dropPkt(pkt, "no-route");
    this.ipOutput(pkt, route, false, true);
  }

  /**
   * __ip_local_out → OUTPUT hook → ip_output. `pmtuCheck`: the sender asked for DF
   * semantics. `keepState`: the packet is not new (IPVS forwarding keeps its conntrack entry).
   */
  ipOutput(pkt: PacketBuffer, route: Route, pmtuCheck: boolean, keepState = false): void {
    let dev = route.dev;
    // A locally generated packet starts with no conntrack state, even when it reuses the
    // buffer of a packet it answers (icmp_reply builds a new skb; tunnels scrub theirs).
    if (!keepState) pkt.scrub();
    if (this.nf !== null) {
      const before = ipv4.dst(pkt.buf, pkt.head);
      const v = this.nf.output(this, pkt, dev);
      if (v !== NF_ACCEPT) return this.nfDone(pkt, v);
      const after = ipv4.dst(pkt.buf, pkt.head);
      if (after !== before) {
        // ip_route_me_harder: OUTPUT DNAT changed the destination, so route again.
        const again = this.routeOutput(after);
        if (again === null) return this.dropPkt(pkt, "no-route");
        route = again;
        dev = again.dev;
      }
    }
    if (pkt.tail - pkt.head > dev.mtu) {
      const df = ipv4.dontFrag(pkt.buf, pkt.head);
      return this.dropPkt(pkt, pmtuCheck && df ? "local-mtu-exceeded" : "fragmentation-unsupported");
    }
    this.stats.sent++;
    const dst = ipv4.dst(pkt.buf, pkt.head);
    if (this.sim.tracer && dev !== this.lo) this.sim.trace(this.name, dev.name, "send", `route ${formatRoute(route)}`, pkt, true);
    this.finishOutput(pkt, dev, route.gateway !== 0 ? route.gateway : dst);
  }

  /** POSTROUTING hook, then the neighbour layer adds Ethernet and transmits. */
  private finishOutput(pkt: PacketBuffer, dev: NetDevice, nextHop: number): void {
    if (this.nf !== null) {
      const v = this.nf.postrouting(this, pkt, dev);
      if (v !== NF_ACCEPT) return this.nfDone(pkt, v);
    }
    if (this.atPassEnd(pkt, () => this.neighOutput(pkt, dev, nextHop))) return;
    this.neighOutput(pkt, dev, nextHop);
  }

  /** ip_finish_output2: the neighbour layer adds Ethernet and transmits. */
  private neighOutput(pkt: PacketBuffer, dev: NetDevice, nextHop: number): void {
    if (!this.leavePass(pkt)) return;
    if (dev === this.lo) {
      prependEthernet(pkt, 0, 0, ETHERTYPE_IPV4);
      if (this.sim.tracer) this.sim.trace(this.name, "lo", "loopback", "local destination: via lo", pkt);
      dev.transmit(pkt);
      return;
    }
    const iface = dev.ipConfig as Interface;
    const e = iface.neigh.get(nextHop);
    if (e !== undefined && (e.state === "REACHABLE" || e.state === "STALE" || e.state === "PERMANENT")) {
      prependEthernet(pkt, e.mac, dev.mac, ETHERTYPE_IPV4);
      dev.transmit(pkt);
      return;
    }
    this.resolveAndQueue(iface, nextHop, pkt, e);
  }

  /**
   * br_nf_pre_routing_finish (net/bridge/br_netfilter_hooks.c) for a bridged IPv4 frame whose
   * destination address PREROUTING changed: ip_route_input decides. When the new route
   * leaves through the bridge the frame came in on, it stays bridged ("bridged DNAT",
   * br_nf_pre_routing_finish_bridge): no routing, no TTL decrement, its destination MAC
   * taken from the next hop's neighbour entry — at once when that entry is connected
   * (neigh_hh_bridge), otherwise through the neighbour's output (BR_NF_NEIGH, see
   * brNfNeighOutput), after which the bridge's xmit resumes it from its ingress port. Any
   * other route (another device, a local address, none) routes it: its destination MAC
   * becomes the bridge's own, so it goes up to this stack. `pkt.head` at Ethernet; answers
   * BR_NF_*.
   */
  brNfReroute(bridge: NetDevice, pkt: PacketBuffer): number {
    const b = pkt.buf;
    const frame = pkt.head;
    const ip = eth.payloadOffset(b, frame);
    const dst = ipv4.dst(b, ip);
    // ip_route_input fails (and the frame is dropped) when forwarding is off.
    if (!this.isLocalAddress(dst) && !this.ipForward) return BR_NF_DROP;
    const route = this.isLocalAddress(dst) ? null : this.routes.lookup(dst);
    if (route === null || route.dev !== bridge) {
      eth.setDst(b, frame, bridge.mac);
      return BR_NF_CONTINUE;
    }
    const iface = bridge.ipConfig as Interface;
    const nextHop = route.gateway !== 0 ? route.gateway : dst;
    const e = iface.neigh.get(nextHop);
    const now = this.sim.now();
    if (this.sim.tracer) this.sim.traceIp(this.name, bridge.name, "route", `bridged DNAT: ${formatIpv4(dst)} is behind ${bridge.name} too, so the frame stays bridged`, pkt, ip);
    if (e !== undefined && (e.state === "PERMANENT" || (e.state === "REACHABLE" && now - e.updated <= REACHABLE_TIME_NS))) {
      eth.setDst(b, frame, e.mac);
      return BR_NF_CONTINUE;
    }
    // neigh->output with nf_bridge->bridged_dnat set: the source MAC is kept aside.
    pkt.brNfSrcMac = eth.src(b, frame);
    pkt.brNfBridgedDnat = true;
    return BR_NF_NEIGH;
  }

  /**
   * The neighbour output of a BR_NF_NEIGH frame (`pkt.head` at Ethernet): a STALE entry
   * sends it at once, an unresolved one queues it behind an ARP request from the bridge;
   * either way it leaves through the bridge device, whose xmit bridges it on.
   */
  brNfNeighOutput(bridge: NetDevice, pkt: PacketBuffer): void {
    pkt.head = eth.payloadOffset(pkt.buf, pkt.head);
    const dst = ipv4.dst(pkt.buf, pkt.head);
    const route = this.routes.lookup(dst);
    const nextHop = route !== null && route.gateway !== 0 ? route.gateway : dst;
    const iface = bridge.ipConfig as Interface;
    const e = iface.neigh.get(nextHop);
    if (e !== undefined && (e.state === "REACHABLE" || e.state === "STALE" || e.state === "PERMANENT")) {
      prependEthernet(pkt, e.mac, bridge.mac, ETHERTYPE_IPV4);
      bridge.transmit(pkt);
      return;
    }
    this.resolveAndQueue(iface, nextHop, pkt, e);
  }

  // ---------------------------------------------------------------- ARP

  private resolveAndQueue(iface: Interface, nextHop: number, pkt: PacketBuffer, existing: NeighEntry | undefined): void {
    let e = existing;
    const start = e === undefined || e.state === "FAILED";
    if (start) {
      e = iface.neigh.set(nextHop, 0, "INCOMPLETE", this.sim.now());
      e.state = "INCOMPLETE";
      e.probes = 0;
    }
    const entry = e!;
    const len = pkt.tail - pkt.head;
    if (entry.queuedBytes + len > UNRES_QLEN_BYTES) return this.dropPkt(pkt, "neigh-queue-full");
    entry.queue.push(pkt);
    entry.queuedBytes += len;
    if (start) this.arpProbe(iface, entry, ipv4.src(pkt.buf, pkt.head));
  }

  private arpProbe(iface: Interface, entry: NeighEntry, hintSrc: number): void {
    entry.probes++;
    // arp_solicit (arp_announce 0): use the queued packet's source if it is ours.
    const src = this.localAddrs.has(hintSrc) ? hintSrc : (iface.addrs[0]?.ip ?? this.selectSourceAny());
    this.sendArp(iface.dev, ARP_REQUEST, iface.dev.mac, src, 0xffffffffffff, 0, entry.ip);
    const timer: TimerTask = {
      fire: () => {
        if (entry.state !== "INCOMPLETE") return;
        if (entry.probes < ARP_MAX_PROBES) {
          this.arpProbe(iface, entry, src);
          return;
        }
        entry.state = "FAILED";
        const queued = entry.queue.splice(0);
        entry.queuedBytes = 0;
        for (const p of queued) {
          // neigh_invalidate → arp_error_report: "host unreachable" to the sender.
          this.sendIcmpError(p, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 0);
          this.dropPkt(p, "neigh-failed");
        }
      },
    };
    this.sim.schedule(ARP_RETRANS_NS, timer);
  }

  private selectSourceAny(): number {
    for (const i of this.interfaces.values()) if (i.dev !== this.lo && i.addrs.length > 0) return i.addrs[0]!.ip;
    return 0;
  }

  /** Builds and transmits one ARP message (Ethernet/IPv4, RFC 826). */
  private sendArp(dev: NetDevice, op: ArpRepr["op"], sha: number, spa: number, dstMac: number, tha: number, tpa: number): void {
    const pkt = this.sim.pool.acquire();
    buildArpFrame(pkt, dev.mac, dstMac, { op, senderMac: sha, senderIp: spa, targetMac: tha, targetIp: tpa });
    if (this.sim.tracer) {
      this.sim.trace(this.name, dev.name, op === ARP_REQUEST ? "arp-request" : "arp-reply", op === ARP_REQUEST ? `who-has ${formatIpv4(tpa)}` : `${formatIpv4(spa)} is-at our MAC`, pkt);
    }
    dev.transmit(pkt);
  }

  private arpRcv(dev: NetDevice, pkt: PacketBuffer): void {
    const b = pkt.buf;
    const a = eth.payloadOffset(b, pkt.head);
    if (!arp.isEthernetIpv4(b, a, pkt.tail - a)) return this.dropPkt(pkt, "arp-malformed");
    const op = arp.operation(b, a);
    const sha = arp.senderMac(b, a);
    const spa = arp.senderIp(b, a);
    const tpa = arp.targetIp(b, a);
    const iface = this.interfaces.get(dev)!;
    const now = this.sim.now();
    const forUs = this.localAddrs.has(tpa) && tpa >>> 24 !== 127;
    const existing = iface.neigh.get(spa);
    if (op === ARP_REQUEST && forUs) {
      // A request for us creates or refreshes the sender's entry (neigh_event_ns), then we reply.
      const e = iface.neigh.set(spa, sha, existing?.state === "PERMANENT" ? "PERMANENT" : "STALE", now);
      this.flushNeighbour(dev, e);
      this.sendArp(dev, ARP_REPLY, dev.mac, tpa, sha, sha, spa);
    } else if (op === ARP_REPLY && existing !== undefined) {
      const e = iface.neigh.set(spa, sha, "REACHABLE", now);
      if (this.sim.tracer) this.sim.trace(this.name, dev.name, "arp-resolved", `${formatIpv4(spa)} is-at ${formatMac(sha)}`, pkt);
      this.flushNeighbour(dev, e);
    }
    this.sim.pool.release(pkt);
  }

  private flushNeighbour(dev: NetDevice, e: NeighEntry): void {
    if (e.queue.length === 0) return;
    const queued = e.queue.splice(0);
    e.queuedBytes = 0;
    for (const p of queued) {
      prependEthernet(p, e.mac, dev.mac, ETHERTYPE_IPV4);
      dev.transmit(p);
    }
  }

  // ---------------------------------------------------------------- ICMP errors

  /**
   * Sends an ICMP error about `orig` (head at its IPv4 header) back to its source, following
   * icmp_send: never about ICMP errors, non-first fragments, or broadcast/multicast; quote
   * as much of the datagram as fits in 576 bytes; source address the offending packet's
   * destination when that was us, else the one routing picks. Does not consume `orig`.
   */
  sendIcmpError(orig: PacketBuffer, type: number, code: number, mtu: number): void {
    const b = orig.buf;
    const h = orig.head;
    const origSrc = ipv4.src(b, h);
    const origDst = ipv4.dst(b, h);
    if (ipv4.fragOffset(b, h) !== 0) return;
    if (origSrc === 0 || origSrc >>> 28 === 0xe || origDst >>> 28 === 0xe || origDst === 0xffffffff) return;
    if (ipv4.protocol(b, h) === IPPROTO_ICMP) {
      const t = icmp.type(b, ipv4.payloadOffset(b, h));
      // RFC 1122 §3.2.2: no error about an error; only echo/timestamp/info queries may trigger one.
      if (t !== ICMP_ECHO && t !== ICMP_ECHO_REPLY && t !== ICMP_TIMESTAMP && t !== ICMP_TIMESTAMP_REPLY && t !== ICMP_INFO_REQUEST && t !== ICMP_INFO_REPLY) return;
    }
    const route = this.routeOutput(origSrc);
    if (route === null) return;
    if (!this.icmpRateAllows(type, code, origSrc, route.dev)) {
      this.stats.icmpRateLimited++;
      return;
    }
    // icmp_send: as much of the datagram as fits a 576-byte reply (or the route's smaller MTU).
    const quoteLen = icmpQuoteLength(orig.tail - h, 0, route.dev.mtu);
    const pkt = this.sim.pool.acquire();
    pkt.buf.set(b.subarray(h, h + quoteLen), pkt.head);
    pkt.tail = pkt.head + quoteLen;
    prependIcmp(pkt, type, code, type === ICMP_DEST_UNREACH && code === ICMP_FRAG_NEEDED ? mtu & 0xffff : 0);
    const src = this.localAddrs.has(origDst) ? origDst : this.selectSource(route);
    prependIpv4(pkt, { src, dst: origSrc, protocol: IPPROTO_ICMP, ttl: DEFAULT_TTL, ident: this.nextIdent(), dontFrag: false, dscp: TOS_INTERNETCONTROL >>> 2 });
    this.stats.icmpErrorsSent++;
    if (this.sim.tracer) this.sim.trace(this.name, route.dev.name, "icmp-error", icmpErrorName(type, code, mtu), pkt, true);
    this.ipOutput(pkt, route, false);
  }

  /**
   * icmpv4_xrlim_allow + inet_peer_xrlim_allow: types outside icmp_ratemask, "fragmentation
   * needed" and errors sent through loopback are never limited; otherwise each destination
   * earns one token per icmp_ratelimit ms, holds at most six, and starts with a full bucket.
   */
  private icmpRateAllows(type: number, code: number, dst: number, dev: NetDevice): boolean {
    if (type > 31 || ((this.icmpRatemask >>> type) & 1) === 0) return true;
    if (type === ICMP_DEST_UNREACH && code === ICMP_FRAG_NEEDED) return true;
    if (dev === this.lo || this.icmpRatelimitMs === 0) return true;
    const now = this.sim.now();
    const interval = this.icmpRatelimitMs * 1_000_000;
    let peer = this.icmpPeers.get(dst);
    if (peer === undefined) {
      peer = { tokens: 0, last: now - 60_000_000_000 }; // inet_getpeer: rate_last = jiffies - 60 s
      this.icmpPeers.set(dst, peer);
    }
    let tokens = peer.tokens + (now - peer.last);
    peer.last = now;
    if (tokens > 6 * interval) tokens = 6 * interval;
    let allowed = false;
    if (tokens >= interval) {
      tokens -= interval;
      allowed = true;
    }
    peer.tokens = tokens;
    return allowed;
  }

  // ---------------------------------------------------------------- helpers

  dropPkt(pkt: PacketBuffer, reason: DropReason): void {
    this.stats.countDrop(reason);
    // The packet is named, not described: its head may be at any header here.
    if (this.sim.tracer) this.sim.trace(this.name, pkt.ingress?.name ?? "", "drop", reason, pkt, false, { drop: { reason }, describe: false });
    this.sim.pool.release(pkt);
  }

  private nfDone(pkt: PacketBuffer, verdict: number): void {
    if (verdict === NF_DROP) this.dropPkt(pkt, "netfilter");
    // NF_STOLEN: the hook owns the packet now.
  }

  /** Counters as one line per non-zero reason, for summaries. */
  dropSummary(): string[] {
    return [...this.stats.drops].filter(([, n]) => n > 0).map(([r, n]) => `${r}: ${n}`);
  }
}

/** The kernel's UDP tunnel socket for a VXLAN device's port: hands datagrams to the device. */
class VxlanSocket implements UdpHandler {
  constructor(readonly dev: VxlanDevice) {}
  onDatagram(_ns: NetworkNamespace, pkt: PacketBuffer): void {
    pkt.head = udp.payloadOffset(pkt.buf, ipv4.payloadOffset(pkt.buf, pkt.head)); // the VXLAN header
    this.dev.decapsulate(pkt);
  }
}


export function icmpErrorName(type: number, code: number, mtu: number): string {
  if (type === ICMP_TIME_EXCEEDED) return "ICMP time exceeded in transit";
  if (type === ICMP_DEST_UNREACH) {
    switch (code) {
      case ICMP_NET_UNREACH:
        return "ICMP network unreachable";
      case ICMP_HOST_UNREACH:
        return "ICMP host unreachable";
      case ICMP_PROT_UNREACH:
        return "ICMP protocol unreachable";
      case ICMP_PORT_UNREACH:
        return "ICMP port unreachable";
      case ICMP_FRAG_NEEDED:
        return `ICMP fragmentation needed (mtu ${mtu})`;
      default:
        return `ICMP destination unreachable code ${code}`;
    }
  }
  return `ICMP type ${type} code ${code}`;
}
