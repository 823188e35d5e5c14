/**
 * IPv4 addresses as unsigned 32-bit numbers (`>>> 0`), the hot-path representation.
 * Masked compares are written `((ip & mask) >>> 0) === net`. Parsing user input with full
 * validation (CIDR overlap, ranges) is done with ip-num/netmask in the cluster layer; these
 * helpers only convert trusted or pre-validated text.
 */

/** Parses dotted-quad text; returns -1 when it is not a valid IPv4 address. */
export function parseIpv4(text: string): number {
  // Four parts, each "0" or 1-3 digits without a leading zero, at most 255 (a scan: restore
  // files hold millions of addresses).
  let ip = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || part > 255 || ++parts > 4) return -1;
      ip = ip * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // a leading zero
      if (++digits > 3) return -1;
      part = part * 10 + (c - 48);
    } else return -1;
  }
  return parts === 4 ? ip : -1;
}

/**
 * Like `parseIpv4`, but with leading zeros read as decimal, as k8s.io/utils/net's
 * ParseIPSloppy does (what the API server may have stored before Go 1.17 made them an
 * error; kube-proxy accepts them and writes the address normalised).
 */
export function parseIpv4Sloppy(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4) return -1;
  let ip = 0;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p)) return -1;
    const v = Number(p);
    if (v > 255) return -1;
    ip = ip * 256 + v;
  }
  return ip;
}

/** Parses dotted-quad text, throwing a plain Error for invalid text (for trusted constants). */
export function ipv4(text: string): number {
  const ip = parseIpv4(text);
  if (ip < 0) throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
  return ip;
}

export function formatIpv4(ip: number): string {
  return `${(ip >>> 24) & 255}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

/** The netmask for a prefix length 0..32, as an unsigned number. */
export function prefixMask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

export interface Ipv4Cidr {
  /** Network address (host bits zero). */
  readonly net: number;
  readonly prefixLen: number;
  readonly mask: number;
}

/**
 * Parses `a.b.c.d/n`; returns null when malformed or when host bits are set and `strict`.
 * `sloppy`: leading zeros allowed in the address and the length (ParseCIDRSloppy).
 */
export function parseCidr(text: string, strict = true, sloppy = false): Ipv4Cidr | null {
  const slash = text.indexOf("/");
  if (slash < 0) return null;
  const ip = sloppy ? parseIpv4Sloppy(text.slice(0, slash)) : parseIpv4(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (ip < 0 || !(sloppy ? /^[0-9]{1,3}$/ : /^(0|[1-9][0-9]?)$/).test(lenText)) return null;
  const prefixLen = Number(lenText);
  if (prefixLen > 32) return null;
  const mask = prefixMask(prefixLen);
  const net = (ip & mask) >>> 0;
  if (strict && net !== ip) return null;
  return { net, prefixLen, mask };
}

export function cidrContains(cidr: Ipv4Cidr, ip: number): boolean {
  return ((ip & cidr.mask) >>> 0) === cidr.net;
}

export function formatCidr(cidr: Ipv4Cidr): string {
  return `${formatIpv4(cidr.net)}/${cidr.prefixLen}`;
}

/** MAC addresses are 48-bit unsigned numbers (exact in a double). */
export function formatMac(mac: number): string {
  let s = "";
  for (let shift = 40; shift >= 0; shift -= 8) {
    const byte = Math.floor(mac / 2 ** shift) % 256;
    s += (shift === 40 ? "" : ":") + byte.toString(16).padStart(2, "0");
  }
  return s;
}

/** Parses `aa:bb:cc:dd:ee:ff`; returns -1 when malformed. */
export function parseMac(text: string): number {
  const parts = text.split(":");
  if (parts.length !== 6) return -1;
  let mac = 0;
  for (const p of parts) {
    if (!/^[0-9a-fA-F]{2}$/.test(p)) return -1;
    mac = mac * 256 + parseInt(p, 16);
  }
  return mac;
}

export const BROADCAST_MAC = 0xffffffffffff;

/** True for group (multicast/broadcast) MACs: the I/G bit of the first octet. */
export function isMulticastMac(mac: number): boolean {
  return Math.floor(mac / 2 ** 40) % 2 === 1;
}
