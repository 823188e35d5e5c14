export * from "./sink.js";
export * from "./linktype.js";
export * from "./pcap-writer.js";
export * from "./pcapng-writer.js";
export * from "./capture.js";
export * from "./pcap-reader.js";
export * from "./pcapng-reader.js";
export * from "./reader.js";
export { EPB_FLAGS_INBOUND, EPB_FLAGS_OUTBOUND, EPB_FLAGS_DIRECTION_MASK } from "./pcapng-format.js";
