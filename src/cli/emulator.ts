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
export { defaultPort, parseDestination, parseSource } from "../cluster/endpoints.js";
export { DEFAULT_DNS_QUERY, runExchange } from "../cluster/exchange.js";
export { TRACE_JSON_SCHEMA_VERSION, formatTopology, formatTrace, traceHopJson, wrapText } from "../cluster/report.js";
export { servicePath, servicePorts } from "../cluster/service-path.js";
export { formatIpvsadmConnections, formatIpvsadmList } from "../ipvs/index.js";
export { printRuleset } from "../netfilter/save-print.js";
export { DNS_PORT, dnsNameProblem } from "../wire/index.js";
export { loadSpec } from "./load-spec.js";
