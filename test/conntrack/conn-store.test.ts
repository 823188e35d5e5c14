/**
 * The table's struct-of-arrays store (conn-store.ts) against a plain model: hash chains
 * newest-first per bucket (and the order a bucket's chain keeps when the buckets double),
 * confirmation order, nf_nat_bysource order per source, across slot growth and reuse.
 * Also the allocation-free hashes it and NAT use: hash5Small, jhash3/jhash4, reciprocalScale.
 */
import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import { ConnStore, NODE_WORDS, NONE, N_NEXT, SLOT_LISTED } from "../../src/conntrack/conn-store.js";
import { Conn } from "../../src/conntrack/conn.js";
import { jhash2, jhash3, jhash4, reciprocalScale } from "../../src/conntrack/jhash.js";
import { hash5, hash5Small } from "../../src/conntrack/tuple.js";

const u32 = fc.integer({ min: 0, max: 0xffffffff });

testProp("hash5Small is hash5's low 30 bits", [u32, u32, fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), u32], (t, s, d, p, sp, dp, seed) => {
  t.is(hash5Small(s, d, p, sp, dp, seed), hash5(s, d, p, sp, dp, seed) & 0x3fffffff);
});

testProp("jhash3 and jhash4 are jhash2 of three and four words", [u32, u32, u32, u32, u32], (t, a, b, c, d, init) => {
  t.is(jhash3(a, b, c, init), jhash2([a, b, c], init));
  t.is(jhash4(a, b, c, d, init), jhash2([a, b, c, d], init));
});

testProp("reciprocalScale is (val × range) >> 32, exactly", [u32, u32], (t, v, r) => {
  t.is(reciprocalScale(v, r), Number((BigInt(v) * BigInt(r)) >> 32n));
});

test("reciprocalScale at the edges", (t) => {
  t.is(reciprocalScale(0xffffffff, 0xffffffff), 0xfffffffe);
  t.is(reciprocalScale(0xffffffff, 1), 0);
  t.is(reciprocalScale(0x80000000, 10), 5);
});

function conn(id: number, src: number, sport: number): Conn {
  return new Conn(id, { src, dst: 1, proto: 17, sport, dport: 53 }, { src: 1, dst: src, proto: 17, sport: 53, dport: sport });
}

/** The node ids of bucket `b`'s chain, head first. */
function chain(st: ConnStore, b: number): number[] {
  const out: number[] = [];
  for (let n = st.buckets[b]!; n !== NONE; n = st.nodes[n * NODE_WORDS + N_NEXT]!) out.push(n);
  return out;
}

type StoreOp = { add: true; src: number; sport: number; hash: number } | { add: false; pick: number };

testProp(
  "the store keeps the model's chains, confirmation order and per-source order through growth and slot reuse",
  [
    fc.array(
      fc.oneof(
        { weight: 3, arbitrary: fc.record({ add: fc.constant(true as const), src: fc.integer({ min: 1, max: 4 }), sport: fc.integer({ min: 1, max: 3 }), hash: fc.integer({ min: 0, max: 0x3fffffff }) }) },
        { weight: 2, arbitrary: fc.record({ add: fc.constant(false as const), pick: fc.nat() }) },
      ),
      { maxLength: 400 },
    ),
  ],
  (t, ops) => {
    const st = new ConnStore(1024, 4);
    // The model: per bucket a list of [conn, dir] newest first; the listed conns in order.
    const live: Conn[] = [];
    const hashes = new Map<Conn, [number, number]>();
    let id = 1;
    for (const o of ops) {
      if (o.add) {
        const c = conn(id++, o.src, o.sport);
        const s = st.take(c, SLOT_LISTED);
        const h0 = o.hash;
        const h1 = (o.hash * 7 + 3) & 0x3fffffff;
        st.link(2 * s, h0, c.original.src, c.original.dst, 17, c.original.sport, 53);
        st.link(2 * s + 1, h1, c.reply.src, c.reply.dst, 17, 53, c.reply.dport);
        st.list(s);
        st.addSource(s);
        live.push(c);
        hashes.set(c, [h0, h1]);
      } else if (live.length > 0) {
        const c = live.splice(o.pick % live.length, 1)[0]!;
        const s = c.slot;
        st.unlink(2 * s);
        st.unlink(2 * s + 1);
        st.unlist(s);
        st.removeSource(s);
        st.release(s);
        t.is(c.slot, -1);
      }
    }
    // Confirmation order.
    const listed: Conn[] = [];
    for (let s = st.listHead; s !== NONE; s = st.listAfter(s)) listed.push(st.conns[s]!);
    t.deepEqual(listed, live);
    t.is(st.listed, live.length);
    // Every live node is in its bucket's chain exactly once, and nothing else is.
    const seen = new Set<number>();
    for (let b = 0; b <= st.mask; b++) {
      for (const n of chain(st, b)) {
        t.false(seen.has(n));
        seen.add(n);
        const c = st.conns[n >> 1]!;
        t.is(hashes.get(c)![n & 1]! & st.mask, b);
      }
    }
    t.is(seen.size, 2 * live.length);
    // nf_nat_bysource: per (src, sport), the live conns in confirmation order.
    for (let src = 1; src <= 4; src++) {
      for (let sport = 1; sport <= 3; sport++) {
        const got: Conn[] = [];
        for (let s = st.sourceFirst(17, src, sport); s !== NONE; s = st.sourceNext(s, 17, src, sport)) got.push(st.conns[s]!);
        t.deepEqual(got, live.filter((c) => c.original.src === src && c.original.sport === sport));
      }
    }
  },
  { numRuns: 200 },
);

test("a bucket's chain is newest first; doubling the buckets relinks each old chain from its head", (t) => {
  const st = new ConnStore(8, 2);
  const cs = [conn(1, 1, 1), conn(2, 2, 2), conn(3, 3, 3)];
  const slots = cs.map((c) => st.take(c, SLOT_LISTED));
  // Hashes 1, 3, 5: one bucket of two, then buckets 1 and 3 (and 5 → 1) of four, and so on.
  st.link(2 * slots[0]!, 1, 1, 1, 17, 1, 53);
  st.link(2 * slots[1]!, 5, 2, 1, 17, 2, 53);
  t.deepEqual(chain(st, 1), [2 * slots[1]!, 2 * slots[0]!]);
  st.link(2 * slots[2]!, 9, 3, 1, 17, 3, 53); // the third node doubles the buckets to 4 first
  t.is(st.mask, 3);
  t.deepEqual(chain(st, 1), [2 * slots[2]!, 2 * slots[0]!, 2 * slots[1]!]);
});
