/**
 * The conntrack table's bucket hash (tuple.ts connHash): a small integer, a function of
 * every tuple field and the seed, and spread over the buckets as well as an ideal hash for
 * the structured keys a cluster makes (consecutive Pod addresses and ports).
 */
import test from "ava";
import { connHash } from "../../src/conntrack/tuple.js";

const A = 0x0af40102; // 10.244.1.2
const B = 0x0a600001; // 10.96.0.1

test("connHash: 30 bits, deterministic, and every field and the seed change it", (t) => {
  const base = connHash(A, B, 6, 20000, 443, 7);
  t.is(connHash(A, B, 6, 20000, 443, 7), base);
  t.true(Number.isInteger(base) && base >= 0 && base < 2 ** 30);
  const variants = [
    connHash(A + 1, B, 6, 20000, 443, 7),
    connHash(A, B + 1, 6, 20000, 443, 7),
    connHash(A, B, 17, 20000, 443, 7),
    connHash(A, B, 6, 20001, 443, 7),
    connHash(A, B, 6, 20000, 444, 7),
    connHash(A, B, 6, 20000, 443, 8),
    connHash(B, A, 6, 443, 20000, 7), // the reply direction
  ];
  for (const v of variants) t.not(v, base);
  t.true(connHash(0xffffffff, 0xfffffffe, 255, 65535, 65535, -1) < 2 ** 30);
});

test("connHash spreads 200,000 cluster-shaped tuples over 2^18 buckets like an ideal hash", (t) => {
  const mask = (1 << 18) - 1;
  for (const seed of [1, 0x12345678, -559038737]) {
    const buckets = new Uint32Array(mask + 1);
    let keys = 0;
    const add = (h: number): void => {
      buckets[h & mask]!++;
      keys++;
    };
    for (let i = 0; i < 90_000; i++) {
      const src = 0x0af50000 + (i >>> 8);
      const sport = 1024 + (i & 0xff);
      add(connHash(src, 0x0af40303, 17, sport, 53, seed));
      add(connHash(0x0af40303, src, 17, 53, sport, seed));
    }
    for (let i = 0; i < 10_000; i++) {
      const client = 0x0af40102 + (i >>> 10);
      const sport = 20000 + (i & 1023);
      add(connHash(client, B, 6, sport, 443, seed));
      add(connHash(0x0af40202 + (i % 50), client, 6, 8443, sport, seed));
    }
    // Mean chain nodes visited by a successful lookup; ideal: 1 + load / 2.
    let visits = 0;
    for (const n of buckets) visits += (n * (n + 1)) / 2;
    const mean = visits / keys;
    const ideal = 1 + keys / (mask + 1) / 2;
    t.true(mean < ideal * 1.02, `seed ${seed}: ${mean.toFixed(3)} nodes per lookup, ideal ${ideal.toFixed(3)}`);
  }
});
