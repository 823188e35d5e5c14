import type { IpsetTypeName } from "../model.js";
import { BITMAP_PORT } from "./bitmap-port.js";
import { HASH_IP } from "./hash-ip.js";
import { HASH_IP_PORT } from "./hash-ip-port.js";
import { HASH_IP_PORT_IP } from "./hash-ip-port-ip.js";
import { HASH_IP_PORT_NET } from "./hash-ip-port-net.js";
import { HASH_NET } from "./hash-net.js";
import type { IpsetTypeSpec } from "./spec.js";

export type { IpsetTypeSpec } from "./spec.js";

const SPECS: ReadonlyMap<string, IpsetTypeSpec> = new Map(
  [HASH_IP, HASH_IP_PORT, HASH_IP_PORT_IP, HASH_IP_PORT_NET, HASH_NET, BITMAP_PORT].map((s) => [s.name, s]),
);

/** The spec of a type name, or undefined when podwire does not emulate it. */
export function typeSpec(name: string): IpsetTypeSpec | undefined {
  return SPECS.get(name as IpsetTypeName);
}
