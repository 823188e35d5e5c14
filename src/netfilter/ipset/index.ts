/** ipset emulation: set types, the per-namespace registry, and the restore/save formats. */
export type {
  DimKind,
  IpsetCreateOptions,
  IpsetElement,
  IpsetEntryOptions,
  IpsetHeader,
  IpsetMember,
  IpsetTypeName,
} from "./model.js";
export { IPSET_TYPE_NAMES } from "./model.js";
export type { IpsetErrorCode } from "./errors.js";
export { Ipset } from "./ipset.js";
export { IpsetRegistry, MAX_SET_NAME } from "./registry.js";
export type { IpsetCommand, IpsetRestoreDoc } from "./restore-doc.js";
export { parseIpsetRestore } from "./restore-parse.js";
export { applyIpsetRestore, type ApplyIpsetOptions } from "./restore-apply.js";
export { saveIpset, saveIpsets } from "./save.js";
export { typeSpec, type IpsetTypeSpec } from "./types/index.js";
