/**
 * SYN retransmission on Linux's timers (tcp_retransmit_timer while SYN_SENT): the initial
 * RTO of 1 s (TCP_TIMEOUT_INIT) doubling, tcp_syn_retries = 6, so retransmissions leave at
 * 1, 3, 7, 15, 31 and 63 s and connect() gives up at 127 s.
 */
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { NamespaceNetfilter, TCP_SYN } from "../../src/netns/index.js";
import { routedPair } from "./helpers.js";

const SEC = 1_000_000_000;

function withFilter(rule: string) {
  const net = routedPair();
  const rs = newRuleset();
  applyRestore(rs, parseRestore(`*filter\n:FORWARD ACCEPT [0:0]\n${rule}\nCOMMIT\n`, "test"));
  net.r.nf = new NamespaceNetfilter(net.r, rs);
  net.b.tcp.listen(80, () => ({}));
  return net;
}

test("an unanswered SYN is retransmitted at 1, 3, 7, 15, 31 and 63 s; connect() times out at 127 s", (t) => {
  const net = withFilter("-A FORWARD -p tcp --syn -j DROP");
  const sent: number[] = [];
  net.aEth.taps.push({
    capture(_dev, dir, pkt) {
      const b = pkt.buf;
      const h = pkt.head;
      if (dir === "tx" && b[h + 23] === 6 && b[h + 14 + 20 + 13] === TCP_SYN) sent.push(net.sim.now());
    },
  });
  let timedOut = -1;
  const t0 = net.sim.now();
  const conn = net.a.tcp.connect(ipv4("10.0.2.2"), 80, { onTimeout: () => (timedOut = net.sim.now()) });
  net.sim.run();
  t.deepEqual(
    sent.map((s) => Math.round((s - t0) / SEC)),
    [0, 1, 3, 7, 15, 31, 63],
  );
  t.is(conn.synRetransmits, 6);
  t.is(net.a.tcp.synRetransmits, 6);
  t.is(Math.round((timedOut - t0) / SEC), 127);
  t.is(conn.state, "CLOSED");
});

test("a first SYN lost on the way: the retransmission 1 s later connects", (t) => {
  // The first new TCP flow's SYN is dropped (nth 1 of 1000), the retransmission passes.
  const net = withFilter("-A FORWARD -p tcp --syn -m statistic --mode nth --every 1000 --packet 0 -j DROP");
  let connectedAt = -1;
  const t0 = net.sim.now();
  const conn = net.a.tcp.connect(ipv4("10.0.2.2"), 80, { onConnected: () => (connectedAt = net.sim.now()) });
  net.sim.run();
  t.is(conn.state, "ESTABLISHED");
  t.is(conn.synRetransmits, 1);
  t.true(connectedAt - t0 > SEC && connectedAt - t0 < SEC + 10_000_000);
});

test("a retransmitted SYN the listener already answered gets the SYN-ACK again", (t) => {
  // The SYN-ACK is dropped once: the client's retransmitted SYN reaches the listener in SYN_RECV.
  const net = withFilter("-A FORWARD -p tcp --tcp-flags SYN,ACK SYN,ACK -m statistic --mode nth --every 1000 --packet 0 -j DROP");
  const conn = net.a.tcp.connect(ipv4("10.0.2.2"), 80, {});
  net.sim.run();
  t.is(conn.state, "ESTABLISHED");
  t.is(conn.synRetransmits, 1);
});
