/**
 * Runs one case on both sides and compares: the outcome of every probe (exactly, or as
 * sets per Service where a random statistic split chooses endpoints), and R's conntrack
 * table after the exchange. podwire runs with both netfilter engines.
 */
import type { ExecutionContext } from "ava";
import type { EngineKind } from "../../src/netfilter/engine.js";
import {
  type Batch,
  type ConntrackView,
  diffLines,
  normaliseConntrack,
  type Outcome,
  outcomeKey,
  type OutcomeView,
  type Probe,
  withinBinomial,
} from "./common.js";
import type { KernelLab, KernelRun } from "./kernel-lab.js";
import { podwireRun } from "./podwire-lab.js";

export interface DiffCase {
  rules: string;
  batches: Batch[];
  /** Seconds each probe waits (default 0.5). */
  timeoutSec?: number;
  /**
   * `exact`: probe i has the same outcome on both sides. `sets`: per group of probes with
   * the same protocol, destination and port, the sets of distinct outcomes are equal (for
   * random statistic splits), and each endpoint's share passes a binomial sanity bound.
   */
  compare: "exact" | "sets";
  /** For `sets`: the expected probability of each endpoint (`ip:port`) per group key `proto dst:dport`. */
  shares?: Map<string, Map<string, number>>;
  outcomeView?: OutcomeView;
  /** How to normalise conntrack before comparing; `skip` to not compare. */
  conntrack: "exact" | ConntrackView | "skip";
  /** Sanity checks on the kernel's outcomes (that the case exercises what it means to). */
  expectKernel?: (outcomes: Outcome[][]) => void;
  /** net.ipv4.icmp_ratemask in the router and server on both sides (default 0: no ICMP rate limit). */
  icmpRatemask?: number;
}

function groupKey(p: Probe): string {
  return `${p.proto} ${p.dst}:${p.dport}`;
}

function formatOutcomes(batches: Batch[], outcomes: Outcome[][], view: OutcomeView): string[] {
  const out: string[] = [];
  batches.forEach((b, i) => b.probes.forEach((p, j) => out.push(`${groupKey(p)} sport=${p.sport} -> ${outcomeKey(outcomes[i]![j]!, view)}`)));
  return out;
}

/** Per group key, the set of distinct outcome keys. */
function outcomeSets(batches: Batch[], outcomes: Outcome[][], view: OutcomeView): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>();
  batches.forEach((b, i) =>
    b.probes.forEach((p, j) => {
      const k = groupKey(p);
      if (!m.has(k)) m.set(k, new Set());
      m.get(k)!.add(outcomeKey(outcomes[i]![j]!, view));
    }),
  );
  return m;
}

function endpointCounts(batches: Batch[], outcomes: Outcome[][]): Map<string, { n: number; eps: Map<string, number> }> {
  const m = new Map<string, { n: number; eps: Map<string, number> }>();
  batches.forEach((b, i) =>
    b.probes.forEach((p, j) => {
      const k = groupKey(p);
      if (!m.has(k)) m.set(k, { n: 0, eps: new Map() });
      const g = m.get(k)!;
      const o = outcomes[i]![j]!;
      if (o.kind !== "reply") return;
      g.n++;
      g.eps.set(o.ep, (g.eps.get(o.ep) ?? 0) + 1);
    }),
  );
  return m;
}

export interface DiffResult {
  kernel: KernelRun;
  /** Human-readable differences; empty when podwire matched the kernel with both engines. */
  differences: string[];
}

