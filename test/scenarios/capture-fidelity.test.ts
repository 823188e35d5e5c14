/**
 * Captures as Wireshark users expect them (issue 11 §5): `lo` frames once, a direction on
 * every frame, statistics per interface, distinct per-hop timestamps from the timing model,
 * and TCP segments that look like Linux's (window, IP ID, timestamps, FIN handling).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import { runDemo } from "../../src/cluster/demo.js";
import { defaultCluster } from "../../src/cluster/load.js";
import {
  APP_RESPONSE_NS,
  BRIDGE_FORWARD_NS,
  NODE_LINK_NS,
  STACK_RX_NS,
  VETH_CROSSING_NS,
  VXLAN_DECAP_NS,
  VXLAN_ENCAP_NS,
} from "../../src/netdev/index.js";
import { TCP_ACK, TCP_FIN, TCP_SYN, type TcpConnection, initialWindow } from "../../src/netns/tcp.js";
import { type Capture, type CapturePacket, readCapture } from "../../src/pcap/index.js";
import { routedPair } from "../netns/helpers.js";

let cached: { cap: Capture; frames: number } | null = null;
function demo(): { cap: Capture; frames: number } {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), "podwire-fidelity-"));
  try {
    const run = runDemo(defaultCluster(), { capturePath: join(dir, "demo.pcapng") });
    cached = { cap: readCapture(readFileSync(join(dir, "demo.pcapng"))), frames: run.capture!.frames };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function on(cap: Capture, name: string): CapturePacket[] {
  const id = cap.interfaces.findIndex((i) => i.name === name);
  return cap.packets.filter((p) => p.interfaceId === id);
}

function nameStartsWith(cap: Capture, prefix: string): string {
  const i = cap.interfaces.find((x) => x.name?.startsWith(prefix));
  if (!i) throw new Error(`no interface ${prefix}*`);
  return i.name!;
}

interface Tcp {
  src: number;
  dst: number;
  ipId: number;
  flags: number;
  window: number;
  mss: number | null;
  tsval: number | null;
  payload: number;
}

/** The innermost TCP segment of a frame (through VXLAN on UDP 8472), or null. */
function tcpOf(d: Uint8Array): Tcp | null {
  let off = 0;
  for (;;) {
    if (d.length < off + 34 || d[off + 12] !== 0x08 || d[off + 13] !== 0x00) return null;
    const ip = off + 14;
    const ihl = (d[ip]! & 15) * 4;
    const proto = d[ip + 9]!;
    const l4 = ip + ihl;
    const u32 = (o: number) => ((d[o]! << 24) | (d[o + 1]! << 16) | (d[o + 2]! << 8) | d[o + 3]!) >>> 0;
    if (proto === 17 && ((d[l4 + 2]! << 8) | d[l4 + 3]!) === 8472) {
      off = l4 + 8 + 8;
      continue;
    }
    if (proto !== 6) return null;
    const totalLen = (d[ip + 2]! << 8) | d[ip + 3]!;
    const doff = (d[l4 + 12]! >>> 4) * 4;
    let mss: number | null = null;
    let tsval: number | null = null;
    for (let i = l4 + 20; i < l4 + doff; ) {
      const kind = d[i]!;
      if (kind === 0) break;
      if (kind === 1) {
        i++;
        continue;
      }
      if (kind === 2) mss = (d[i + 2]! << 8) | d[i + 3]!;
      if (kind === 8) tsval = u32(i + 2);
      i += d[i + 1]!;
    }
    return {
      src: u32(ip + 12),
      dst: u32(ip + 16),
      ipId: (d[ip + 4]! << 8) | d[ip + 5]!,
      flags: d[l4 + 13]!,
      window: (d[l4 + 14]! << 8) | d[l4 + 15]!,
      mss,
      tsval,
      payload: totalLen - ihl - doff,
    };
  }
}

