/**
 * kube-proxy's regular lines read without tokens (src/nftables/fast-line.ts) against the
 * general reader: kube-proxy's transactions for random Services (full and partial syncs,
 * stale-chain cleanups), and the same lines mutated character by character and word by word,
 * loaded both ways, must give the same ruleset (listing, chain and rule objects, set
 * elements, rule locations, change log) or the same error at the same place. Most lines of a
 * kube-proxy transaction must be read on the fast path (or it is not what is tested).
 */
import { isDeepStrictEqual } from "node:util";
import test from "ava";
import fc from "fast-check";
import { PodwireError } from "../../src/base/errors.js";
import { buildKubeModel, syncNftablesRules, type KubeDocument, type NftablesProxierOptions } from "../../src/kube/index.js";
import { applyNftScript, newNftChanges, newRuleset, printRuleset, type NftChanges, type NftLocation, type NftRule, type NftRuleset } from "../../src/nftables/index.js";
import { slice, svc, type Ep } from "../kube/build.js";
import { FAKE_MODEL, FAKE_PROXIER } from "../kube/helpers.js";

const OPTIONS: NftablesProxierOptions = {
  ...FAKE_PROXIER,
  localAddresses: ["127.0.0.1", "192.168.0.2"],
  nodePortAddresses: ["192.168.0.2/32"],
  serviceCIDRs: ["172.30.0.0/16"],
  masqueradeMark: "0x4000",
};

interface Shape {
  type: "ClusterIP" | "NodePort" | "LoadBalancer";
  udp: boolean;
  affinity: boolean;
  etpLocal: boolean;
  sourceRange: boolean;
  externalIP: boolean;
  endpoints: { ip: number; local: boolean; ready: boolean }[];
}

const shapeArb: fc.Arbitrary<Shape> = fc.record({
  type: fc.constantFrom("ClusterIP" as const, "NodePort" as const, "LoadBalancer" as const),
  udp: fc.boolean(),
  affinity: fc.boolean(),
  etpLocal: fc.boolean(),
  sourceRange: fc.boolean(),
  externalIP: fc.boolean(),
  endpoints: fc.uniqueArray(fc.record({ ip: fc.integer({ min: 1, max: 6 }), local: fc.boolean(), ready: fc.boolean() }), { selector: (e) => e.ip, maxLength: 4 }),
});

function docsOf(world: readonly Shape[]): KubeDocument[] {
  return world.flatMap((s, i) => {
    const name = `svc${i}`;
    const protocol = s.udp ? "UDP" : "TCP";
    const ports = [{ name: "p80", port: 80, protocol, targetPort: 80, ...(s.type === "ClusterIP" ? {} : { nodePort: 3000 + i }) }];
    const spec: Record<string, unknown> = { type: s.type, clusterIP: `172.30.0.${10 + i}`, ports };
    if (s.externalIP) spec["externalIPs"] = [`1.2.3.${i}`];
    if (s.affinity) spec["sessionAffinity"] = "ClientIP";
    if (s.etpLocal && s.type !== "ClusterIP") spec["externalTrafficPolicy"] = "Local";
    if (s.sourceRange && s.type === "LoadBalancer") spec["loadBalancerSourceRanges"] = ["203.0.113.0/25"];
    const status = s.type === "LoadBalancer" ? { loadBalancer: { ingress: [{ ip: `5.6.7.${i}` }] } } : {};
    const eps: Ep[] = s.endpoints.map((e) => ({ ip: `10.180.${i}.${e.ip}`, node: e.local ? FAKE_PROXIER.hostname : "other-node", ready: e.ready }));
    return [svc("ns", name, spec, status), slice("ns", name, [{ name: "p80", port: 80, protocol }], eps)];
  });
}

/** kube-proxy's transactions for a sequence of worlds: the full sync, then each partial sync's cleanup and sync. */
function transactions(worlds: readonly Shape[][]): string[] {
  const out: string[] = [];
  let state;
  let now = 0;
  for (const w of worlds) {
    const r = syncNftablesRules(buildKubeModel(docsOf(w), [], FAKE_MODEL), OPTIONS, state ? { previous: state, now } : { now });
    if (r.cleanupText !== "") out.push(r.cleanupText);
    out.push(r.text);
    state = r.state;
    now += 1500;
  }
  return out;
}

