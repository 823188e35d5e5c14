/**
 * TCP bulk transfer: flow and congestion control (the peer's window, an initial window of
 * ten segments and slow start), retransmission after a timeout (go-back-N from the first
 * unacknowledged byte), and path MTU discovery (RFC 1191: "fragmentation needed" lowers
 * the MSS and the lost segments are sent again at once) — and its black hole when that
 * ICMP never arrives.
 */
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import { LinkImpairment } from "../../src/netdev/index.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { NamespaceNetfilter } from "../../src/netns/netfilter-glue.js";
import type { NetworkNamespace } from "../../src/netns/index.js";
import { TCP_INIT_CWND, TCP_RTO_MIN_NS, type TcpConnection } from "../../src/netns/tcp.js";
import { routedPair } from "./helpers.js";

const SEC = 1_000_000_000;

/** `b` (at `bIp`) serves `size` bytes to whoever connects, then closes; `a` downloads them. */
function download(a: NetworkNamespace, b: NetworkNamespace, bIp: string, size: number) {
  const body = new Uint8Array(size);
  for (let i = 0; i < size; i++) body[i] = (i * 7) & 255;
  let server: TcpConnection | null = null;
  b.tcp.listen(80, (c) => {
    server = c;
    return {
      onConnected: (conn) => {
        conn.send(body);
        conn.close();
      },
      onPeerClosed: () => {},
    };
  });
  const got: Uint8Array[] = [];
  let closed = false;
  let closedAt = -1;
  const client = a.tcp.connect(ipv4(bIp), 80, {
    onData: (_c, d) => got.push(d),
    onPeerClosed: (c) => {
      closed = true;
      closedAt = a.sim.now();
      c.close();
    },
  });
  return {
    client,
    server: () => server!,
    received: () => got.reduce((n, d) => n + d.length, 0),
    intact: () => {
      let i = 0;
      for (const d of got) for (const x of d) if (x !== ((i++ * 7) & 255)) return false;
      return i === size;
    },
    closed: () => closed,
    closedAt: () => closedAt,
  };
}

interface Seg {
  seq: number;
  len: number;
  ack: number;
  win: number;
  ipLen: number;
}

function tcpSegs(frames: Uint8Array[], src: string): Seg[] {
  const want = ipv4(src);
  const out: Seg[] = [];
  for (const f of frames) {
    if (f[12] !== 0x08 || f[13] !== 0 || f[14 + 9] !== 6) continue;
    const ip = 14;
    const s = ((f[ip + 12]! << 24) | (f[ip + 13]! << 16) | (f[ip + 14]! << 8) | f[ip + 15]!) >>> 0;
    if (s !== want) continue;
    const ipLen = (f[ip + 2]! << 8) | f[ip + 3]!;
    const l4 = ip + (f[ip]! & 15) * 4;
    const doff = (f[l4 + 12]! >> 4) * 4;
    const rd = (o: number) => ((f[o]! << 24) | (f[o + 1]! << 16) | (f[o + 2]! << 8) | f[o + 3]!) >>> 0;
    out.push({ seq: rd(l4 + 4), len: ipLen - (l4 - ip) - doff, ack: rd(l4 + 8), win: (f[l4 + 14]! << 8) | f[l4 + 15]!, ipLen });
  }
  return out;
}

test("a 1 MB download completes intact; the first flight is the initial window, and no segment exceeds the peer's window", (t) => {
  const { sim, a, b, bEth, rec } = routedPair();
  const d = download(a, b, "10.0.2.2", 1 << 20);
  sim.run();
  t.is(d.received(), 1 << 20);
  t.true(d.intact());
  t.true(d.closed());
  t.is(d.client.state, "CLOSED");
  t.is(b.tcp.retransmittedSegments, 0);
  // On b's own eth0: what b sent and the ACKs it received, in order.
  const onB = rec.frames.filter((_, i) => rec.lines[i]!.startsWith("b/eth0"));
  const data = tcpSegs(onB, "10.0.2.2").filter((s) => s.len > 0);
  const acks = tcpSegs(onB, "10.0.1.2");
  t.true(data.length > 700);
  // Slow start: the first TCP_INIT_CWND segments go out before any ACK of data can come back.
  const firstAck = acks.find((s) => s.ack !== acks[0]!.ack)!;
  const iss = data[0]!.seq;
  t.is(data.filter((s) => ((s.seq - iss) >>> 0) < ((firstAck.ack - iss) >>> 0) + TCP_INIT_CWND * 1448).length >= TCP_INIT_CWND, true);
  t.is(data.slice(0, TCP_INIT_CWND).every((s) => s.len === 1448), true, "full-sized segments (MSS 1460 less the timestamps option)");
  // Flow control: replay the capture; every data segment ends within the last ACK's window.
  let lastAck = acks[0]!;
  let ai = 0;
  let ok = true;
  const lines = rec.lines.filter((l) => l.startsWith("b/eth0"));
  let di = 0;
  for (let i = 0; i < onB.length; i++) {
    const seg = tcpSegs([onB[i]!], lines[i]!.includes(" rx ") ? "10.0.1.2" : "10.0.2.2")[0];
    if (!seg) continue;
    if (lines[i]!.includes(" rx ")) {
      lastAck = acks[ai++] ?? lastAck;
    } else if (seg.len > 0) {
      di++;
      const limit = (lastAck.ack + lastAck.win * 128) >>> 0;
      if (((seg.seq + seg.len - limit) | 0) > 0) ok = false;
    }
  }
  t.true(di > 700);
  t.true(ok, "no segment beyond the advertised window");
  void bEth;
});

