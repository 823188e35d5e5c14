import test from "ava";
import { IpvsService, createScheduler, sipHash, hsiphashU32, MH_DEFAULT_KEYS, SVC_F_SCHED1 } from "../../src/ipvs/index.js";
import type { IpvsDest } from "../../src/ipvs/index.js";
import { Rng } from "../../src/base/rng.js";
import { makeTable, VIP, ep, addr } from "./helpers.js";

const KEY = { protocol: "tcp" as const, addr: VIP, port: 80 };

function svcWith(sched: string, weights: number[], extra: { schedFlags?: number } = {}) {
  const { t } = makeTable();
  const svc = t.addService(KEY, { scheduler: sched, ...extra });
  // Added in order 0, 1, 2...: the kernel list (and svc.dests) is newest first.
  for (let i = 0; i < weights.length; i++) t.addDest(KEY, { addr: ep(i), port: 8080, weight: weights[i]! });
  return { t, svc };
}

function pick(svc: IpvsService, saddr = addr("10.0.0.1"), sport = 1234): IpvsDest | null {
  return svc.scheduler.schedule(svc, saddr, sport, VIP, 80);
}

function idx(d: IpvsDest | null): number {
  return d === null ? -1 : d.addr - ep(0);
}

test("rr: exact round robin in list order (newest first), skipping weight 0", (t) => {
  const { t: table, svc } = svcWith("rr", [1, 1, 1, 1]);
  t.deepEqual(Array.from({ length: 8 }, () => idx(pick(svc))), [3, 2, 1, 0, 3, 2, 1, 0]);
  table.editDest(KEY, { addr: ep(2), port: 8080, weight: 0 });
  t.deepEqual(Array.from({ length: 6 }, () => idx(pick(svc))), [3, 1, 0, 3, 1, 0]);
  // Deleting the server under the cursor moves the cursor to its predecessor (ip_vs_rr_del_dest).
  pick(svc); // 3
  pick(svc); // 1
  table.deleteDest(KEY, ep(1), 8080);
  t.is(idx(pick(svc)), 0);
  table.editDest(KEY, { addr: ep(0), port: 8080, weight: 0 });
  table.editDest(KEY, { addr: ep(3), port: 8080, weight: 0 });
  t.is(pick(svc), null);
});

test("wrr: weights 3:1 give 3:1 per cycle in the kernel's interleaving", (t) => {
  // A = ep(0) weight 3 added first, B = ep(1) weight 1: list order is [B, A]. Adding A to
  // the empty service left cw = 1 (mw = 3 - (3 - 1)); adding B keeps cw = 1, so the first
  // pass (cw = 1) takes B then A, and then every cycle runs cw = 3, 2, 1: A, A, B A.
  const { svc } = svcWith("wrr", [3, 1]);
  const seq = Array.from({ length: 12 }, () => (idx(pick(svc)) === 0 ? "A" : "B")).join("");
  t.is(seq, "BAAABAAABAAA");
});

test("wrr: weights 4:2:1 over a cycle of 7 honour the ratios; gcd stepping", (t) => {
  const { svc } = svcWith("wrr", [4, 2, 1]);
  const counts = [0, 0, 0];
  for (let i = 0; i < 7 * 10; i++) counts[idx(pick(svc))]!++;
  t.deepEqual(counts, [40, 20, 10]);
  const { svc: s2 } = svcWith("wrr", [6, 2]); // gcd 2, mw = 6 - 1: cw steps 5, 3, 1
  const seq = Array.from({ length: 8 }, () => idx(pick(s2))).join("");
  t.is(seq, "10001000");
});

test("lc and wlc pick the least loaded; overhead = active*256 + inactive", (t) => {
  const { svc } = svcWith("lc", [1, 1, 1]);
  const [d2, d1, d0] = svc.dests as [IpvsDest, IpvsDest, IpvsDest];
  d0.activeConns = 1; // 256
  d1.inactConns = 300; // 300
  d2.activeConns = 1;
  d2.inactConns = 1; // 257
  t.is(pick(svc), d0);
  const { svc: w } = svcWith("wlc", [1, 4, 1]);
  const [w2, w1, w0] = w.dests as [IpvsDest, IpvsDest, IpvsDest];
  w0.activeConns = 1; // 256 / 1
  w1.activeConns = 3; // 768 / 4 = 192
  w2.activeConns = 1; // 256 / 1
  t.is(pick(w), w1);
  w1.activeConns = 5; // 1280 / 4 = 320
  t.is(pick(w), w2, "ties keep the first in list order");
});

test("sed and nq: (active + 1) / weight; nq sends to an idle server at once", (t) => {
  const { svc } = svcWith("sed", [1, 3]);
  const [b, a] = svc.dests as [IpvsDest, IpvsDest];
  a.activeConns = 0; // (0+1)/1 = 1
  b.activeConns = 2; // (2+1)/3 = 1 -> tie keeps b (first in list)
  t.is(pick(svc), b);
  b.activeConns = 3; // 4/3 > 1
  t.is(pick(svc), a);
  const { svc: nq } = svcWith("nq", [1, 5, 1]);
  const [n2, n1, n0] = nq.dests as [IpvsDest, IpvsDest, IpvsDest];
  n2.activeConns = 4;
  n1.activeConns = 1;
  n0.activeConns = 0;
  t.is(pick(nq), n0, "idle server wins regardless of weight");
  n0.activeConns = 1; // 2/1 vs n1 2/5 vs n2 5/1
  t.is(pick(nq), n1);
});

