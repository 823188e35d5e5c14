/**
 * The Prometheus text exposition format, version 0.0.4 (what every scraper reads from
 * `/metrics`): per metric family one `# HELP` and one `# TYPE` line, then its samples, each
 * `name{label="value",…} value`. Histograms are written as cumulative `_bucket{le="…"}`
 * series ending with `le="+Inf"`, then `_sum` and `_count`. Label values escape `\`, `"` and
 * newlines; HELP text escapes `\` and newlines
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format).
 *
 * The builder refuses what a scraper would reject or misread — a bad metric or label name, a
 * counter not ending in `_total`, the same series twice, a family whose samples disagree on
 * their label names — by throwing: those are bugs in a collector, not user input.
 */

/** The Content-Type of a 0.0.4 exposition. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type Labels = Readonly<Record<string, string>>;

/** A histogram's state: bucket upper bounds (ascending, without +Inf) and the count in each. */
export interface HistogramValue {
  /** Upper bounds, ascending; the +Inf bucket is implied. */
  bounds: readonly number[];
  /** Observations ≤ each bound and above the previous one (not cumulative); length bounds.length + 1, the last for +Inf. */
  counts: readonly number[];
  sum: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface FamilyBase {
  readonly name: string;
  readonly help: string;
  /** Label names of the first sample, in order; every sample must have the same. */
  labelNames: string[] | null;
  readonly seen: Set<string>;
}

interface ScalarFamily extends FamilyBase {
  readonly type: "counter" | "gauge";
  readonly samples: { labels: Labels; value: number }[];
}

interface HistogramFamily extends FamilyBase {
  readonly type: "histogram";
  readonly samples: { labels: Labels; value: HistogramValue }[];
}

type Family = ScalarFamily | HistogramFamily;

/** Collects metric families and writes them as one exposition. */
export class ExpositionBuilder {
  private readonly families = new Map<string, Family>();

  /** A counter family (monotonic: packets, bytes, events); its name must end in `_total`. */
  counter(name: string, help: string): ScalarSink {
    if (!name.endsWith("_total")) throw new Error(`counter ${name}: a counter's name ends in _total`);
    return this.scalar(name, help, "counter");
  }

  /** A gauge family (a value that goes up and down: table sizes, timestamps, rule counts). */
  gauge(name: string, help: string): ScalarSink {
    return this.scalar(name, help, "gauge");
  }

  /** A histogram family. */
  histogram(name: string, help: string): HistogramSink {
    const family = this.family(name, help, "histogram") as HistogramFamily;
    return {
      add: (labels, value) => {
        checkHistogram(name, value);
        if ("le" in labels) throw new Error(`histogram ${name}: the label le is the bucket's own`);
        this.addSample(family, labels);
        family.samples.push({ labels, value });
      },
    };
  }

  private scalar(name: string, help: string, type: "counter" | "gauge"): ScalarSink {
    const family = this.family(name, help, type) as ScalarFamily;
    return {
      add: (labels, value) => {
        if (type === "counter" && !(value >= 0)) throw new Error(`counter ${name}: ${value} is not a count`);
        this.addSample(family, labels);
        family.samples.push({ labels, value });
      },
    };
  }

  private family(name: string, help: string, type: Family["type"]): Family {
    if (!METRIC_NAME.test(name)) throw new Error(`metric name ${JSON.stringify(name)} is not valid`);
    const existing = this.families.get(name);
    if (existing !== undefined) {
      if (existing.type !== type || existing.help !== help) throw new Error(`metric ${name} declared twice, differently`);
      return existing;
    }
    for (const suffix of type === "histogram" ? ["_bucket", "_sum", "_count"] : []) {
      if (this.families.has(name + suffix)) throw new Error(`histogram ${name}: ${name}${suffix} is another family`);
    }
    const family = { name, help, type, labelNames: null, seen: new Set<string>(), samples: [] } as Family;
    this.families.set(name, family);
    return family;
  }

  private addSample(family: Family, labels: Labels): void {
    const names = Object.keys(labels);
    for (const n of names) {
      if (!LABEL_NAME.test(n) || n.startsWith("__")) throw new Error(`metric ${family.name}: label name ${JSON.stringify(n)} is not valid`);
    }
    if (family.labelNames === null) family.labelNames = names;
    else if (names.length !== family.labelNames.length || names.some((n, i) => n !== family.labelNames![i])) {
      throw new Error(`metric ${family.name}: labels {${names.join(",")}} differ from the family's {${family.labelNames.join(",")}}`);
    }
    const key = labelText(labels);
    if (family.seen.has(key)) throw new Error(`metric ${family.name}${key}: the same series twice`);
    family.seen.add(key);
  }

  /** The exposition: families in the order they were declared, each with its samples in the order added. */
  text(): string {
    const out: string[] = [];
    for (const f of this.families.values()) {
      if (f.samples.length === 0) continue; // as client_golang: a family with no series is not written
      out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
      out.push(`# TYPE ${f.name} ${f.type}`);
      if (f.type === "histogram") {
        for (const s of f.samples) writeHistogram(out, f.name, s.labels, s.value);
      } else {
        for (const s of f.samples) out.push(`${f.name}${labelText(s.labels)} ${formatValue(s.value)}`);
      }
    }
    return out.length === 0 ? "" : out.join("\n") + "\n";
  }
}

export interface ScalarSink {
  add(labels: Labels, value: number): void;
}

export interface HistogramSink {
  add(labels: Labels, value: HistogramValue): void;
}

function checkHistogram(name: string, h: HistogramValue): void {
  if (h.counts.length !== h.bounds.length + 1) throw new Error(`histogram ${name}: ${h.counts.length} counts for ${h.bounds.length} bounds + Inf`);
  for (let i = 1; i < h.bounds.length; i++) if (!(h.bounds[i]! > h.bounds[i - 1]!)) throw new Error(`histogram ${name}: bounds are not ascending`);
}

function writeHistogram(out: string[], name: string, labels: Labels, h: HistogramValue): void {
  let cumulative = 0;
  h.bounds.forEach((bound, i) => {
    cumulative += h.counts[i]!;
    out.push(`${name}_bucket${labelText({ ...labels, le: formatValue(bound) })} ${cumulative}`);
  });
  cumulative += h.counts[h.bounds.length]!;
  out.push(`${name}_bucket${labelText({ ...labels, le: "+Inf" })} ${cumulative}`);
  out.push(`${name}_sum${labelText(labels)} ${formatValue(h.sum)}`);
  out.push(`${name}_count${labelText(labels)} ${cumulative}`);
}

/** `{a="1",b="x\"y"}`, or "" without labels. */
export function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** A label value as the text format wants it: `\` → `\\`, `"` → `\"`, newline → `\n`. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text: `\` → `\\`, newline → `\n` (quotes stay as they are). */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value as Go's strconv prints it for Prometheus: integers plainly, `+Inf`, `-Inf`, `NaN`. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}
