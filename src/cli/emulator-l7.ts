/**
 * The L7 pieces (and `cluster --yaml`) main.ts loads when a command needs them (kept apart from emulator.js so
 * the commands that do not need them load no more than before).
 */
export { runDemoWithHttps } from "../cluster/demo.js";
export { formatHttpDetails } from "../cluster/report-http.js";
export { clusterFileYaml } from "../cluster/cluster-yaml.js";
