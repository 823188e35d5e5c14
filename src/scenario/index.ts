/** `podwire scenario`: real Service-networking failures, reproduced, explained and shown fixed. */
export * from "./types.js";
export { ScenarioContext, type ScenarioRunOptions } from "./context.js";
export { FrameLog, type LoggedFrame } from "./frame-log.js";
export { frameFacts, type FrameFacts, endpoint, describeFrame } from "./frame-facts.js";
export { SCENARIOS } from "./registry.js";
export { findScenario, runScenario, type ScenarioRun } from "./run.js";
export { formatScenarioList, formatScenarioRun, formatScenarioShow, scenarioListJson, scenarioRunJson } from "./format.js";