/** Runs `c` in the kernel lab and in podwire; returns the differences (does not assert). */
export function differential(lab: KernelLab, c: DiffCase): DiffResult {
  const timeout = c.timeoutSec ?? 0.5;
  const view = c.outcomeView ?? {};
  lab.load(c.rules);
  const kernel = lab.probe(c.batches, timeout);
  const differences: string[] = [];
  const kernelLines = formatOutcomes(c.batches, kernel.outcomes, view);

  for (const engine of ["reference", "compiled"] as EngineKind[]) {
    const pw = podwireRun(c.rules, c.batches, timeout, { engine, icmpRatemask: c.icmpRatemask ?? 0 });
    const pwLines = formatOutcomes(c.batches, pw.outcomes, view);
    if (c.compare === "exact") {
      kernelLines.forEach((k, i) => {
        if (k !== pwLines[i]) differences.push(`[${engine}] outcome differs:\n    kernel:  ${k}\n    podwire: ${pwLines[i]}`);
      });
    } else {
      // Each flow has its own client port: compare endpoint and peer address, not peer port.
      const sview = { ...view, anyPeerPort: true };
      const ks = outcomeSets(c.batches, kernel.outcomes, sview);
      const ps = outcomeSets(c.batches, pw.outcomes, sview);
      for (const [g, kset] of ks) {
        const pset = ps.get(g) ?? new Set<string>();
        const onlyK = [...kset].filter((x) => !pset.has(x));
        const onlyP = [...pset].filter((x) => !kset.has(x));
        if (onlyK.length > 0 || onlyP.length > 0) {
          differences.push(`[${engine}] ${g}: outcome sets differ\n    kernel only:  ${onlyK.join(" | ") || "-"}\n    podwire only: ${onlyP.join(" | ") || "-"}`);
        }
      }
      if (c.shares && engine === "compiled") {
        for (const [side, outcomes] of [
          ["kernel", kernel.outcomes],
          ["podwire", pw.outcomes],
        ] as const) {
          // Shares among the flows that got an answer (n = answered flows).
          for (const [g, { n, eps }] of endpointCounts(c.batches, outcomes)) {
            const shares = c.shares.get(g);
            if (!shares || n === 0) continue;
            for (const [ep, p] of shares) {
              const got = eps.get(ep) ?? 0;
              if (!withinBinomial(got, n, p)) differences.push(`${side} ${g}: endpoint ${ep} got ${got}/${n}, expected share ${p.toFixed(3)}`);
            }
          }
        }
      }
    }
    if (c.conntrack !== "skip") {
      const cview = c.conntrack === "exact" ? {} : c.conntrack;
      const k = normaliseConntrack(kernel.conntrack, cview);
      const p = normaliseConntrack(pw.conntrack, cview);
      const d = diffLines(k, p);
      if (d.onlyA.length > 0 || d.onlyB.length > 0) {
        differences.push(
          `[${engine}] conntrack differs:\n    kernel only:\n${d.onlyA.map((l) => `      ${l}`).join("\n") || "      -"}\n    podwire only:\n${d.onlyB.map((l) => `      ${l}`).join("\n") || "      -"}`,
        );
      }
    }
  }
  return { kernel, differences };
}

/** Runs the case and asserts agreement (and the kernel sanity checks). */
export function assertSame(t: ExecutionContext, lab: KernelLab, c: DiffCase): DiffResult {
  const { kernel, differences } = differential(lab, c);
  const view = c.outcomeView ?? {};
  if (differences.length > 0) {
    t.log(`rules:\n${c.rules}`);
    t.log(`kernel outcomes:\n${formatOutcomes(c.batches, kernel.outcomes, view).join("\n")}`);
    t.log(`kernel conntrack:\n${kernel.conntrack.join("\n")}`);
  }
  if (differences.length > 0) t.fail(`podwire differs from the kernel:\n${differences.join("\n")}`);
  else t.pass();
  if (c.expectKernel) c.expectKernel(kernel.outcomes);
  return { kernel, differences };
}

/** Counts of outcome kinds, e.g. `reply 80, icmp 6, timeout 2` (to show what a case exercised). */
export function outcomeSummary(outcomes: Outcome[][]): string {
  const n = new Map<string, number>();
  for (const o of outcomes.flat()) {
    const k = o.kind === "icmp" ? `icmp ${o.type}/${o.code}` : o.kind === "reply" ? `reply via ${o.peer.replace(/:\d+$/, "")}` : o.kind;
    n.set(k, (n.get(k) ?? 0) + 1);
  }
  return [...n].map(([k, v]) => `${k}: ${v}`).join(", ");
}
