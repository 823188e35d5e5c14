/** `podwire serve`: a running cluster with a dashboard, a JSON API and Prometheus metrics. */
export { startServe, type ServeHandle, type ServeOptions } from "./serve.js";
export { DEFAULT_LISTEN, isLoopback, parseListen, type ListenAddress } from "./listen.js";
export { TRAFFIC_PROFILES, TrafficGenerator, planFlows, type FlowPlan, type TrafficProfile } from "./traffic.js";
export { traceFlow, TRACE_PROTOS, type TraceRequest, type TraceOutcome } from "./trace-flow.js";
export { API_ENDPOINTS } from "./server.js";
export { LiveCluster } from "./live-cluster.js";