test("loopback: each packet once, as it comes in (tcpdump -i lo), so no false retransmissions", (t) => {
  const { cap } = demo();
  const lo = on(cap, "default/web-0/lo");
  // SYN, SYN-ACK, ACK, request, response, FIN, ACK, FIN, ACK: nine segments, nine frames.
  t.is(lo.length, 9);
  t.true(lo.every((p) => p.direction === "inbound"));
  const distinct = new Set(lo.map((p) => Buffer.from(p.data).toString("hex")));
  t.is(distinct.size, lo.length, "no frame recorded twice");
});

test("every frame carries epb_flags with its direction; one statistics block per interface", (t) => {
  const { cap, frames } = demo();
  t.is(cap.packets.length, frames);
  t.true(cap.packets.every((p) => p.direction === "inbound" || p.direction === "outbound"));
  t.true(on(cap, "default/client/eth0").some((p) => p.direction === "outbound"));
  t.true(on(cap, "default/client/eth0").some((p) => p.direction === "inbound"));
  t.is(cap.statistics.length, cap.interfaces.length);
  cap.statistics.forEach((s, i) => {
    const n = BigInt(cap.packets.filter((p) => p.interfaceId === i).length);
    t.is(s.interfaceId, i);
    t.is(s.usrDeliv, n);
    t.is(s.ifRecv, n);
    t.is(s.ifDrop, 0n);
    t.true(s.startNs! <= cap.packets[0]!.tsNs && s.endNs! >= cap.packets.at(-1)!.tsNs);
  });
});

test("no two frames of one device share a timestamp", (t) => {
  const { cap } = demo();
  const seen = new Set<string>();
  const dups: string[] = [];
  for (const p of cap.packets) {
    const k = `${cap.interfaces[p.interfaceId]!.name} ${p.tsNs}`;
    if (seen.has(k)) dups.push(k);
    seen.add(k);
  }
  t.deepEqual(dups, []);
});

test("each hop of a cross-node request costs its modelled time", (t) => {
  const { cap } = demo();
  const client = ipv4("10.244.1.2");
  const web1 = ipv4("10.244.2.2");
  // The first request segment (no ARP on its way) from client to web-1.
  const at = (name: string): bigint => {
    const p = on(cap, name).find((x) => {
      const s = tcpOf(x.data);
      return s !== null && s.src === client && s.dst === web1 && s.payload > 0;
    });
    if (!p) throw new Error(`no request on ${name}`);
    return p.tsNs;
  };
  const cni1 = at("worker-1/cni0");
  const fl1 = at("worker-1/flannel.1");
  const eth1 = at("worker-1/eth0");
  const eth2 = at("worker-2/eth0");
  const fl2 = at("worker-2/flannel.1");
  const cni2 = at("worker-2/cni0");
  const pod = at("default/web-1/eth0");
  t.is(at("default/client/eth0") + BigInt(VETH_CROSSING_NS), cni1);
  t.is(fl1 - cni1, BigInt(BRIDGE_FORWARD_NS + STACK_RX_NS), "bridge, then the stack routes to flannel.1");
  t.is(eth1 - fl1, BigInt(VXLAN_ENCAP_NS), "encapsulation");
  t.is(eth2 - eth1, BigInt(2 * NODE_LINK_NS + BRIDGE_FORWARD_NS), "two wires and the switch");
  t.is(fl2 - eth2, BigInt(STACK_RX_NS + VXLAN_DECAP_NS), "the outer stack, then decapsulation");
  t.is(cni2 - fl2, BigInt(STACK_RX_NS), "the inner stack routes to cni0");
  t.is(pod - cni2, BigInt(VETH_CROSSING_NS));
  t.is(at(nameStartsWith(cap, "switch/port-worker-1")) - eth1, BigInt(NODE_LINK_NS));
});

