/**
 * A reader for the text exposition, for the tests: every sample as `name{a="x",b="y"}` (labels
 * sorted) → value, and the TYPE of every family. Strict: a line it cannot read throws.
 */
export interface ParsedExposition {
  samples: Map<string, number>;
  types: Map<string, string>;
  helps: Map<string, string>;
}

export function parseExposition(text: string): ParsedExposition {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      types.set(t[1]!, t[2]!);
      continue;
    }
    const h = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (h) {
      helps.set(h[1]!, h[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`cannot read ${JSON.stringify(line)}`);
    const labels = readLabels(m[2] ?? "");
    const key = seriesKey(m[1]!, labels);
    if (samples.has(key)) throw new Error(`${key} twice`);
    samples.set(key, m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]));
  }
  return { samples, types, helps };
}

function readLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(text.slice(i));
    if (!m) throw new Error(`bad labels ${text}`);
    i += m[0].length;
    let v = "";
    while (text[i] !== '"') {
      if (i >= text.length) throw new Error(`unterminated label value in ${text}`);
      if (text[i] === "\\") {
        const c = text[i + 1];
        v += c === "n" ? "\n" : c;
        i += 2;
      } else v += text[i++];
    }
    out[m[1]!] = v;
    i++;
    if (text[i] === ",") i++;
  }
  return out;
}

/** `name{a="x",b="y"}` with the labels sorted by name, escaped as the format escapes them. */
export function seriesKey(name: string, labels: Record<string, string>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]!.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length === 0 ? name : `${name}{${parts.join(",")}}`;
}

/** The value of one series, failing loudly when it is not there. */
export function valueOf(p: ParsedExposition, name: string, labels: Record<string, string> = {}): number {
  const v = p.samples.get(seriesKey(name, labels));
  if (v === undefined) throw new Error(`no series ${seriesKey(name, labels)}`);
  return v;
}
