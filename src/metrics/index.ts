/** Prometheus metrics of a running cluster: the exposition writer, kube-proxy's recorder and the collectors. */
export { EXPOSITION_CONTENT_TYPE, ExpositionBuilder, escapeHelp, escapeLabelValue, formatValue, labelText, type HistogramValue, type Labels } from "./exposition.js";
export { Histogram, exponentialBuckets, linearBuckets } from "./histogram.js";
export { KubeProxyRecorder, NETWORK_PROGRAMMING_BUCKETS, SYNC_DURATION_BUCKETS, type NodeProxyMetrics } from "./kube-proxy-recorder.js";
export { objectChanges, type ObjectChanges } from "./object-changes.js";
export { bootObserved, type ObservedCluster } from "./observed-boot.js";
export { clusterExposition } from "./collect.js";
export { ownedRules } from "./kube-proxy-families.js";
