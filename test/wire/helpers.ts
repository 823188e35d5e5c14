/** Shared fixtures for the wire tests: hex helpers and frames checked with tshark. */
import { WireError } from "../../src/base/errors.js";
import type { ExecutionContext } from "ava";

export function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A buffer of `n` bytes of 0xa5, so fields left unwritten show up in comparisons. */
export function filled(n: number): Uint8Array {
  return new Uint8Array(n).fill(0xa5);
}

/** Runs `f`; passes if it returns or throws a WireError, fails on anything else. */
export function parsesOrWireError(t: ExecutionContext, f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof WireError)) t.fail(`threw ${String(e)}`);
  }
  t.pass();
}

// Frames generated for this suite and checked by tshark 4 (every IP, UDP, TCP and ICMP
// checksum reported "correct"). Pod 10.244.1.2 (0a:58:0a:f4:01:02) on node 192.168.56.11.
export const FRAMES = {
  /** 10.244.1.2.40000 > 10.244.2.3.8080: UDP "hello". */
  udp: hex(`0a580af40101 0a580af40102 0800
    4500 0021 0000 4000 4011 21e0 0af40102 0af40203
    9c40 1f90 000d e744 68656c6c6f`),
  /** The udp frame above inside VXLAN VNI 1 from 192.168.56.11:41234 to 192.168.56.12:8472. */
  vxlan: hex(`080027000012 080027000011 0800
    4500 0053 0007 0000 4011 892b c0a8380b c0a8380c
    a112 2118 003f 274d
    08000000 00000100
    0a580af40101 0a580af40102 0800
    4500 0021 0000 4000 4011 21e0 0af40102 0af40203
    9c40 1f90 000d e744 68656c6c6f`),
  /** SYN 40000 > 80 seq 1000 win 64240, options mss 1460, sackOK, TS 1/0, nop, wscale 7. */
  tcpSyn: hex(`0a580af40101 0a580af40102 0800
    4500 003c 0000 4000 4006 21d0 0af40102 0af40203
    9c40 0050 000003e8 00000000 a002 faf0 93a9 0000
    020405b4 0402 080a0000000100000000 01 030307`),
  /** PSH|ACK seq 1001 ack 5001 win 502 carrying "GET / HTTP/1.1\r\n\r\n". */
  tcpData: hex(`0a580af40101 0a580af40102 0800
    4500 003a 0000 4000 4006 21d2 0af40102 0af40203
    9c40 0050 000003e9 00001389 5018 01f6 0235 0000
    474554202f20485454502f312e310d0a0d0a`),
  /** Echo request id 1 seq 1 to 192.168.56.12 with 56 bytes of "a". */
  echo: hex(`0a580af40101 0a580af40102 0800
    4500 0054 0000 4000 4001 35ff 0af40102 c0a8380c
    08 00 5157 0001 0001 ${"61".repeat(56)}`),
  /** Port unreachable from 10.244.2.1 quoting the udp frame's IP and UDP headers. */
  portUnreachable: hex(`0a580af40101 0a580af40102 0800
    4500 0038 0000 4000 4001 21db 0af40201 0af40102
    03 03 59da 00000000
    4500 0021 0000 4000 4011 21e0 0af40102 0af40203 9c40 1f90 000d e744`),
  /** Fragmentation needed, next-hop MTU 1450, quoting the whole udp datagram. */
  fragNeeded: hex(`0a580af40101 0a580af40102 0800
    4500 003d 0000 4000 4001 21d6 0af40201 0af40102
    03 04 105d 0000 05aa
    4500 0021 0000 4000 4011 21e0 0af40102 0af40203 9c40 1f90 000d e744 68656c6c6f`),
  /** TTL exceeded in transit, quoting the whole udp datagram. */
  timeExceeded: hex(`0a580af40101 0a580af40102 0800
    4500 003d 0000 4000 4001 21d6 0af40201 0af40102
    0b 00 0e0b 00000000
    4500 0021 0000 4000 4011 21e0 0af40102 0af40203 9c40 1f90 000d e744 68656c6c6f`),
  /** Broadcast who-has 10.244.1.1 tell 10.244.1.2. */
  arpRequest: hex(`ffffffffffff 0a580af40102 0806
    0001 0800 06 04 0001 0a580af40102 0af40102 000000000000 0af40101`),
  /** 10.244.1.1 is-at 0a:58:0a:f4:01:01, to 10.244.1.2. */
  arpReply: hex(`0a580af40102 0a580af40101 0806
    0001 0800 06 04 0002 0a580af40101 0af40101 0a580af40102 0af40102`),
  /** Query id 0x1234, RD, A? web.default.svc.cluster.local to kube-dns. */
  dnsQuery: hex(`0a580af40101 0a580af40102 0800
    4500 004b 0000 4000 4011 2443 0af40102 0a60000a
    9c40 0035 0037 f716
    1234 0100 0001 0000 0000 0000
    03 776562 07 64656661756c74 03 737663 07 636c7573746572 05 6c6f63616c 00 0001 0001`),
  /** The answer: A 10.96.12.34, TTL 30, owner name a pointer to offset 12. */
  dnsAnswer: hex(`0a580af40101 0a580af40102 0800
    4500 005b 0000 4000 4011 2433 0a60000a 0af40102
    0035 9c40 0047 c39e
    1234 8180 0001 0001 0000 0000
    03 776562 07 64656661756c74 03 737663 07 636c7573746572 05 6c6f63616c 00 0001 0001
    c00c 0001 0001 0000001e 0004 0a600c22`),
  /** NXDOMAIN (AA, RD, RA) for nope.default.svc.cluster.local with a 22-byte SOA-typed authority record. */
  dnsNxdomain: hex(`0a580af40101 0a580af40102 0800
    4500 007b 0000 4000 4011 2413 0a60000a 0af40102
    0035 9c40 0067 f7dd
    1234 8583 0001 0000 0001 0000
    04 6e6f7065 07 64656661756c74 03 737663 07 636c7573746572 05 6c6f63616c 00 0001 0001
    07 636c7573746572 05 6c6f63616c 00 0006 0001 0000001e 0016 ${"00".repeat(22)}`),
};
