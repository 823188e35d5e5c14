import test from "ava";
import { ExpositionBuilder, EXPOSITION_CONTENT_TYPE, Histogram, escapeLabelValue, exponentialBuckets, formatValue, linearBuckets } from "../../src/metrics/index.js";
import { NETWORK_PROGRAMMING_BUCKETS, SYNC_DURATION_BUCKETS } from "../../src/metrics/index.js";
import { parseExposition, valueOf } from "./parse-exposition.js";

test("HELP, TYPE and samples of counters and gauges, in declaration order", (t) => {
  const b = new ExpositionBuilder();
  b.counter("a_total", "A count").add({ node: "n1" }, 3);
  const g = b.gauge("b_size", "A size");
  g.add({ node: "n1" }, 1.5);
  g.add({ node: "n2" }, 0);
  t.is(
    b.text(),
    ["# HELP a_total A count", "# TYPE a_total counter", 'a_total{node="n1"} 3', "# HELP b_size A size", "# TYPE b_size gauge", 'b_size{node="n1"} 1.5', 'b_size{node="n2"} 0', ""].join("\n"),
  );
  t.is(EXPOSITION_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
});

test("label values escape backslash, double quote and newline; HELP escapes backslash and newline only", (t) => {
  t.is(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const b = new ExpositionBuilder();
  b.gauge("x", 'say "hi"\\now\nthen').add({ rule: '-m comment --comment "kube \\ x"\n' }, 1);
  const text = b.text();
  t.true(text.includes('# HELP x say "hi"\\\\now\\nthen\n'));
  t.true(text.includes('x{rule="-m comment --comment \\"kube \\\\ x\\"\\n"} 1\n'));
  // And it reads back to the original value.
  t.is(valueOf(parseExposition(text), "x", { rule: '-m comment --comment "kube \\ x"\n' }), 1);
});

test("a histogram is cumulative _bucket series up to +Inf, then _sum and _count", (t) => {
  const h = new Histogram([0.1, 1, 10]);
  for (const v of [0.05, 0.1, 0.5, 3, 20, 30]) h.observe(v);
  t.deepEqual(h.counts, [2, 1, 1, 2], "le is inclusive: 0.1 counts in the 0.1 bucket");
  t.is(h.count, 6);
  const b = new ExpositionBuilder();
  b.histogram("d_seconds", "D").add({ node: "n" }, h);
  const lines = b.text().trimEnd().split("\n");
  t.deepEqual(lines.slice(2), [
    'd_seconds_bucket{node="n",le="0.1"} 2',
    'd_seconds_bucket{node="n",le="1"} 3',
    'd_seconds_bucket{node="n",le="10"} 4',
    'd_seconds_bucket{node="n",le="+Inf"} 6',
    'd_seconds_sum{node="n"} 53.65',
    'd_seconds_count{node="n"} 6',
  ]);
});

test("values print as Go prints them: integers plainly, +Inf, -Inf, NaN", (t) => {
  t.is(formatValue(262144), "262144");
  t.is(formatValue(0.00825), "0.00825");
  t.is(formatValue(Infinity), "+Inf");
  t.is(formatValue(-Infinity), "-Inf");
  t.is(formatValue(NaN), "NaN");
});

test("the builder refuses what a scraper would reject or misread", (t) => {
  const b = new ExpositionBuilder();
  t.throws(() => b.counter("packets", "no _total"), { message: /ends in _total/ });
  t.throws(() => b.gauge("9bad", "x"), { message: /not valid/ });
  const c = b.counter("ok_total", "x");
  c.add({ node: "a" }, 1);
  t.throws(() => c.add({ node: "a" }, 2), { message: /same series twice/ });
  t.throws(() => c.add({ device: "a" }, 2), { message: /differ from the family's/ });
  t.throws(() => c.add({ node: "b" }, -1), { message: /not a count/ });
  t.throws(() => b.gauge("ok_total", "x"), { message: /declared twice/ });
  t.throws(() => b.gauge("g", "x").add({ "bad-name": "1" }, 1), { message: /label name/ });
  t.throws(() => b.histogram("h", "x").add({ le: "1" }, new Histogram([1])), { message: /le/ });
});

test("a family without samples is not written (as client_golang)", (t) => {
  const b = new ExpositionBuilder();
  b.counter("empty_total", "nothing");
  b.gauge("one", "x").add({}, 1);
  t.is(b.text(), "# HELP one x\n# TYPE one gauge\none 1\n");
});

test("bucket layouts are client_golang's: kube-proxy's sync and network-programming buckets", (t) => {
  t.deepEqual(exponentialBuckets(0.001, 2, 15), [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384]);
  t.deepEqual(SYNC_DURATION_BUCKETS, exponentialBuckets(0.001, 2, 15));
  t.deepEqual(linearBuckets(60, 5, 3), [60, 65, 70]);
  t.is(NETWORK_PROGRAMMING_BUCKETS.length, 80);
  t.deepEqual(NETWORK_PROGRAMMING_BUCKETS.slice(0, 4), [0.25, 0.5, 1, 2]);
  t.deepEqual(NETWORK_PROGRAMMING_BUCKETS.slice(-8), [115, 120, 150, 180, 210, 240, 270, 300]);
});
