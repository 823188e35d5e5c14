export * from "./netns.js";
export * from "./route-table.js";
export * from "./neighbour.js";
export * from "./hooks.js";
export * from "./stats.js";
export * from "./tcp.js";
export * from "./sctp.js";
export * from "./netfilter-glue.js";