/** a (eth0 1500) ── r ── b, where r's side of the link to b has MTU 1400 but b's side 1500 (b announces MSS 1460). */
function narrowMiddle(blockIcmp: boolean) {
  const p = routedPair();
  p.rEth2.mtu = 1400;
  if (blockIcmp) {
    const rs = newRuleset();
    applyRestore(rs, parseRestore("*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p icmp -j DROP\nCOMMIT\n", "block icmp"));
    p.r.nf = new NamespaceNetfilter(p.r, rs);
  }
  return p;
}

test("path MTU discovery: fragmentation needed lowers the MSS, the lost segments are sent again at once, the transfer completes", (t) => {
  const { sim, a, b, r, rec } = narrowMiddle(false);
  const d = download(b, a, "10.0.1.2", 200_000);
  sim.run();
  t.true(d.intact());
  t.true((r.stats.drops.get("frag-needed") ?? 0) > 0, "r dropped the 1500-byte segments");
  t.true(a.tcp.retransmittedSegments > 0);
  t.is(a.pathMtu(ipv4("10.0.2.2"), 1500), 1400, "the path MTU is remembered");
  t.is(d.server().sendMss, 1400 - 40 - 12);
  // What reached b's link: nothing over 1400 bytes.
  const onB = rec.frames.filter((_, i) => rec.lines[i]!.startsWith("b/eth0"));
  t.true(tcpSegs(onB, "10.0.1.2").every((s) => s.ipLen <= 1400));
  // The ICMP came back quickly: the transfer took far less than one RTO.
  t.true(d.closedAt() > 0 && d.closedAt() < TCP_RTO_MIN_NS, `done at ${d.closedAt()} ns`);
});

test("PMTU black hole: without the ICMP, the oversized segments are retransmitted on the RTO backoff and nothing gets through", (t) => {
  const { sim, a, b, r, rec } = narrowMiddle(true);
  const d = download(b, a, "10.0.1.2", 200_000);
  sim.run(10 * SEC);
  t.is(d.received(), 0, "the handshake worked, no data did");
  t.is(d.client.state, "ESTABLISHED");
  t.true((r.stats.drops.get("frag-needed") ?? 0) > 0);
  t.is(a.pathMtu(ipv4("10.0.2.2"), 1500), 1500, "nothing taught a the smaller MTU");
  // RTO 200 ms, doubling: retransmissions at 0.2, 0.6, 1.4, 3.0 and 6.2 s.
  const onA = rec.frames.filter((_, i) => rec.lines[i]!.startsWith("a/eth0 tx"));
  const big = tcpSegs(onA, "10.0.1.2").filter((s) => s.len > 0);
  t.true(big.every((s) => s.ipLen === 1500));
  t.is(a.tcp.retransmittedSegments, 5);
  t.is(d.server().unacknowledged, 200_000);
});

test("a lossy link: every lost segment is recovered by the retransmission timer (go-back-N), the download completes intact", (t) => {
  const { sim, a, b, rEth2 } = routedPair();
  // 1% of what r sends towards b is lost: data segments and all.
  rEth2.impairment = new LinkImpairment({ loss: 0.01, seed: 9 });
  const d = download(b, a, "10.0.1.2", 300_000);
  sim.run();
  t.true(d.intact());
  t.true(rEth2.impairment.lost > 0);
  t.true(a.tcp.retransmittedSegments > 0, "lost segments were sent again");
  t.true(d.closedAt() >= TCP_RTO_MIN_NS, "recovery waited for the RTO (no fast retransmit)");
});
