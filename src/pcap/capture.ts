/** What the reader returns: a capture file's interfaces and packets, format-neutral. */

export interface CaptureInterface {
  name?: string;
  description?: string;
  linktype: number;
  /** 0 means no limit (pcapng §4.2). */
  snaplen: number;
  /** The raw if_tsresol byte: 6 = µs (the default), 9 = ns; high bit set = power of 2. */
  tsresol: number;
}

export interface CapturePacket {
  /** Index into `Capture.interfaces` (later sections of a pcapng file continue the count). */
  interfaceId: number;
  /** Nanoseconds since 1970-01-01T00:00:00Z; 0n for a Simple Packet Block (it has none). */
  tsNs: bigint;
  /** A view into the input bytes, not a copy. */
  data: Uint8Array;
  origLen: number;
  comment?: string;
  /** The epb_flags word (§4.3.1), when the block has one. */
  flags?: number;
  /** epb_flags bits 0-1, when present and not 0 ("not available"). */
  direction?: "inbound" | "outbound";
}

/** An Interface Statistics Block (§4.6): counters an interface reported, with when. */
export interface CaptureStatistics {
  /** Index into `Capture.interfaces`. */
  interfaceId: number;
  /** When the counters were taken, ns since 1970. */
  tsNs: bigint;
  /** isb_starttime / isb_endtime, ns since 1970. */
  startNs?: bigint;
  endNs?: bigint;
  /** isb_ifrecv: packets received from the interface since the capture started. */
  ifRecv?: bigint;
  /** isb_ifdrop: packets the interface dropped since the capture started. */
  ifDrop?: bigint;
  filterAccept?: bigint;
  osDrop?: bigint;
  usrDeliv?: bigint;
  comment?: string;
}

export interface Capture {
  format: "pcap" | "pcapng";
  /** pcap only: the file header's link type. */
  linktype?: number;
  /** pcap only: true for the nanosecond magic. */
  nanos?: boolean;
  interfaces: CaptureInterface[];
  packets: CapturePacket[];
  /** pcapng Interface Statistics Blocks, in file order; empty for pcap. */
  statistics: CaptureStatistics[];
}