test("sh: stable per source, spreads sources, weight = buckets; fallback skips weight 0", (t) => {
  const { t: table, svc } = svcWith("sh", [1, 1, 1, 1]);
  const counts = new Map<number, number>();
  const rng = new Rng(3);
  for (let i = 0; i < 2000; i++) {
    const s = rng.nextU32();
    const d = pick(svc, s, rng.nextU31() & 0xffff);
    t.is(pick(svc, s, 1), d, "same source, same server (port ignored)");
    counts.set(idx(d), (counts.get(idx(d)) ?? 0) + 1);
  }
  t.is(counts.size, 4);
  for (const c of counts.values()) t.true(c > 350 && c < 650);
  // Weight 0 without sh-fallback: clients of that server get nothing.
  const s0 = [...Array(500).keys()].map((i) => addr("10.1.0.0") + i).find((s) => idx(pick(svc, s)) === 2)!;
  table.editDest(KEY, { addr: ep(2), port: 8080, weight: 0 });
  // Re-assignment gives weight-0 servers one bucket each, so look the client up again.
  const now = pick(svc, s0);
  t.true(now === null || idx(now) !== 2);
  table.editService(KEY, { schedFlags: SVC_F_SCHED1 });
  for (let i = 0; i < 300; i++) {
    const d = pick(svc, addr("10.2.0.0") + i);
    t.truthy(d);
    t.not(idx(d), 2);
  }
});

test("dh: the destination address picks the server, whoever the client is", (t) => {
  const { svc } = svcWith("dh", [1, 1, 1]);
  const a = svc.scheduler.schedule(svc, addr("10.0.0.1"), 1, addr("192.168.7.7"), 80);
  for (let i = 0; i < 50; i++) t.is(svc.scheduler.schedule(svc, addr("10.0.0.1") + i, i, addr("192.168.7.7"), 80), a);
  const seen = new Set<number>();
  for (let i = 0; i < 64; i++) seen.add(idx(svc.scheduler.schedule(svc, 1, 1, addr("192.168.0.0") + i, 80)));
  t.is(seen.size, 3);
});

test("siphash: SipHash-2-4 reference vectors (so the 1-3 variant mh uses is built right)", (t) => {
  const key = [0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c] as const;
  const out = new Uint32Array(2);
  sipHash(2, 4, key, new Uint8Array(0), 0, 0, out);
  t.is(out[0]!.toString(16).padStart(8, "0") + out[1]!.toString(16).padStart(8, "0"), "726fdb47dd0e0e31");
  const msg = Uint8Array.from({ length: 15 }, (_, i) => i);
  sipHash(2, 4, key, msg, 0, 15, out);
  t.is(out[0]!.toString(16).padStart(8, "0") + out[1]!.toString(16).padStart(8, "0"), "a129ca6149be45e5");
  const m8 = Uint8Array.from({ length: 8 }, (_, i) => i);
  sipHash(2, 4, key, m8, 0, 8, out);
  t.is(out[0]!.toString(16).padStart(8, "0") + out[1]!.toString(16).padStart(8, "0"), "93f5f5799a932462");
  // Deterministic with the kernel's fixed mh keys.
  t.is(hsiphashU32(12345, MH_DEFAULT_KEYS.hash1), hsiphashU32(12345, MH_DEFAULT_KEYS.hash1));
});

test("mh: stable, roughly even, and removing one server moves only its clients", (t) => {
  const { t: table, svc } = svcWith("mh", Array(10).fill(1));
  const mh = svc.scheduler as unknown as { lookup: (IpvsDest | null)[]; size: number };
  t.is(mh.size, 4093);
  const perDest = new Map<number, number>();
  for (const d of mh.lookup) perDest.set(idx(d), (perDest.get(idx(d)) ?? 0) + 1);
  t.is(perDest.size, 10);
  for (const c of perDest.values()) t.true(c >= 409 && c <= 410, `slots per server ${c}`);
  const clients = Array.from({ length: 5000 }, (_, i) => addr("172.16.0.0") + i * 7);
  const before = clients.map((c) => idx(pick(svc, c)));
  t.deepEqual(clients.map((c) => idx(pick(svc, c))), before, "stable");
  table.deleteDest(KEY, ep(4), 8080);
  const after = clients.map((c) => idx(pick(svc, c)));
  let moved = 0;
  for (let i = 0; i < clients.length; i++) {
    if (before[i] === 4) t.not(after[i], 4);
    else if (after[i] !== before[i]) moved++;
  }
  t.true(moved / clients.length < 0.05, `moved ${moved} of the other servers' clients`);
});

test("mh: weights set the share of slots; weight 0 keeps the table (last_weight) but is unavailable", (t) => {
  const { t: table, svc } = svcWith("mh", [1, 3]);
  const mh = svc.scheduler as unknown as { lookup: (IpvsDest | null)[] };
  const share = mh.lookup.filter((d) => idx(d) === 1).length / mh.lookup.length;
  t.true(Math.abs(share - 0.75) < 0.01, `share ${share}`);
  table.editDest(KEY, { addr: ep(1), port: 8080, weight: 0 });
  t.is(mh.lookup.filter((d) => idx(d) === 1).length / mh.lookup.length, share);
  const c = Array.from({ length: 200 }, (_, i) => addr("172.16.0.0") + i).find((s) => mh.lookup.length > 0 && pick(svc, s) === null);
  t.truthy(c, "clients of the weight-0 server get no server without mh-fallback");
});

test("unknown scheduler is a PodwireError", (t) => {
  const { t: table } = makeTable();
  const e = t.throws(() => table.addService(KEY, { scheduler: "foo" }));
  t.is((e as { code?: string }).code, "E_IPVS_SCHEDULER");
  t.is(createScheduler("foo", new IpvsService(6, VIP, 80, 0, "foo", 0, 0, ~0), {}), null);
});
