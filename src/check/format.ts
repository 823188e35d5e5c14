/**
 * `podwire check` for people and for programs: the Service matrix (rows are sources,
 * columns are Service ports, split into blocks that fit the width), the Pod ports, one line
 * per cell that did not answer, and the summary line; or the report as JSON.
 */
import { formatIpv4 } from "../base/index.js";
import type { CheckCell, CheckReport } from "./run.js";

/** Width the Service matrix is split to (blocks of whole Services). */
const TABLE_WIDTH = 110;
const MAX_ENDPOINT = 16;

export function summaryLine(report: CheckReport): string {
  const s = report.summary;
  return `check: ${s.ok} ok, ${s.expected} expected failure${s.expected === 1 ? "" : "s"}, ${s.unexpected} unexpected failure${s.unexpected === 1 ? "" : "s"} (mode ${report.mode})`;
}

export function formatCheck(report: CheckReport): string[] {
  const lines: string[] = [];
  lines.push(`podwire check: cluster ${report.cluster} (${report.source}), kube-proxy ${report.mode} mode, seed ${report.seed}, ${report.nodes.length} node${report.nodes.length === 1 ? "" : "s"}`);
  if (report.probes.length > 0) {
    lines.push(`  probe Pods added (namespace podwire-check): ${report.probes.map((p) => `${p.key.slice(p.key.indexOf("/") + 1)} ${formatIpv4(p.ip)}`).join(", ")}`);
  }
  lines.push("  rows: pod@N probe Pod on node N · node/N N's host network · dns@N probe Pod asking kube-dns for the Service's name first · ext/H→N outside host H to the NodePort on N");
  lines.push("  cells: ok <who answered> · x expected failure · FAIL unexpected failure · * see notes · - not applicable");

  const noteIndex = new Map<string, number>();
  for (const c of report.cells) if (c.note !== null && !noteIndex.has(c.note)) noteIndex.set(c.note, noteIndex.size + 1);
  const mark = (c: CheckCell): string => (c.note !== null ? `*${noteIndex.size > 1 ? noteIndex.get(c.note) : ""}` : "");

  const svcCells = report.cells.filter((c) => c.kind !== "podPort" && c.kind !== "l7Route");
  if (svcCells.length > 0) {
    lines.push("");
    lines.push("Services");
    lines.push(...matrix(svcCells, mark));
  }

  const podCells = report.cells.filter((c) => c.kind === "podPort");
  if (podCells.length > 0) {
    lines.push("");
    lines.push("Pod ports (from a probe Pod on another node)");
    const tw = Math.max(...podCells.map((c) => c.column.length));
    const fw = Math.max(...podCells.map((c) => c.from.length));
    for (const c of podCells) lines.push(`  ${c.column.padEnd(tw)}  ${c.from.padEnd(fw)}  ${glyph(c, mark, 60)}`);
  }

  const l7Cells = report.cells.filter((c) => c.kind === "l7Route");
  if (l7Cells.length > 0) {
    lines.push("");
    lines.push(`L7 routes (from ${l7Cells[0]!.from} through the ingress controller's external address)`);
    const uw = Math.max(...l7Cells.map((c) => c.column.length));
    const rw = Math.max(...l7Cells.map((c) => c.columnNote.length));
    for (const c of l7Cells) lines.push(`  ${c.column.padEnd(uw)}  ${c.columnNote.padEnd(rw)}  ${glyph(c, mark, 40)}`);
  }

  const failed = report.cells.filter((c) => c.outcome !== "ok");
  if (failed.length > 0) {
    lines.push("");
    lines.push(`Not answered (${failed.length})`);
    for (const c of failed) {
      const head = c.outcome === "expected-failure" ? "x   " : "FAIL";
      const why = c.outcome === "expected-failure" ? `expected: ${c.expected} — ${c.reason}` : `UNEXPECTED: ${c.reason}`;
      lines.push(`  ${head} ${c.from} → ${c.to} ${c.port}/${c.column.slice(c.column.lastIndexOf("/") + 1)}${c.proto === "dns" ? " (DNS query)" : ""}: ${why}`);
    }
  }
  if (report.skipped.length > 0) {
    lines.push("");
    lines.push(`Skipped (${report.skipped.length})`);
    for (const s of report.skipped) lines.push(`  ${s.target}: ${s.reason}`);
  }
  if (noteIndex.size > 0 || report.notes.length > 0) {
    lines.push("");
    lines.push("Notes");
    for (const [note, i] of noteIndex) {
      const n = report.cells.filter((c) => c.note === note).length;
      lines.push(`  *${noteIndex.size > 1 ? i : ""} ${note} (${n} cell${n === 1 ? "" : "s"})`);
    }
    for (const n of report.notes) lines.push(`  ${n}`);
  }
  lines.push("");
  lines.push(summaryLine(report));
  return lines;
}

