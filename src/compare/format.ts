/**
 * `podwire compare-modes` for people and for programs: a header, one block per flow whose
 * outcome differs between the modes (each mode's verdict, endpoint set and the source its
 * endpoint saw, then the documented reason or "undocumented"), and the summary line; or
 * the report as JSON.
 */
import type { ProxyMode } from "../cluster/spec.js";
import type { ModeOutcome } from "./known-differences.js";
import type { CompareReport, FlowComparison } from "./run.js";

export function compareSummaryLine(report: CompareReport): string {
  const s = report.summary;
  return `compare-modes: ${s.flows} flows, ${s.differ} differ (${s.documented} documented, ${s.undocumented} undocumented)`;
}

export function formatCompare(report: CompareReport): string[] {
  const name = (e: string) => {
    const who = report.endpointNames[e];
    return who === undefined || who === e ? e : `${who} ${e}`;
  };
  const lines: string[] = [];
  lines.push(`podwire compare-modes: cluster ${report.cluster} (${report.source}), seed ${report.seed}, ${report.nodes.length} node${report.nodes.length === 1 ? "" : "s"}`);
  lines.push(`  modes compared: ${report.modes.join(", ")} (each a fresh boot with the same seed; differences are from ${report.baseline} mode)`);
  lines.push(`  flows run: ${report.summary.flows} in each mode — every Service port from the probe Pod and the host network of every node, and from outside to every NodePort, externalIP and LoadBalancer IP`);
  lines.push("  each mode: verdict (ok · refused · dropped · other) · endpoints it may send the flow to on its node · source the endpoint saw");
  if (report.differences.length === 0) {
    lines.push("");
    lines.push("No differences: every flow has the same verdict, endpoint set and source in every mode.");
  } else {
    lines.push("");
    lines.push(`Differences (${report.differences.length})`);
    const mw = Math.max(...report.modes.map((m) => m.length));
    for (const c of report.differences) {
      lines.push(`  ${c.flow.key}${c.flow.proto === "dns" ? " (DNS query)" : ""}`);
      const cols = report.modes.map((m) => cellsOf(c.outcomes[m], name));
      const vw = Math.max(...cols.map((x) => x.verdict.length));
      const ew = Math.max(...cols.map((x) => x.endpoints.length));
      report.modes.forEach((m, i) => {
        const x = cols[i]!;
        lines.push(`    ${m.padEnd(mw)}  ${x.verdict.padEnd(vw)}  ${x.endpoints.padEnd(ew)}  ${x.source}`.trimEnd());
      });
      lines.push(`    ${c.documented ? "documented" : "UNDOCUMENTED"}: ${c.reason}`);
    }
  }
  if (report.notes.length > 0) {
    lines.push("");
    lines.push("Notes");
    for (const n of report.notes) lines.push(`  ${n}`);
  }
  lines.push("");
  lines.push(compareSummaryLine(report));
  return lines;
}

function cellsOf(o: ModeOutcome | undefined, name: (e: string) => string): { verdict: string; endpoints: string; source: string } {
  if (o === undefined) return { verdict: "(not run)", endpoints: "", source: "" };
  const endpoints = o.endpoints === null ? "{?}" : `{${o.endpoints.map(name).join(", ")}}`;
  return { verdict: o.verdict, endpoints, source: o.sourceSeen === null ? "-" : `source ${o.sourceSeen}` };
}

/** `--json`: `{modes, flows, differences: [{from, to, proto, port, outcomes, documented, reason}]}` and the run's settings. */
export function compareJson(report: CompareReport): unknown {
  return {
    cluster: report.cluster,
    seed: report.seed,
    modes: report.modes,
    baseline: report.baseline,
    flows: report.summary.flows,
    summary: report.summary,
    differences: report.differences.map((c) => diffJson(c, report.modes)),
    notes: report.notes,
  };
}

function diffJson(c: FlowComparison, modes: readonly ProxyMode[]): unknown {
  const outcomes: Record<string, unknown> = {};
  for (const m of modes) {
    const o = c.outcomes[m];
    if (o) outcomes[m] = { verdict: o.verdict, endpoints: o.endpoints, sourceSeen: o.sourceSeen, answeredBy: o.answeredBy };
  }
  return {
    from: c.flow.from,
    to: c.flow.to,
    proto: c.flow.proto,
    port: c.flow.port,
    kind: c.flow.kind,
    column: c.flow.column,
    outcomes,
    differs: c.differs,
    documented: c.documented,
    reason: c.reason,
    known: c.known,
    kubernetes: c.flow.expectation?.reason ?? null,
  };
}
