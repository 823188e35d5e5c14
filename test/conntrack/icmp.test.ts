import test from "ava";
import { makeTable, echo, icmpError, udp, tcp, SYN, SEC } from "./helpers.js";

const C = "10.244.1.2";
const S = "10.244.2.3";

test("ICMP echo: request NEW, reply ESTABLISHED in the reply direction, 30 s timeout", (t) => {
  const { ct, clock } = makeTable();
  const req = echo(C, S, "echo-request", 77);
  const v = ct.inspect(req.buf, req.ipOff, req.len);
  t.is(v.ctinfo, "NEW");
  const conn = v.conn!;
  t.deepEqual([conn.original.sport, conn.original.dport, conn.reply.dport], [77, 8, 0]);
  ct.confirm(conn);
  clock.advanceBy(SEC);
  const rep = echo(S, C, "echo-reply", 77);
  const r = ct.inspect(rep.buf, rep.ipOff, rep.len);
  t.is(r.ctinfo, "ESTABLISHED");
  t.is(r.dir, 1);
  t.is(r.conn, conn);
  t.is(conn.timeoutAt, clock.now() + 30 * SEC);
  t.is(ct.list()[0], "icmp     1 30 src=10.244.1.2 dst=10.244.2.3 type=8 code=0 id=77 src=10.244.2.3 dst=10.244.1.2 type=0 code=0 id=77 mark=0 use=1");
});

test("an echo reply with no request, or another id, is INVALID", (t) => {
  const { ct } = makeTable();
  const rep = echo(S, C, "echo-reply", 5);
  t.is(ct.inspect(rep.buf, rep.ipOff, rep.len).ctinfo, "INVALID");
  t.is(ct.stats.invalid, 1);
});

test("ICMP port unreachable quoting a known UDP flow is RELATED, with the error's direction", (t) => {
  const { ct } = makeTable();
  const q = udp(C, S, 40000, 9999);
  const conn = ct.inspect(q.buf, q.ipOff, q.len).conn!;
  ct.confirm(conn);
  const err = icmpError(S, C, "dst-unreachable", 3, q);
  const v = ct.inspect(err.buf, err.ipOff, err.len);
  t.is(v.ctinfo, "RELATED");
  t.is(v.conn, conn);
  t.is(v.dir, 1);
  // An error the other way, about the server's reply, is RELATED in the original direction.
  const r = udp(S, C, 9999, 40000);
  ct.inspect(r.buf, r.ipOff, r.len);
  const err2 = icmpError(C, S, "dst-unreachable", 3, r);
  const v2 = ct.inspect(err2.buf, err2.ipOff, err2.len);
  t.is(v2.ctinfo, "RELATED");
  t.is(v2.dir, 0);
  // Time exceeded from a router on the way counts too.
  const te = icmpError("10.244.1.1", C, "time-exceeded", 0, q);
  t.is(ct.inspect(te.buf, te.ipOff, te.len).ctinfo, "RELATED");
});

test("ICMP errors about unknown flows, or sent to the wrong host, are INVALID", (t) => {
  const { ct } = makeTable();
  const q = tcp(C, S, 40000, 80, 1, 0, SYN);
  const err = icmpError(S, C, "dst-unreachable", 1, q);
  t.is(ct.inspect(err.buf, err.ipOff, err.len).ctinfo, "INVALID");
  ct.confirm(ct.inspect(q.buf, q.ipOff, q.len).conn!);
  t.is(ct.inspect(err.buf, err.ipOff, err.len).ctinfo, "RELATED");
  const spoof = icmpError(S, "10.244.9.9", "dst-unreachable", 1, q);
  t.is(ct.inspect(spoof.buf, spoof.ipOff, spoof.len).ctinfo, "INVALID");
});