/** The Service matrix: one column per Service port, blocks of whole Services that fit TABLE_WIDTH. */
function matrix(cells: CheckCell[], mark: (c: CheckCell) => string): string[] {
  const columns: { key: string; service: string; head2: string; cells: CheckCell[] }[] = [];
  const byKey = new Map<string, (typeof columns)[number]>();
  for (const c of cells) {
    let col = byKey.get(c.column);
    if (!col) {
      const portPart = c.column.slice(c.column.lastIndexOf(":") + 1);
      col = { key: c.column, service: c.service ?? "", head2: [portPart, c.columnNote].filter((s) => s !== "").join(" "), cells: [] };
      byKey.set(c.column, col);
      columns.push(col);
    }
    col.cells.push(c);
  }
  const rowRank = new Map<string, number>();
  for (const c of cells) if (!rowRank.has(c.row)) rowRank.set(c.row, c.rowRank);
  const rowWidth = Math.max(...[...rowRank.keys()].map((r) => r.length));
  const widthOf = (col: (typeof columns)[number]) => Math.max(col.service.length, col.head2.length, ...col.cells.map((c) => glyph(c, mark, MAX_ENDPOINT).length));

  // Group columns by Service, then pack Services into blocks.
  const services: (typeof columns)[] = [];
  for (const col of columns) {
    const last = services[services.length - 1];
    if (last && last[0]!.service === col.service) last.push(col);
    else services.push([col]);
  }
  const blocks: (typeof columns)[] = [];
  let width = 2 + rowWidth;
  for (const svc of services) {
    const w = svc.reduce((n, col) => n + 2 + widthOf(col), 0);
    const current = blocks[blocks.length - 1];
    if (current && width + w <= TABLE_WIDTH) {
      current.push(...svc);
      width += w;
    } else {
      blocks.push([...svc]);
      width = 2 + rowWidth + w;
    }
  }
  const out: string[] = [];
  for (const [i, block] of blocks.entries()) {
    if (i > 0) out.push("");
    const widths = block.map(widthOf);
    out.push(`  ${"".padEnd(rowWidth)}${block.map((col, j) => `  ${(j > 0 && block[j - 1]!.service === col.service ? "" : col.service).padEnd(widths[j]!)}`).join("")}`.trimEnd());
    out.push(`  ${"".padEnd(rowWidth)}${block.map((col, j) => `  ${col.head2.padEnd(widths[j]!)}`).join("")}`.trimEnd());
    const rows = [...new Set(block.flatMap((col) => col.cells.map((c) => c.row)))].sort((a, b) => rowRank.get(a)! - rowRank.get(b)!);
    for (const row of rows) {
      const parts = block.map((col, j) => {
        const c = col.cells.find((x) => x.row === row);
        return `  ${(c ? glyph(c, mark, MAX_ENDPOINT) : "-").padEnd(widths[j]!)}`;
      });
      out.push(`  ${row.padEnd(rowWidth)}${parts.join("")}`.trimEnd());
    }
  }
  return out;
}

function glyph(c: CheckCell, mark: (c: CheckCell) => string, max: number): string {
  if (c.outcome === "expected-failure") return `x${mark(c)}`;
  if (c.outcome === "unexpected-failure") return `FAIL${mark(c)}`;
  const who = shortEndpoint(c.endpoint);
  const text = who === "" ? "ok" : `ok ${who.length > max ? `${who.slice(0, max - 1)}…` : who}`;
  return `${text}${mark(c)}`;
}

/** `pod/default/web-1 (10.244.2.2:8080)` → `web-1`; `node/control-plane (…)` → `control-plane`. */
function shortEndpoint(endpoint: string | null): string {
  if (endpoint === null) return "";
  const who = endpoint.split(" ")[0]!;
  if (who.startsWith("pod/")) return who.slice(who.lastIndexOf("/") + 1);
  if (who.startsWith("node/") || who.startsWith("ext/")) return who.slice(who.indexOf("/") + 1);
  return who;
}

/** `--json`: the summary and every cell (plus the run's settings, skipped targets and notes). */
export function checkJson(report: CheckReport): unknown {
  return {
    cluster: report.cluster,
    mode: report.mode,
    seed: report.seed,
    summary: report.summary,
    cells: report.cells.map((c) => ({
      from: c.from,
      to: c.to,
      proto: c.proto,
      port: c.port,
      outcome: c.outcome,
      expected: c.expected,
      endpoint: c.endpoint,
      reason: c.reason,
      kind: c.kind,
      column: c.column,
      ...(c.kind === "l7Route" ? { route: c.columnNote, service: c.service } : {}),
      note: c.note,
    })),
    skipped: report.skipped,
    notes: report.notes,
    probes: report.probes.map((p) => ({ node: p.node, pod: p.key, ip: formatIpv4(p.ip) })),
  };
}
