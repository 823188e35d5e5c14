/** `podwire scenario` output: the list, one run as text (≤ 120 columns), and the JSON forms. */
import { escapeControl } from "../base/k8s-names.js";
import type { ScenarioRun } from "./run.js";
import type { Scenario } from "./types.js";

const WIDTH = 120;

/** Wraps `text` at word boundaries to `width`, continuation lines indented by `indent`. */
export function wrap(text: string, width: number, first: string, indent: string): string[] {
  const words = text.split(/\s+/).filter((w) => w !== "");
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const w of words) {
    if (!empty && line.length + 1 + w.length > width) {
      lines.push(line);
      line = indent + w;
    } else {
      line += (empty ? "" : " ") + w;
    }
    empty = false;
  }
  lines.push(line);
  return lines;
}

export function formatScenarioList(scenarios: readonly Scenario[]): string[] {
  const nameWidth = Math.max(...scenarios.map((s) => s.name.length));
  const lines: string[] = [];
  for (const s of scenarios) {
    const head = `${String(s.number).padStart(2)}  ${s.name.padEnd(nameWidth)}  `;
    lines.push(...wrap(`${s.symptom} (${s.issues.join(", ")})`, WIDTH, head, " ".repeat(head.length)));
  }
  lines.push("", "run one: podwire scenario run NAME [--fixed] [--pcap FILE]; its cluster: podwire scenario show NAME");
  return lines;
}

export function scenarioListJson(scenarios: readonly Scenario[]): object[] {
  return scenarios.map((s) => ({ name: s.name, number: s.number, symptom: s.symptom, issues: s.issues, modes: s.modes, fix: s.fix }));
}

export function formatScenarioRun(run: ScenarioRun): string[] {
  const { scenario: s, findings: f } = run;
  const lines: string[] = [];
  lines.push(...wrap(`${s.symptom}`, WIDTH, `scenario ${s.number} ${s.name}: `, "  "));
  lines.push(...wrap(s.issues.join(", "), WIDTH, "reported in ", "  "));
  lines.push(...wrap(`${run.mode} mode, seed ${run.seed}, ${run.fixed ? `with the fix: ${s.fix}` : "without the fix"}`, WIDTH, "", "  "));
  lines.push("");
  lines.push(...wrap(escapeControl(f.summary), WIDTH, `symptom ${f.symptom ? "PRESENT" : "absent"}: `, "  "));
  if (f.mechanism.length > 0) {
    lines.push("", "mechanism:");
    f.mechanism.forEach((m, i) => lines.push(...wrap(escapeControl(m), WIDTH, `  ${i + 1}. `, "     ")));
  }
  if (f.evidence.length > 0) {
    lines.push("", "evidence:");
    for (const e of f.evidence) {
      const where = `${e.netns}${e.device ? `/${e.device}` : ""}`;
      const head = `  ${e.frame === null ? "" : `frame ${e.frame}`}`.padEnd(14) + ` ${where}  `;
      lines.push(...wrap(escapeControl(e.detail), WIDTH, head, " ".repeat(Math.min(head.length, 40))));
    }
  }
  const counters = Object.entries(f.counters);
  if (counters.length > 0) lines.push("", ...wrap(counters.map(([k, v]) => `${k}=${v}`).join(" "), WIDTH, "counters: ", "  "));
  lines.push("");
  if (!run.fixed) lines.push(...wrap(`${s.fix} — run it with --fixed`, WIDTH, "the fix: ", "  "));
  if (run.capture) lines.push(`capture: ${run.capture.path} (${run.capture.frames} frames; frame numbers above are Wireshark's)`);
  return lines;
}

export function scenarioRunJson(run: ScenarioRun): object {
  const { scenario: s, findings: f } = run;
  return {
    name: s.name,
    number: s.number,
    issues: s.issues,
    mode: run.mode,
    seed: run.seed,
    fixed: run.fixed,
    symptom: f.symptom,
    summary: f.summary,
    mechanism: f.mechanism,
    evidence: f.evidence,
    counters: f.counters,
    fix: s.fix,
    notes: s.notes,
    capture: run.capture?.path ?? null,
  };
}

/** `scenario show`: the cluster file, with the scenario's notes as a comment on top. */
export function formatScenarioShow(s: Scenario): string {
  const head = [`# podwire scenario ${s.number}: ${s.name} — ${s.symptom}`, `# reported in ${s.issues.join(", ")}`, `# the fix (--fixed): ${s.fix}`, "#", ...s.notes.map((n) => `# ${n}`)];
  return head.join("\n") + "\n" + s.yaml;
}
