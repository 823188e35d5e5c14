/** `podwire compare-modes`: the flows of check through every kube-proxy mode, and where they differ (above cluster and check, below cli). */
export { type Aspect, type CompareOptions, type CompareReport, type FlowComparison, aspectsDiffering, runCompare } from "./run.js";
export { type Flow, type FlowKind, planFlows } from "./flows.js";
export { KNOWN_DIFFERENCES, type KnownDifference, type ModeOutcome, explain } from "./known-differences.js";
export { type Verdict, endpointPlace, seenByEndpoint, sourceClass, verdictOf } from "./observe.js";
export type { FlowRun, ModeAdapter } from "./adapters/adapter.js";
export { adapterFor } from "./adapters/registry.js";
export { compareJson, compareSummaryLine, formatCompare } from "./format.js";
