/**
 * How a set keeps its members for lookup. Every set type has a store; the packet-path
 * `find` allocates nothing and skips members whose timeout has passed.
 */
import type { IpsetElement, IpsetMember } from "./model.js";

export interface MemberStore {
  /** The member stored for exactly this element, expired or not. */
  get(e: IpsetElement): IpsetMember | undefined;
  put(m: IpsetMember): void;
  remove(e: IpsetElement): void;
  clear(): void;
  /**
   * The live member deciding a packet's match (it may be a `nomatch` one), or undefined.
   * Arguments are the values for each dimension in order, then the IP protocol number.
   */
  find(a: number, b: number, c: number, proto: number, now: number): IpsetMember | undefined;
  /** The live member deciding `ipset test` of one element. */
  findElement(e: IpsetElement, now: number): IpsetMember | undefined;
}
