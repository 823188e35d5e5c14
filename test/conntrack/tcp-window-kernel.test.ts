/**
 * tcp_in_window by kernel version: a late duplicate of a segment the receiver acknowledged
 * more than a window ago is under the window's lower bound. Kernels before 6.1 mark it
 * INVALID (so NAT leaves it alone); 6.1 and later ignore it (accept it, state untouched).
 * nf_conntrack_tcp_be_liberal accepts it on any kernel.
 */
import test from "ava";
import type { ConntrackTable } from "../../src/conntrack/index.js";
import { parseKernelVersion, tcpIgnoresOverlyDelayed } from "../../src/conntrack/kernel.js";
import { ACK, SYN, makeTable, tcp } from "./helpers.js";

const C = "10.244.1.2";
const S = "10.244.2.3";
const ISS_C = 1000;
const ISS_S = 5000;
const WIN = 64240;

function send(ct: ConntrackTable, src: string, dst: string, sport: number, dport: number, seq: number, ack: number, flags: number, payloadLen = 0) {
  return ct.inspect(...(() => {
    const p = tcp(src, dst, sport, dport, seq, ack, flags, { payloadLen, window: WIN });
    return [p.buf, p.ipOff, p.len] as const;
  })()).ctinfo;
}

/** A connection where S has sent `segments` full segments, each acknowledged by C; returns the first data segment's seq. */
function transfer(ct: ConntrackTable, segments: number): number {
  const syn = ct.inspect(...(() => {
    const p = tcp(C, S, 40000, 80, ISS_C, 0, SYN, { window: WIN });
    return [p.buf, p.ipOff, p.len] as const;
  })());
  ct.confirm(syn.conn!);
  send(ct, S, C, 80, 40000, ISS_S, ISS_C + 1, SYN | ACK);
  send(ct, C, S, 40000, 80, ISS_C + 1, ISS_S + 1, ACK);
  let seq = ISS_S + 1;
  for (let i = 0; i < segments; i++) {
    send(ct, S, C, 80, 40000, seq, ISS_C + 1, ACK, 1400);
    seq += 1400;
    send(ct, C, S, 40000, 80, ISS_C + 1, seq, ACK);
  }
  return ISS_S + 1;
}

test("kernels from 6.1 on ignore overly delayed segments; older ones make them INVALID", (t) => {
  t.false(tcpIgnoresOverlyDelayed(parseKernelVersion("5.4.0")!));
  t.false(tcpIgnoresOverlyDelayed(parseKernelVersion("6.0.19")!));
  t.true(tcpIgnoresOverlyDelayed(parseKernelVersion("6.1")!));
  for (const [kernel, want] of [["4.19.0", "INVALID"], ["5.15.0", "INVALID"], ["6.6.0", "ESTABLISHED"]] as const) {
    const { ct } = makeTable({ kernel: parseKernelVersion(kernel)! });
    const first = transfer(ct, 100); // 140 kB sent and acknowledged: more than one 64 kB window ago
    const before = ct.stats.invalid;
    t.is(send(ct, S, C, 80, 40000, first, ISS_C + 1, ACK, 1400), want, `${kernel}: a duplicate of the first data segment`);
    t.is(ct.stats.invalid - before, want === "INVALID" ? 1 : 0);
    // A recent duplicate (within the window) is fine on every kernel.
    const recent = first + 98 * 1400;
    t.is(send(ct, S, C, 80, 40000, recent, ISS_C + 1, ACK, 1400), "ESTABLISHED", `${kernel}: a recent duplicate`);
  }
});

test("nf_conntrack_tcp_be_liberal accepts the late duplicate on an old kernel", (t) => {
  const { ct } = makeTable({ kernel: parseKernelVersion("4.19.0")!, tcpBeLiberal: true });
  const first = transfer(ct, 100);
  t.is(send(ct, S, C, 80, 40000, first, ISS_C + 1, ACK, 1400), "ESTABLISHED");
});
