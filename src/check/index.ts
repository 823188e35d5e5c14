/** `podwire check`: the connectivity matrix of a cluster, with real traffic (above cluster, below cli). */
export { type CheckCell, type CheckReport, type CellOutcome, runCheck, whereItDied } from "./run.js";
export { type CellKind, type CheckPlan, type PlannedCell, type SkippedTarget, planCheck } from "./plan.js";
export { type Expectation, type FailureKind, MODE_LATITUDE, externalExpectation, internalExpectation, portEndpoints, usable } from "./expect.js";
export { PROBE_LABELS, PROBE_NAMESPACE, type ProbePod, withProbePods } from "./probes.js";
export { checkJson, formatCheck, summaryLine } from "./format.js";
