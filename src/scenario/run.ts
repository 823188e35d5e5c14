/** Runs one scenario: boots its cluster, sends its traffic, and returns what it found. */
import { PodwireError } from "../base/index.js";
import type { ProxyMode } from "../cluster/spec.js";
import { ScenarioContext } from "./context.js";
import { SCENARIOS } from "./registry.js";
import type { Scenario, ScenarioFindings } from "./types.js";

export interface ScenarioRun {
  scenario: Scenario;
  fixed: boolean;
  mode: ProxyMode;
  seed: number;
  findings: ScenarioFindings;
  capture: { path: string; frames: number } | null;
}

export function findScenario(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name || String(x.number) === name);
  if (s === undefined) {
    throw new PodwireError("E_ARG", `no scenario named ${JSON.stringify(name)}`, { field: "NAME" }, `run \`podwire scenario list\`; names: ${SCENARIOS.map((x) => x.name).join(", ")}`);
  }
  return s;
}

export function runScenario(scenario: Scenario, opts: { fixed?: boolean; mode?: ProxyMode; seed?: number; pcapPath?: string | null }): ScenarioRun {
  const mode = opts.mode ?? scenario.modes[0]!;
  if (!scenario.modes.includes(mode)) {
    throw new PodwireError("E_ARG", `scenario ${scenario.name} does not run in ${mode} mode`, { field: "--mode" }, `it runs in: ${scenario.modes.join(", ")}`);
  }
  const seed = opts.seed ?? 1;
  const fixed = opts.fixed ?? false;
  const ctx = new ScenarioContext(scenario, { fixed, mode, seed, pcapPath: opts.pcapPath ?? null });
  let findings: ScenarioFindings;
  try {
    findings = scenario.run(ctx);
  } catch (err) {
    ctx.finish(false); // an earlier capture at the path stays as it was
    throw err;
  }
  return { scenario, fixed, mode, seed, findings, capture: ctx.finish(true) };
}
