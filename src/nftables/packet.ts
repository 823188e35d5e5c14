/**
 * What nft expressions see of one IPv4 packet at one hook, and what they may need from the
 * namespace. One `NftPacket` is reused for every packet (the netfilter glue fills it from
 * the packet context it already parsed), so evaluation allocates nothing.
 */
import type { Clock, Rng } from "../base/index.js";

/** nft's ct state bits (nf_conntrack_common.h NF_CT_STATE_*: invalid 1, established 2, related 4, new 8, untracked 64). */
export const NFT_CT_INVALID = 1;
export const NFT_CT_ESTABLISHED = 2;
export const NFT_CT_RELATED = 4;
export const NFT_CT_NEW = 8;
export const NFT_CT_UNTRACKED = 64;

export class NftPacket {
  buf: Uint8Array = new Uint8Array(0);
  ipOff = 0;
  /** Offset of the transport header; -1 for non-first fragments (nft_payload then fails: NFT_BREAK). */
  thOff = -1;
  /** Bytes of the IPv4 datagram. */
  len = 0;
  src = 0;
  dst = 0;
  proto = 0;
  iifname = "";
  oifname = "";
  mark = 0;
  /** NFT_CT_* bits; 0 when nothing is known (treated as invalid by the glue). */
  ctState = NFT_CT_INVALID;
  /** IPS_* status bits of the connection (0 without one). */
  ctStatus = 0;
  hasCt = false;
  ctMark = 0;
  ctOrigSrc = 0;
  ctOrigDst = 0;
  ctReplySrc = 0;
  ctReplyDst = 0;
}

export interface NftEnv {
  /** The RTN_* route type of an address in this namespace (`fib … type`): local 2, unicast 1, broadcast 3, multicast 5. */
  rtnType(ip: number): number;
  /** The namespace's seeded RNG (`numgen random`). */
  readonly rng: Rng;
  /** Virtual time, ns (dynamic set timeouts). */
  readonly clock: Clock;
  /**
   * Draws `numgen random mod N`'s value in [0, N) instead of the RNG (trace-rules uses it
   * to walk every value); absent, the value comes from `rng` as the kernel's does.
   */
  numgen?: (mod: number) => number;
}
