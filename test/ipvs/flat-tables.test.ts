import test from "ava";
import { EventQueue } from "../../src/base/event-queue.js";
import { Rng } from "../../src/base/rng.js";
import { ConnIndex } from "../../src/ipvs/conn-index.js";
import { ConnTimers } from "../../src/ipvs/conn-timers.js";
import { IpvsConn } from "../../src/ipvs/conn.js";
import { ServiceHash } from "../../src/ipvs/service-hash.js";
import { IPPROTO_UDP } from "../../src/wire/ipv4.js";

test("connection timers fire in the order of one priority queue (earliest first, ties in arming order)", (t) => {
  const rng = new Rng(3);
  const timers = new ConnTimers<number>();
  const reference = new EventQueue<number>();
  let now = 0;
  let armed = 0;
  const fired: number[] = [];
  const expected: number[] = [];
  for (let step = 0; step < 20_000; step++) {
    const r = rng.intBetween(0, 9);
    if (r < 6) {
      // Mostly a few fixed timeouts from a clock that only moves on, as connections arm them.
      const timeout = [300, 300, 120, 60, 5][rng.intBetween(0, 4)]!;
      timers.push(now + timeout, armed);
      reference.push(now + timeout, armed);
      armed++;
    } else if (r < 9) {
      now += rng.intBetween(0, 40);
    } else {
      while (timers.size > 0 && timers.peekTime() <= now) fired.push(timers.pop()!);
      while (reference.size > 0 && reference.peekTime() <= now) expected.push(reference.pop()!);
      t.is(timers.peekTime(), reference.peekTime());
    }
  }
  while (timers.size > 0) fired.push(timers.pop()!);
  while (reference.size > 0) expected.push(reference.pop()!);
  t.true(armed > 10_000);
  t.deepEqual(fired, expected);
});

test("the service hash finds, replaces and deletes (protocol, address, port) keys through churn", (t) => {
  const rng = new Rng(5);
  const hash = new ServiceHash<string>();
  const model = new Map<string, string>();
  const protos = [6, 17, 132];
  for (let step = 0; step < 30_000; step++) {
    // A small key space, so inserts, hits, replacements and deletions all happen often.
    const proto = protos[rng.intBetween(0, 2)]!;
    const addr = (0x0a600000 + rng.intBetween(0, 400)) >>> 0;
    const port = rng.intBetween(0, 3) === 0 ? 0 : 80 + rng.intBetween(0, 2);
    const key = `${proto}/${addr}/${port}`;
    const op = rng.intBetween(0, 2);
    if (op === 0) {
      hash.set(proto, addr, port, `v${step}`);
      model.set(key, `v${step}`);
    } else if (op === 1) {
      t.is(hash.delete(proto, addr, port), model.delete(key));
    } else if (hash.get(proto, addr, port) !== model.get(key)) {
      t.fail(`lookup of ${key} at step ${step}`);
      return;
    }
  }
  t.is(hash.size, model.size);
  for (const [key, value] of model) {
    const [proto, addr, port] = key.split("/").map(Number);
    t.is(hash.get(proto!, addr!, port!), value);
  }
  t.is(hash.get(6, 0xffffffff, 65535), undefined);
});

test("the connection index finds the newest of same-key connections, through growth and removals", (t) => {
  const conns: IpvsConn[] = [];
  const index = new ConnIndex("client");
  const mk = (cport: number, tag: number) => new IpvsConn(IPPROTO_UDP, 0x0af40102, cport, 0x0a600100, 80, tag, 8080, 0, null, null, 0);
  // Three generations of the same tuples, interleaved with filler that makes the table grow.
  for (let gen = 0; gen < 3; gen++) {
    for (let p = 0; p < 3000; p++) {
      const c = mk(1000 + p, gen);
      conns.push(c);
      index.insert(c);
    }
  }
  for (let p = 0; p < 3000; p++) t.is(index.find(IPPROTO_UDP, 0x0af40102, 1000 + p, 0x0a600100, 80)?.daddr, 2);
  // Remove the newest generation of even ports: the previous one shows through.
  for (let p = 0; p < 3000; p += 2) index.remove(conns[6000 + p]!);
  for (let p = 0; p < 3000; p++) t.is(index.find(IPPROTO_UDP, 0x0af40102, 1000 + p, 0x0a600100, 80)?.daddr, p % 2 === 0 ? 1 : 2);
  for (const c of conns) index.remove(c);
  t.is(index.size, 0);
  t.is(index.find(IPPROTO_UDP, 0x0af40102, 1000, 0x0a600100, 80), null);
});
