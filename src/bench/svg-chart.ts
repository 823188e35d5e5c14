/**
 * A small SVG chart writer (no browser, no dependencies). A chart is one or more panels
 * side by side over the same x axis, each with one y axis of its own (never a second y axis
 * on one plot), linear or log. Every series belongs to a colour family — one per kube-proxy
 * mode, grey for the JS limit — and is drawn as a line with a filled marker per point and,
 * where the point has a range, a shaded min–max band. Published reference points are hollow
 * markers with no line, in their mode's family, one shape per source. Under the legend the
 * chart carries its caption (what is plotted, n, the bands, the sources).
 *
 * Every marker carries its exact figure in `data-series`, `data-x` and `data-y` (and
 * `data-min` / `data-max` where it has a band; `data-source` on published points), the
 * numbers of results.json printed with String(), so a test can check the chart against the
 * JSON.
 */

export interface ChartPoint {
  x: number;
  y: number | null;
  /** The range of the repetitions behind a median (drawn as a band). */
  min?: number;
  max?: number;
}

export type Shape = "circle" | "square" | "triangle" | "diamond";

export interface ChartSeries {
  name: string;
  points: ChartPoint[];
  /** Colour family: a kube-proxy mode, or "limit" (the JS limit, grey). */
  family: string;
  /** The results.json figure the points are (e.g. `coreNewConnPerSec`, `objects.rules`), for readers and tests. */
  field?: string;
  dashed?: boolean;
  /** A published reference: hollow markers, no line; `source` names it. */
  published?: { source: string; shape: Shape };
}

export interface ChartPanel {
  title: string;
  yLabel: string;
  yLog?: boolean;
  series: ChartSeries[];
}

export interface ChartSpec {
  id: string;
  title: string;
  xLabel: string;
  xLog?: boolean;
  panels: ChartPanel[];
  /** Lines under the chart: what is plotted, n, the bands and the sources. */
  caption: string[];
  /** Width of one panel (px). */
  panelWidth?: number;
  height?: number;
}

/** Shades of one hue per family (dark to light), so a mode's series read as one group. */
export const FAMILIES: Record<string, string[]> = {
  iptables: ["#08519c", "#3182bd", "#6baed6", "#084594", "#4292c6", "#9ecae1"],
  ipvs: ["#006d2c", "#31a354", "#74c476", "#00441b", "#41ab5d", "#a1d99b"],
  nftables: ["#a63603", "#e6550d", "#fd8d3c", "#7f2704", "#f16913", "#fdae6b"],
  limit: ["#525252", "#969696", "#737373"],
};
const OTHER = ["#6a51a3", "#9e9ac8", "#54278f"];

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

interface Scale {
  log: boolean;
  ticks: number[];
  map(v: number): number;
}

