/**
 * The emulator code behind main.ts's commands (demo, trace, rules, ipvs, cluster), which each
 * loads with `await import("./emulator.js")` when it runs: `podwire --help`, `--version` and a
 * usage error load only commander and base/ and start at once (issue 12 §5). main.ts imports
 * types only from these modules; test/cli/build.test.ts checks it keeps to that.
 */
export { bootCluster } from "../cluster/boot.js";
export { Cluster } from "../cluster/build.js";
export { CaptureSession } from "../cluster/capture.js";
export { clusterDocumentYaml, nodeDocumentsYaml } from "../cluster/cluster-doc.js";
export { runDemo } from "../cluster/demo.js";
export { parseDestination, parseSource } from "../cluster/endpoints.js";
export { formatTopology, formatTrace, wrapText } from "../cluster/report.js";
export { resolveTraceTarget, runTrace, traceJsonDocument } from "../cluster/trace-target.js";
export { formatIpvsadmConnections, formatIpvsadmList } from "../ipvs/index.js";
export { printRuleset } from "../netfilter/save-print.js";
export { loadSpec } from "./load-spec.js";
