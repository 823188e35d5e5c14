/**
 * What each set type provides: its dimensions, how entry text expands into elements, how an
 * element prints in `ipset save`, and its store.
 */
import type { MemberStore } from "../member-store.js";
import type { DimKind, IpsetElement, IpsetHeader, IpsetTypeName } from "../model.js";

export interface IpsetTypeSpec {
  readonly name: IpsetTypeName;
  readonly kind: "hash" | "bitmap";
  readonly dims: readonly DimKind[];
  /** Types with a net dimension accept `nomatch` entries. */
  readonly hasNet: boolean;
  newStore(header: IpsetHeader): MemberStore;
  /**
   * The elements an entry stands for (ranges and CIDRs of ip dimensions expanded). With
   * `single`, anything that is not exactly one element is refused (for `test`).
   */
  parse(text: string, header: IpsetHeader, single: boolean): IpsetElement[];
  format(e: IpsetElement): string;
}
