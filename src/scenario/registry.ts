/** Every scenario, in the order of the reference table (../shared/reference/service-networking-problems.md). */
import { LOST_CLIENT_IP } from "./cases/lost-client-ip.js";
import type { Scenario } from "./types.js";

export const SCENARIOS: readonly Scenario[] = [LOST_CLIENT_IP].sort((a, b) => a.number - b.number);