type Outcome = { ok: true; rs: NftRuleset; printed: string; locs: [number, NftLocation][]; changes: NftChanges } | { ok: false; error: string };

/** Applies the scripts in turn (each as lines), the regular lines read on the fast path or not. */
function load(scripts: readonly string[], regular: boolean, stats = { regularLines: 0 }): Outcome {
  let rs = newRuleset();
  const changes = newNftChanges();
  const locs = new Map<NftRule, NftLocation>();
  try {
    scripts.forEach((text, i) => {
      rs = applyNftScript(rs, text.replace(/\n$/, "").split("\n"), `<script ${i}>`, { regularLines: regular, stats, changes, ruleLocs: locs });
    });
  } catch (err) {
    if (!(err instanceof PodwireError)) throw err;
    return { ok: false, error: `${err.code} ${err.message}` };
  }
  // Rule locations by the rule's place (chain, index), not by object.
  const place = new Map<NftRule, number>();
  let k = 0;
  for (const t of rs.tables) for (const c of t.chains.values()) for (const r of c.rules) place.set(r, k++);
  const byPlace: [number, NftLocation][] = [];
  for (const [r, l] of locs) if (place.has(r)) byPlace.push([place.get(r)!, l]);
  byPlace.sort((a, b) => a[0] - b[0]);
  return { ok: true, rs, printed: printRuleset(rs), locs: byPlace, changes };
}

/** The same ruleset, object for object (chains, rules, statements, set declarations and elements), the same locations and change log, or the same error. */
function same(t: import("ava").ExecutionContext, a: Outcome, b: Outcome, what: string): boolean {
  if (!a.ok || !b.ok) {
    t.deepEqual(a.ok ? "loaded" : a.error, b.ok ? "loaded" : b.error, what);
    return !a.ok && !b.ok && a.error === b.error;
  }
  const tables = (rs: NftRuleset) =>
    rs.tables.map((tb) => ({
      family: tb.family,
      name: tb.name,
      comment: tb.comment,
      nextHandle: tb.nextHandle,
      chains: [...tb.chains.entries()],
      sets: [...tb.sets.values()].map((s) => ({ ...s, elements: [...s.elements] })),
    }));
  const ok = a.printed === b.printed && isDeepStrictEqual(tables(a.rs), tables(b.rs)) && isDeepStrictEqual(a.locs, b.locs) && isDeepStrictEqual(a.changes, b.changes);
  if (!ok) {
    t.is(a.printed, b.printed, what);
    t.deepEqual(tables(a.rs), tables(b.rs), what);
    t.deepEqual(a.locs, b.locs, what);
    t.deepEqual(a.changes, b.changes, what);
  }
  return ok;
}

test("kube-proxy's transactions load the same with and without the fast path, most lines on it", (t) => {
  let regular = 0;
  let lines = 0;
  fc.assert(
    fc.property(fc.array(fc.array(shapeArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 4 }), (worlds) => {
      const scripts = transactions(worlds);
      const stats = { regularLines: 0 };
      const fast = load(scripts, true, stats);
      t.true(fast.ok, fast.ok ? "" : fast.error);
      regular += stats.regularLines;
      lines += scripts.reduce((n, s) => n + s.split("\n").length - 1, 0);
      return same(t, fast, load(scripts, false), scripts.join("---\n"));
    }),
    { numRuns: 60, seed: 11 },
  );
  // The setup lines (base chains, sets, maps, jump rules) are the general reader's; the rest is kube-proxy's per-Service lines.
  t.true(regular / lines > 0.5, `${regular} of ${lines} lines read on the fast path`);
});

/** Ways to spoil one line: characters and words the fast path must either read as the general reader does or leave to it. */
const CHARS = [" ", "  ", "\t", ";", "#", "{", "}", ":", ",", ".", "/", "-", "!", "=", "@", '"', "x", "Z", "0", "9", "_", "\\", "é", "\r"];
const WORDS = ["counter", "ip", "ip6", "inet", "table", "jump", "goto", "dnat", "snat", "masquerade", "accept", "drop", "continue", "return", "0x10", "999", "256", "65536", "4294967296", "00080", "tcp", "sctp", "icmp", "comment", '"x"', "!=", "==", "vmap", "mod", "0", "random", "offset", "flags", "handle", "index", "position"];

