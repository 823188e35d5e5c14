/**
 * The net.ipv4.vs.* knobs this emulation honours (Documentation/networking/ipvs-sysctl.rst),
 * with the kernel's defaults. kube-proxy sets conntrack=1, expire_nodest_conn=1 and
 * expire_quiescent_template=1, and conn_reuse_mode=0 on some kernels.
 */
export interface IpvsSysctl {
  /**
   * conn_reuse_mode (default 1). Bit 1: a SYN that hits a TIME_WAIT/CLOSE connection's
   * tuple is scheduled as a new connection. Bit 2: also FIN_WAIT for DR/TUN. 0: the SYN
   * reuses the old connection and its real server.
   */
  connReuseMode: number;
  /** expire_nodest_conn (default 0): packets of a connection whose server was deleted are dropped and the connection expired. */
  expireNodestConn: number;
  /** expire_quiescent_template (default 0): a persistence template whose server has weight 0 is invalidated. */
  expireQuiescentTemplate: number;
  /** conntrack (default 0): connections keep netfilter conntrack entries (IP_VS_CONN_F_NFCT). */
  conntrack: number;
  /** sloppy_tcp (default 0): any TCP packet, not only a SYN, may create a connection. */
  sloppyTcp: number;
  /** sloppy_sctp (default 0): any SCTP packet but an ABORT, not only an INIT, may create a connection. */
  sloppySctp: number;
}

export const DEFAULT_SYSCTL: Readonly<IpvsSysctl> = {
  connReuseMode: 1,
  expireNodestConn: 0,
  expireQuiescentTemplate: 0,
  conntrack: 0,
  sloppyTcp: 0,
  sloppySctp: 0,
};

/**
 * Which ip_vs_in port-reuse logic to follow:
 * - "modern" (Linux >= 5.16, commit "ipvs: Fix reuse connection if RS weight is 0"): a SYN
 *   on an existing tuple whose server has weight 0 is rescheduled whenever
 *   expire_nodest_conn is set, even with conn_reuse_mode=0; the SYN is dropped only when
 *   its conntrack entry is an old confirmed one (ip_vs_conn_uses_old_conntrack, 5.9+).
 *   Deleting a server with expire_nodest_conn=1 also flushes its connections at once
 *   (ip_vs_expire_nodest_conn_flush, 5.9+).
 * - "legacy" (Linux < 5.9, e.g. 4.19): the whole check needs conn_reuse_mode != 0, and a
 *   rescheduled SYN is dropped whenever the connection uses conntrack (sysctl conntrack=1)
 *   — the client retransmits after 1 s: kubernetes #81775.
 */
export type ReuseBehaviour = "modern" | "legacy";