function niceStep(range: number, count: number): number {
  const raw = range / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

function makeScale(values: number[], log: boolean, from: number, to: number): Scale {
  let vs = values.filter((v) => Number.isFinite(v));
  if (log) vs = vs.filter((v) => v > 0);
  let min = vs.length ? Math.min(...vs) : log ? 1 : 0;
  let max = vs.length ? Math.max(...vs) : log ? 10 : 1;
  if (log) {
    const lo = Math.floor(Math.log10(min));
    let hi = Math.ceil(Math.log10(max));
    if (hi === lo) hi = lo + 1;
    const ticks: number[] = [];
    for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
    return { log, ticks, map: (v) => from + ((Math.log10(v) - lo) / (hi - lo)) * (to - from) };
  }
  min = Math.min(0, min);
  if (max === min) max = min + 1;
  const step = niceStep(max - min, 5);
  max = Math.ceil(max / step) * step;
  min = Math.floor(min / step) * step;
  const ticks: number[] = [];
  for (let t = min; t <= max + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return { log, ticks, map: (v) => from + ((v - min) / (max - min)) * (to - from) };
}

export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${Number((v / 1e9).toPrecision(3))}G`;
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`;
  if (a === 0) return "0";
  if (a < 0.01) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}

const f1 = (n: number): string => n.toFixed(1);

/** The colour of each series: its family's shades in order of appearance. */
export function seriesColours(series: readonly ChartSeries[]): Map<ChartSeries, string> {
  const used = new Map<string, number>();
  const out = new Map<ChartSeries, string>();
  for (const s of series) {
    const shades = FAMILIES[s.family] ?? OTHER;
    const i = used.get(s.family) ?? 0;
    used.set(s.family, i + 1);
    out.set(s, shades[i % shades.length]!);
  }
  return out;
}

function marker(shape: Shape, x: number, y: number, r: number, attrs: string): string {
  switch (shape) {
    case "circle":
      return `<circle cx="${f1(x)}" cy="${f1(y)}" r="${r}" ${attrs}`;
    case "square":
      return `<rect x="${f1(x - r)}" y="${f1(y - r)}" width="${2 * r}" height="${2 * r}" ${attrs}`;
    case "triangle":
      return `<polygon points="${f1(x)},${f1(y - r * 1.2)} ${f1(x - r * 1.1)},${f1(y + r * 0.8)} ${f1(x + r * 1.1)},${f1(y + r * 0.8)}" ${attrs}`;
    case "diamond":
      return `<polygon points="${f1(x)},${f1(y - r * 1.3)} ${f1(x + r * 1.1)},${f1(y)} ${f1(x)},${f1(y + r * 1.3)} ${f1(x - r * 1.1)},${f1(y)}" ${attrs}`;
  }
}

const hasData = (s: ChartSeries): boolean => s.points.some((p) => p.y !== null);

/** Word-wraps `text` to about `chars` characters a line. */
function wrap(text: string, chars: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > chars) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

export function renderChart(spec: ChartSpec): string {
  const PW = spec.panelWidth ?? (spec.panels.length > 1 ? 560 : 760);
  const W = PW * spec.panels.length;
  const plotH = spec.height ?? 340;
  const all = spec.panels.flatMap((p) => p.series);
  const colours = seriesColours(all);
  // Legend: one entry per series with data (the same name in two panels is one entry).
  const legend: ChartSeries[] = [];
  for (const s of all) if (hasData(s) && !legend.some((l) => l.name === s.name)) legend.push(s);
  const legendCols = Math.max(1, Math.floor(W / 380));
  const legendRows = Math.ceil(legend.length / legendCols);
  const captionLines = spec.caption.flatMap((c) => wrap(c, Math.floor(W / 6.2)));
  const top = 46;
  const m = { l: 72, r: 24, t: top + 22, b: 48 };
  const y0 = m.t + plotH;
  const legendTop = y0 + m.b;
  const captionTop = legendTop + legendRows * 16 + 10;
  const H = captionTop + captionLines.length * 14 + 10;
  const xs = (i: number): Scale =>
    makeScale(
      all.flatMap((s) => s.points.filter((p) => p.y !== null).map((p) => p.x)),
      spec.xLog ?? false,
      i * PW + m.l,
      (i + 1) * PW - m.r,
    );
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" id="${escapeXml(spec.id)}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<title>${escapeXml(spec.title)}</title>`);
  out.push(`<desc>${escapeXml(spec.caption.join(" "))}</desc>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`);
  spec.panels.forEach((panel, i) => {
    const x = xs(i);
    const x0 = i * PW + m.l;
    const x1 = (i + 1) * PW - m.r;
    const values = panel.series.flatMap((s) => s.points.flatMap((p) => (p.y === null ? [] : [p.y, p.min ?? p.y, p.max ?? p.y])));
    const y = makeScale(values, panel.yLog ?? false, y0, m.t);
    out.push(`<g class="panel" data-panel="${i}" data-y-label="${escapeXml(panel.yLabel)}">`);
    out.push(`<text x="${(x0 + x1) / 2}" y="${top + 8}" text-anchor="middle" font-size="12" font-weight="bold">${escapeXml(panel.title)}</text>`);
    out.push(`<g class="grid" stroke="#e8e8e8">`);
    for (const t of y.ticks) out.push(`<line x1="${x0}" y1="${f1(y.map(t))}" x2="${x1}" y2="${f1(y.map(t))}"/>`);
    for (const t of x.ticks) out.push(`<line x1="${f1(x.map(t))}" y1="${y0}" x2="${f1(x.map(t))}" y2="${m.t}"/>`);
    out.push(`</g>`);
    out.push(`<g class="axes" stroke="#333333"><line class="x-axis" x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}"/><line class="y-axis" x1="${x0}" y1="${y0}" x2="${x0}" y2="${m.t}"/></g>`);
    out.push(`<g class="ticks" fill="#333333">`);
    for (const t of x.ticks) out.push(`<text x="${f1(x.map(t))}" y="${y0 + 15}" text-anchor="middle">${escapeXml(formatTick(t))}</text>`);
    for (const t of y.ticks) out.push(`<text x="${x0 - 6}" y="${f1(y.map(t) + 4)}" text-anchor="end">${escapeXml(formatTick(t))}</text>`);
    out.push(`</g>`);
    out.push(`<text x="${(x0 + x1) / 2}" y="${y0 + 32}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
    out.push(`<text class="y-label" transform="translate(${i * PW + 16} ${(y0 + m.t) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(panel.yLabel)}</text>`);
    for (const s of panel.series.filter(hasData)) {
      const colour = colours.get(s)!;
      const ok = (p: ChartPoint): p is ChartPoint & { y: number } => p.y !== null && Number.isFinite(p.y) && (!y.log || p.y > 0) && (!x.log || p.x > 0);
      const pts = s.points.filter(ok);
      out.push(`<g class="series${s.published ? " published" : ""}" data-name="${escapeXml(s.name)}" data-family="${escapeXml(s.family)}"${s.field ? ` data-field="${escapeXml(s.field)}"` : ""}>`);
      const banded = pts.filter((p) => p.min !== undefined && p.max !== undefined && (!y.log || p.min > 0));
      if (!s.published && banded.length > 1) {
        const upper = banded.map((p) => `${f1(x.map(p.x))},${f1(y.map(p.max!))}`);
        const lower = banded.map((p) => `${f1(x.map(p.x))},${f1(y.map(p.min!))}`).reverse();
        out.push(`<polygon class="band" points="${[...upper, ...lower].join(" ")}" fill="${colour}" fill-opacity="0.12" stroke="none"/>`);
      } else if (!s.published) {
        for (const p of banded) out.push(`<line class="band" x1="${f1(x.map(p.x))}" y1="${f1(y.map(p.min!))}" x2="${f1(x.map(p.x))}" y2="${f1(y.map(p.max!))}" stroke="${colour}" stroke-opacity="0.5" stroke-width="6"/>`);
      }
      if (!s.published && pts.length > 1) {
        const d = pts.map((p) => `${f1(x.map(p.x))},${f1(y.map(p.y))}`).join(" ");
        out.push(`<polyline points="${d}" fill="none" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
      }
      for (const p of pts) {
        const data = `data-series="${escapeXml(s.name)}" data-x="${String(p.x)}" data-y="${String(p.y)}"${p.min !== undefined ? ` data-min="${String(p.min)}" data-max="${String(p.max)}"` : ""}`;
        const what = `${s.name}: ${p.y.toLocaleString("en-US")} at ${p.x.toLocaleString("en-US")}${p.min !== undefined ? ` (min ${p.min.toLocaleString("en-US")}, max ${p.max!.toLocaleString("en-US")})` : ""}`;
        const attrs = s.published
          ? `class="marker published" fill="none" stroke="${colour}" stroke-width="1.8" ${data} data-source="${escapeXml(s.published.source)}"><title>${escapeXml(`${what} — ${s.published.source}`)}</title>`
          : `class="marker" fill="${colour}" stroke="${colour}" ${data}><title>${escapeXml(what)}</title>`;
        out.push(marker(s.published?.shape ?? "circle", x.map(p.x), y.map(p.y), s.published ? 5 : 3.5, attrs) + (s.published?.shape === "square" ? "</rect>" : s.published && s.published.shape !== "circle" ? "</polygon>" : "</circle>"));
      }
      out.push(`</g>`);
    }
    if (!panel.series.some(hasData)) out.push(`<text x="${(x0 + x1) / 2}" y="${(y0 + m.t) / 2}" text-anchor="middle" fill="#999999">not measured in this run</text>`);
    out.push(`</g>`);
  });
  // Legend, under the panels.
  out.push(`<g class="legend">`);
  const colW = (W - 40) / legendCols;
  legend.forEach((s, i) => {
    const colour = colours.get(s)!;
    const lx = 20 + (i % legendCols) * colW;
    const ly = legendTop + Math.floor(i / legendCols) * 16;
    if (s.published) out.push(marker(s.published.shape, lx + 10, ly - 4, 4.5, `fill="none" stroke="${colour}" stroke-width="1.8"/>`));
    else out.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 20}" y2="${ly - 4}" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    out.push(`<text x="${lx + 26}" y="${ly}">${escapeXml(s.name)}</text>`);
  });
  out.push(`</g>`);
  out.push(`<g class="caption" fill="#444444">`);
  captionLines.forEach((line, i) => out.push(`<text x="20" y="${captionTop + i * 14}">${escapeXml(line)}</text>`));
  out.push(`</g>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
