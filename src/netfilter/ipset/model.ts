/**
 * The ipset data model: set type names, dimension kinds, one concrete element, a stored
 * member (an element plus its extensions) and a set's header. Types only.
 */

export type IpsetTypeName = "hash:ip" | "hash:ip,port" | "hash:ip,port,ip" | "hash:ip,port,net" | "hash:net" | "bitmap:port";

export const IPSET_TYPE_NAMES: readonly IpsetTypeName[] = [
  "hash:ip",
  "hash:ip,port",
  "hash:ip,port,ip",
  "hash:ip,port,net",
  "hash:net",
  "bitmap:port",
];

/** What the iptables `set` match must pass for one dimension: an address or a port. */
export type DimKind = "ip" | "port" | "net";

/**
 * One concrete element (ranges already expanded). Fields a type does not use are 0; `cidr`
 * is the prefix length of the net dimension (32 for types without one).
 */
export interface IpsetElement {
  ip: number;
  proto: number;
  port: number;
  /** Second address: the third dimension of hash:ip,port,ip / hash:ip,port,net. */
  ip2: number;
  cidr: number;
}

export function element(fields: Partial<IpsetElement>): IpsetElement {
  return { ip: 0, proto: 0, port: 0, ip2: 0, cidr: 32, ...fields };
}

/** A stored element with its extensions. */
export interface IpsetMember extends IpsetElement {
  /** How `ipset save` prints the element; also the member's identity within its set. */
  readonly key: string;
  /** Virtual ns after which the member is gone; Infinity when it never expires. */
  expiresAt: number;
  nomatch: boolean;
  packets: number;
  bytes: number;
  comment: string | undefined;
}

/** Create-time options as written; every field optional. */
export interface IpsetCreateOptions {
  family?: string;
  hashsize?: number;
  maxelem?: number;
  bucketsize?: number;
  initval?: number;
  /** Default timeout in seconds; present (even 0) means the set supports timeouts. */
  timeout?: number;
  counters?: boolean;
  comment?: boolean;
  /** bitmap:port only, and mandatory there. */
  range?: { min: number; max: number };
}

/** Per-entry options of `add`. */
export interface IpsetEntryOptions {
  timeout?: number;
  nomatch?: boolean;
  packets?: number;
  bytes?: number;
  comment?: string;
}

/** A set's normalised header, as `ipset save` prints it. */
export interface IpsetHeader {
  hashsize: number;
  maxelem: number;
  bucketsize: number;
  /** The jhash seed; the kernel draws one at random, podwire keeps only one it was given. */
  initval: number | undefined;
  timeout: number | undefined;
  counters: boolean;
  comment: boolean;
  rangeMin: number;
  rangeMax: number;
}
