import test from "ava";
import { Rng } from "../../src/base/rng.js";

test("same seed gives the same sequence", (t) => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 8 }, () => a.nextU32());
  const ys = Array.from({ length: 8 }, () => b.nextU32());
  t.deepEqual(xs, ys);
  t.notDeepEqual(xs, Array.from({ length: 8 }, () => new Rng(43).nextU32()));
});

test("intBetween stays in range and covers it", (t) => {
  const r = new Rng(7);
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const v = r.intBetween(3, 9);
    t.true(v >= 3 && v <= 9);
    seen.add(v);
  }
  t.is(seen.size, 7);
});
