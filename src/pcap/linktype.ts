/** Link-layer header types (tcpdump.org linktypes / draft-ietf-opsawg-pcaplinktype). */
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;

/** Default snapshot length: what tcpdump and Wireshark use (256 KiB). */
export const DEFAULT_SNAPLEN = 262_144;