test("TCP on the wire as Linux sends it: initial windows, SYN-ACK IP ID 0, timestamps everywhere", (t) => {
  const { cap } = demo();
  // tcp_select_initial_window with the default receive space (65536).
  t.is(initialWindow(1460), 64240);
  t.is(initialWindow(1448), 65160);
  t.is(initialWindow(65495), 65495);
  t.is(initialWindow(65483), 65483);
  const segs = cap.packets.map((p) => tcpOf(p.data)).filter((s): s is Tcp => s !== null);
  const syns = segs.filter((s) => (s.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN);
  const synAcks = segs.filter((s) => (s.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK));
  t.true(syns.length > 0 && synAcks.length > 0);
  for (const s of syns) t.is(s.window, initialWindow(s.mss!), "SYN window from the MSS");
  // With timestamps the SYN-ACK's window is quantised on the MSS less the 12-byte option.
  for (const s of synAcks) {
    t.is(s.window, initialWindow(s.mss! - 12), "SYN-ACK window");
    t.is(s.ipId, 0, "a SYN-ACK goes out with IP ID 0 (DF)");
  }
  const lo = on(cap, "default/web-0/lo").map((p) => tcpOf(p.data)!);
  t.deepEqual([lo[0]!.window, lo[1]!.window, lo[2]!.window], [65495, 65483, 512]);
  t.true(syns.some((s) => s.mss === 1460 && s.window === 64240), "the outside host's SYN: 64240");
  const noTs = segs.filter((s) => s.tsval === null && !(s.flags & 0x04));
  t.deepEqual(noTs, [], "every segment but a RST carries TSopt");
});

test("a server that answers and closes is in FIN_WAIT_1 until its FIN is acknowledged", (t) => {
  const { sim, a, b } = routedPair();
  let server: TcpConnection | null = null;
  b.tcp.listen(80, (c) => {
    server = c;
    return {
      onData: (conn) => {
        conn.send(new TextEncoder().encode("reply"));
        conn.close();
      },
    };
  });
  let response = "";
  a.tcp.connect(ipv4("10.0.2.2"), 80, {
    onConnected: (c) => c.send(new TextEncoder().encode("request")),
    onData: (_c, d) => (response += new TextDecoder().decode(d)),
    onPeerClosed: (c) => c.close(),
  });
  const states: string[] = [];
  // One event at a time: whenever the server says FIN_WAIT_2, its FIN must be acknowledged.
  while (sim.run(Infinity, 1) > 0) {
    const s = server as TcpConnection | null;
    if (s === null) continue;
    if (states.at(-1) !== s.state) states.push(s.state);
    if (s.state === "FIN_WAIT_2") t.is(s.sndUna, s.sndNxt, "FIN_WAIT_2 with the FIN unacknowledged");
  }
  t.is(response, "reply");
  // The client's FIN+ACK acknowledges the server's FIN: FIN_WAIT_2 and TIME_WAIT pass within
  // that one segment (TIME_WAIT is not kept), so the states seen between events are these.
  t.deepEqual(states, ["SYN_RECV", "ESTABLISHED", "FIN_WAIT_1", "CLOSED"]);
});

test("an application's segments follow the segment they answer, one socket never sends two at once", (t) => {
  const { sim, a, b, aEth } = routedPair();
  b.tcp.listen(80, () => ({
    onData: (conn) => {
      conn.send(new TextEncoder().encode("reply"));
      conn.close();
    },
  }));
  a.tcp.connect(ipv4("10.0.2.2"), 80, { onConnected: (c) => c.send(new TextEncoder().encode("request")), onPeerClosed: (c) => c.close() });
  const sent: { ns: number; flags: number }[] = [];
  aEth.taps.push({
    capture: (_d, dir, pkt) => {
      const s = tcpOf(pkt.buf.subarray(pkt.head, pkt.tail));
      if (dir === "tx" && s !== null) sent.push({ ns: sim.now(), flags: s.flags });
    },
  });
  sim.run();
  // SYN; the handshake's ACK, then the request APP_RESPONSE_NS later; the reply's ACK; the FIN.
  t.deepEqual(sent.map((s) => s.flags), [TCP_SYN, TCP_ACK, TCP_ACK | 0x08, TCP_ACK, TCP_FIN | TCP_ACK]);
  t.is(sent[2]!.ns - sent[1]!.ns, APP_RESPONSE_NS);
  t.true(sent.every((x, i) => i === 0 || x.ns > sent[i - 1]!.ns), `strictly increasing: ${sent.map((s) => s.ns).join(", ")}`);
});
