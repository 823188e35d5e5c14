/**
 * A small SVG line-chart writer (no browser, no dependencies): linear or log axes, an
 * optional second y axis on the right, one polyline and one marker per point. Every marker
 * carries its exact figure in `data-series`, `data-x` and `data-y` attributes (the numbers
 * of results.json, printed with String()), so a test can check the chart against the JSON.
 */

export interface ChartPoint {
  x: number;
  y: number | null;
}

export interface ChartSeries {
  name: string;
  points: ChartPoint[];
  /** Which y axis (default left). */
  axis?: "left" | "right";
  dashed?: boolean;
}

export interface ChartSpec {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  y2Label?: string;
  xLog?: boolean;
  yLog?: boolean;
  y2Log?: boolean;
  series: ChartSeries[];
  width?: number;
  height?: number;
  /** A line under the title (e.g. what the figures are). */
  subtitle?: string;
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"];

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

interface Scale {
  min: number;
  max: number;
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
  let min: number;
  let max: number;
  let ticks: number[] = [];
  if (vs.length === 0) {
    min = log ? 1 : 0;
    max = log ? 10 : 1;
  } else {
    min = Math.min(...vs);
    max = Math.max(...vs);
  }
  if (log) {
    const lo = Math.floor(Math.log10(min));
    let hi = Math.ceil(Math.log10(max));
    if (hi === lo) hi = lo + 1;
    min = 10 ** lo;
    max = 10 ** hi;
    for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
    const map = (v: number): number => from + ((Math.log10(v) - lo) / (hi - lo)) * (to - from);
    return { min, max, log, ticks, map };
  }
  min = Math.min(0, min);
  if (max === min) max = min + 1;
  const step = niceStep(max - min, 5);
  max = Math.ceil(max / step) * step;
  min = Math.floor(min / step) * step;
  ticks = [];
  for (let t = min; t <= max + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  const map = (v: number): number => from + ((v - min) / (max - min)) * (to - from);
  return { min, max, log, ticks, map };
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

export function renderLineChart(spec: ChartSpec): string {
  const W = spec.width ?? 640;
  const H = spec.height ?? 400;
  const hasRight = spec.series.some((s) => s.axis === "right");
  const m = { l: 70, r: hasRight ? 70 : 20, t: spec.subtitle ? 56 : 40, b: 54 + Math.ceil(spec.series.length / 2) * 16 };
  const x0 = m.l;
  const x1 = W - m.r;
  const y0 = H - m.b;
  const y1 = m.t;
  const left = spec.series.filter((s) => s.axis !== "right");
  const right = spec.series.filter((s) => s.axis === "right");
  const ys = (ss: ChartSeries[]): number[] => ss.flatMap((s) => s.points.map((p) => p.y).filter((y): y is number => y !== null));
  const xs = makeScale(spec.series.flatMap((s) => s.points.filter((p) => p.y !== null).map((p) => p.x)), spec.xLog ?? false, x0, x1);
  const yl = makeScale(ys(left), spec.yLog ?? false, y0, y1);
  const yr = makeScale(ys(right), spec.y2Log ?? false, y0, y1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" id="${escapeXml(spec.id)}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<title>${escapeXml(spec.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(spec.title)}</text>`);
  if (spec.subtitle) out.push(`<text x="${W / 2}" y="38" text-anchor="middle" fill="#555555">${escapeXml(spec.subtitle)}</text>`);
  // Grid and axes.
  out.push(`<g class="grid" stroke="#e5e5e5">`);
  for (const t of yl.ticks) out.push(`<line x1="${x0}" y1="${f1(yl.map(t))}" x2="${x1}" y2="${f1(yl.map(t))}"/>`);
  for (const t of xs.ticks) out.push(`<line x1="${f1(xs.map(t))}" y1="${y0}" x2="${f1(xs.map(t))}" y2="${y1}"/>`);
  out.push(`</g>`);
  out.push(`<g class="axes" stroke="#333333"><line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}"/><line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}"/>${hasRight ? `<line x1="${x1}" y1="${y0}" x2="${x1}" y2="${y1}"/>` : ""}</g>`);
  out.push(`<g class="ticks" fill="#333333">`);
  for (const t of xs.ticks) out.push(`<text x="${f1(xs.map(t))}" y="${y0 + 15}" text-anchor="middle">${escapeXml(formatTick(t))}</text>`);
  for (const t of yl.ticks) out.push(`<text x="${x0 - 6}" y="${f1(yl.map(t) + 4)}" text-anchor="end">${escapeXml(formatTick(t))}</text>`);
  if (hasRight) for (const t of yr.ticks) out.push(`<text x="${x1 + 6}" y="${f1(yr.map(t) + 4)}" text-anchor="start">${escapeXml(formatTick(t))}</text>`);
  out.push(`</g>`);
  out.push(`<text x="${(x0 + x1) / 2}" y="${y0 + 32}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`);
  if (hasRight && spec.y2Label) out.push(`<text transform="translate(${W - 12} ${(y0 + y1) / 2}) rotate(90)" text-anchor="middle">${escapeXml(spec.y2Label)}</text>`);
  // Series.
  spec.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const ys = s.axis === "right" ? yr : yl;
    const ok = (p: ChartPoint): p is { x: number; y: number } => p.y !== null && Number.isFinite(p.y) && (!ys.log || p.y > 0) && (!xs.log || p.x > 0);
    const pts = s.points.filter(ok);
    out.push(`<g class="series" data-name="${escapeXml(s.name)}" stroke="${color}" fill="${color}">`);
    if (pts.length > 1) {
      const d = pts.map((p) => `${f1(xs.map(p.x))},${f1(ys.map(p.y))}`).join(" ");
      out.push(`<polyline points="${d}" fill="none" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    }
    for (const p of pts) {
      out.push(
        `<circle cx="${f1(xs.map(p.x))}" cy="${f1(ys.map(p.y))}" r="3.5" data-series="${escapeXml(s.name)}" data-x="${String(p.x)}" data-y="${String(p.y)}"><title>${escapeXml(`${s.name}: ${p.y.toLocaleString("en-US")} at ${p.x.toLocaleString("en-US")}`)}</title></circle>`,
      );
    }
    out.push(`</g>`);
  });
  // Legend, under the plot.
  out.push(`<g class="legend">`);
  const colW = (W - 40) / 2;
  spec.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const lx = 20 + (i % 2) * colW;
    const ly = y0 + 50 + Math.floor(i / 2) * 16;
    out.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 20}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    out.push(`<text x="${lx + 26}" y="${ly}">${escapeXml(s.name + (s.axis === "right" ? " (right axis)" : ""))}</text>`);
  });
  if (spec.series.every((s) => s.points.every((p) => p.y === null))) out.push(`<text x="${(x0 + x1) / 2}" y="${(y0 + y1) / 2}" text-anchor="middle" fill="#999999">not measured in this run</text>`);
  out.push(`</g>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
