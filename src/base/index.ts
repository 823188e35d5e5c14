export * from "./errors.js";
export * from "./clock.js";
export * from "./rng.js";
export * from "./ipv4-int.js";
export * from "./line-buffer.js";
export * from "./event-queue.js";
export * from "./output-file.js";
export * from "./k8s-names.js";
