/**
 * kube-proxy's chain names (pkg/proxy/iptables/proxier.go: portProtoHash,
 * servicePortEndpointChainName): the first 16 characters of the RFC 4648 base32 encoding
 * (standard alphabet) of sha256(servicePortName + protocol [+ "ip:port"]). iptables limits
 * chain names to 28 characters; a prefix plus 16 fits.
 */
import { createHash } from "node:crypto";

const BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 §6 base32 with `=` padding. */
export function base32(bytes: Uint8Array): string {
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET[(acc << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += "=";
  return out;
}

export function chainHash(text: string): string {
  // kube-proxy computes these once per service port and endpoint, not once per sync: cache.
  let h = hashCache.get(text);
  if (h === undefined) {
    h = base32(createHash("sha256").update(text, "utf8").digest()).slice(0, 16);
    if (hashCache.size >= HASH_CACHE_LIMIT) hashCache.clear();
    hashCache.set(text, h);
  }
  return h;
}

const hashCache = new Map<string, string>();
/** Enough for every chain of a 100,000-endpoint cluster; beyond that, start over. */
const HASH_CACHE_LIMIT = 1 << 20;

export const SERVICE_CHAIN_PREFIXES = ["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"] as const;

export interface ServicePortChains {
  /** KUBE-SVC-: endpoints for Cluster policy. */
  cluster: string;
  /** KUBE-SVL-: endpoints for Local policy. */
  local: string;
  /** KUBE-EXT-: entry for NodePort, external IP and load balancer traffic. */
  external: string;
  /** KUBE-FW-: loadBalancerSourceRanges. */
  firewall: string;
}

/** `spn` is `ns/name` or `ns/name:port`; `protocol` is lowercase. */
export function servicePortChains(spn: string, protocol: string): ServicePortChains {
  const h = chainHash(spn + protocol);
  return { cluster: `KUBE-SVC-${h}`, local: `KUBE-SVL-${h}`, external: `KUBE-EXT-${h}`, firewall: `KUBE-FW-${h}` };
}

/** `endpoint` is `ip:port` (`[ip]:port` for IPv6). */
export function endpointChain(spn: string, protocol: string, endpoint: string): string {
  return `KUBE-SEP-${chainHash(spn + protocol + endpoint)}`;
}

export function isServiceChainName(name: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => name.startsWith(p));
}
