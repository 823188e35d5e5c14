export type { KubeProxyMode, ModeContext, ModeResync } from "./mode.js";
export { IptablesMode } from "./iptables.js";
export { IpvsMode } from "./ipvs.js";
export { NftablesMode } from "./nftables.js";
export { loadRestore } from "./load-restore.js";
export { RUNNABLE_MODES, createProxyMode } from "./registry.js";
