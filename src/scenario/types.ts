/**
 * A scenario: one real Service-networking failure (../shared/reference/service-networking-
 * problems.md), built on its own small cluster, triggered with real traffic, and judged from
 * the packets and counters it produced — never from its own narrative. `--fixed` runs the
 * same traffic with the known fix applied.
 */
import type { ProxyMode } from "../cluster/spec.js";
import type { ScenarioContext } from "./context.js";

/** One piece of evidence: a frame in the capture (1-based, Wireshark's frame.number) or a counter/rule/entry (frame null). */
export interface ScenarioEvidence {
  frame: number | null;
  netns: string;
  device: string;
  detail: string;
}

/** What a run found. `symptom` is computed from packets and counters. */
export interface ScenarioFindings {
  symptom: boolean;
  /** One line: the symptom as a user sees it (or that it is gone). */
  summary: string;
  /** The mechanism, step by step, with frame numbers where a packet shows it. */
  mechanism: string[];
  evidence: ScenarioEvidence[];
  /** The kernel's / kube-proxy's counters that show it, by their real names (e.g. `insert_failed`). */
  counters: Record<string, number>;
  /**
   * Capture frames (1-based) whose bad checksum *is* the symptom (e.g. a VXLAN packet's
   * outer UDP checksum broken by NAT): the capture test expects tshark to flag exactly
   * these, and no others.
   */
  expectedBadChecksums?: number[];
}

export interface Scenario {
  /** kebab-case, e.g. `dns-conntrack-race`. */
  name: string;
  /** The row of the reference table (1-15). */
  number: number;
  /** One line: what the user sees. */
  symptom: string;
  /** Where it was reported, e.g. `kubernetes/kubernetes#56903`. */
  issues: string[];
  /** The fix `--fixed` applies, one line. */
  fix: string;
  /** Where the behaviour comes from: kernel functions, kube-proxy lines. */
  notes: string[];
  /** The scenario's cluster file (what `scenario show` prints). */
  yaml: string;
  /** The modes the scenario runs in; the first is its default. */
  modes: readonly ProxyMode[];
  run(ctx: ScenarioContext): ScenarioFindings;
}