const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant("replace" as const), at: fc.nat(), with: fc.constantFrom(...CHARS) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), with: fc.constantFrom(...CHARS) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), with: fc.constant("") }),
  fc.record({ kind: fc.constant("word" as const), at: fc.nat(), with: fc.constantFrom(...WORDS) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat(), with: fc.constant("") }),
);

function mutate(line: string, m: { kind: string; at: number; with: string }): string {
  const at = line.length === 0 ? 0 : m.at % line.length;
  switch (m.kind) {
    case "replace":
      return line.slice(0, at) + m.with + line.slice(at + 1);
    case "insert":
      return line.slice(0, at) + m.with + line.slice(at);
    case "delete":
      return line.slice(0, at) + line.slice(at + 1);
    case "truncate":
      return line.slice(0, at);
    default: {
      const words = line.split(" ");
      words[m.at % words.length] = m.with;
      return words.join(" ");
    }
  }
}

test("spoilt lines: the fast path reads them as the general reader does, or leaves them to it (same result or same error)", (t) => {
  const base = transactions([
    [
      { type: "LoadBalancer", udp: false, affinity: true, etpLocal: true, sourceRange: true, externalIP: true, endpoints: [{ ip: 1, local: true, ready: true }, { ip: 2, local: false, ready: true }] },
      { type: "NodePort", udp: true, affinity: false, etpLocal: false, sourceRange: false, externalIP: false, endpoints: [{ ip: 3, local: false, ready: true }] },
      { type: "ClusterIP", udp: false, affinity: false, etpLocal: false, sourceRange: false, externalIP: false, endpoints: [] },
    ],
    [{ type: "ClusterIP", udp: false, affinity: false, etpLocal: false, sourceRange: false, externalIP: false, endpoints: [{ ip: 4, local: false, ready: true }] }],
  ]);
  const lines = base.map((s) => s.replace(/\n$/, "").split("\n"));
  fc.assert(
    fc.property(fc.nat(), fc.nat(), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (si, li, ms) => {
      const script = lines[si % lines.length]!;
      const i = li % script.length;
      let line = script[i]!;
      for (const m of ms) line = mutate(line, m);
      const spoilt = base.map((s, k) => (k === si % lines.length ? [...script.slice(0, i), line, ...script.slice(i + 1)].join("\n") + "\n" : s));
      return same(t, load(spoilt, true), load(spoilt, false), line);
    }),
    { numRuns: 3000, seed: 7 },
  );
});

test("text and lines input, and a line continued with a backslash, read the same on the fast path", (t) => {
  const script = transactions([[{ type: "NodePort", udp: false, affinity: false, etpLocal: false, sourceRange: false, externalIP: false, endpoints: [{ ip: 1, local: false, ready: true }] }]])[0]!;
  const asText = applyNftScript(newRuleset(), script);
  const asLines = applyNftScript(newRuleset(), script.replace(/\n$/, "").split("\n"));
  const asPieces = applyNftScript(newRuleset(), [script.replace(/\n$/, "")]);
  t.is(printRuleset(asText), printRuleset(asLines));
  t.is(printRuleset(asText), printRuleset(asPieces));
  // A continued line is the general reader's; the lines after it are read on the fast path again, with the right line numbers.
  const lines = script.replace(/\n$/, "").split("\n");
  const k = lines.findIndex((l) => l.startsWith("add rule ip kube-proxy endpoint-"));
  const [head, tail] = lines[k]!.split(" ip saddr") as [string, string];
  const continued = [...lines.slice(0, k), `${head} \\`, `ip saddr${tail}`, ...lines.slice(k + 1), "add rule ip kube-proxy no-such-chain jump mark-for-masquerade"];
  for (const regular of [true, false]) {
    const err = t.throws(() => applyNftScript(newRuleset(), continued, "<x>", { regularLines: regular }), { instanceOf: PodwireError });
    t.is(err!.message.split(":").slice(0, 3).join(":"), `<x>:${continued.length}:24`, `regular ${regular}`);
  }
  t.is(printRuleset(applyNftScript(newRuleset(), continued.slice(0, -1))), printRuleset(asText));
});
