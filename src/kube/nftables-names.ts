/**
 * kube-proxy's nftables-mode object names (pkg/proxy/nftables/proxier.go hashAndTruncate,
 * servicePortChainNameBase, servicePortEndpointChainNameBase): the base is
 * `ns/name/proto/portName` (an unnamed port leaves the last component empty), or
 * `ns/name/proto/portName__IP/port` for an endpoint (IPv6 colons become dots), prefixed with
 * the first 8 characters of base32(sha256(base)) and a hyphen, and cut to
 * chainNameBaseLengthMax characters (the last three replaced by "...").
 *
 * chainNameBaseLengthMax is knftables.NameLengthMax (256) minus the longest prefix length
 * (16): 240, as the upstream comments in the followed version state.
 */
import { createHash } from "node:crypto";
import { base32 } from "./chain-names.js";
import type { ServicePortInfo } from "./service-ports.js";

export const NFT_NAME_LENGTH_MAX = 256;
export const NFT_CHAIN_NAME_PREFIX_LENGTH_MAX = 16;
export const NFT_CHAIN_NAME_BASE_LENGTH_MAX = NFT_NAME_LENGTH_MAX - NFT_CHAIN_NAME_PREFIX_LENGTH_MAX;

export const NFT_SERVICE_CHAIN_PREFIX = "service-";
export const NFT_LOCAL_CHAIN_PREFIX = "local-";
export const NFT_EXTERNAL_CHAIN_PREFIX = "external-";
export const NFT_ENDPOINT_CHAIN_PREFIX = "endpoint-";
export const NFT_AFFINITY_SET_PREFIX = "affinity-";
export const NFT_FIREWALL_CHAIN_PREFIX = "firewall-";

const cache = new Map<string, string>();

/** `HASH8-name`, truncated to 240 characters with "...". */
export function hashAndTruncate(name: string): string {
  let out = cache.get(name);
  if (out === undefined) {
    out = hashed(name);
    if (cache.size >= 1 << 20) cache.clear();
    cache.set(name, out);
  }
  return out;
}

/** `hashAndTruncate` without its cache (for names the port and endpoint caches below keep), with `prefix` before it. */
function hashed(name: string, prefix = ""): string {
  let out = `${base32(createHash("sha256").update(name, "utf8").digest()).slice(0, 8)}-${name}`;
  if (out.length > NFT_CHAIN_NAME_BASE_LENGTH_MAX) out = out.slice(0, NFT_CHAIN_NAME_BASE_LENGTH_MAX - 3) + "...";
  return flat(prefix, out);
}

/**
 * `a + b` as one flat string. A concatenation is a tree of its parts until first read whole;
 * names kept for a long time (map keys, millions of them in a large cluster) are built flat
 * once, rather than as trees that each keep their parts and a flattened copy.
 */
function flat(a: string, b: string): string {
  return [a, b].join("");
}

/** The Service port name of a `ServicePortInfo` ("" for an unnamed port). */
export function portNameOf(p: Pick<ServicePortInfo, "spn" | "serviceKey">): string {
  return p.spn.length > p.serviceKey.length ? p.spn.slice(p.serviceKey.length + 1) : "";
}

/** `HASH-ns/name/proto/portName`; `serviceKey` is `ns/name`, `proto` lowercase. */
export function servicePortChainNameBase(serviceKey: string, proto: string, portName: string): string {
  return hashAndTruncate(`${serviceKey}/${proto}/${portName}`);
}

/** `HASH-ns/name/proto/portName__IP/port`. */
export function servicePortEndpointChainNameBase(serviceKey: string, proto: string, portName: string, ip: string, port: number): string {
  return hashAndTruncate(`${serviceKey}/${proto}/${portName}__${ip.replaceAll(":", ".")}/${port}`);
}

export interface NftServicePortChains {
  /** `service-…`: endpoints for Cluster policy. */
  cluster: string;
  /** `local-…`: endpoints for Local policy. */
  local: string;
  /** `external-…`: NodePort, external IP and load balancer traffic. */
  external: string;
  /** `firewall-…`: loadBalancerSourceRanges. */
  firewall: string;
}

export function nftServicePortChains(p: Pick<ServicePortInfo, "spn" | "serviceKey" | "proto">): NftServicePortChains {
  return nftPortNames(p).chains;
}

export interface NftEndpointNames {
  readonly chain: string;
  readonly affinitySet: string;
}

export function nftEndpointNames(p: Pick<ServicePortInfo, "spn" | "serviceKey" | "proto">, ip: string, port: number): NftEndpointNames {
  const n = nftEndpointNamesOf(nftPortNames(p), ip, port);
  return { chain: n.chain, affinitySet: n.affinitySet };
}

/** One endpoint's names as kept: its chain; its affinity set (`affinity-` and the same hashed base) made when asked for (only Services with ClientIP affinity have one). */
class EndpointNames implements NftEndpointNames {
  constructor(readonly chain: string) {}

  get affinitySet(): string {
    return flat(NFT_AFFINITY_SET_PREFIX, this.chain.slice(NFT_ENDPOINT_CHAIN_PREFIX.length));
  }
}

/**
 * The names of one Service port and of its endpoints, worked out once (as kube-proxy's
 * servicePortInfo and endpointInfo precompute them) and kept across syncs: a sync looks
 * them up by the port and by `ip`/`port`, without hashing or building the hash input again.
 */
export interface NftPortNames {
  /** `ns/name/proto/portName`, the hash input of the port's chains. */
  readonly base: string;
  readonly chains: NftServicePortChains;
  /** Endpoint names by `ip/port`. */
  readonly endpoints: Map<string, EndpointNames>;
}

const portNames = new Map<string, NftPortNames>();
let endpointNameCount = 0;
/** Names kept before starting over (enough for a 1,000,000-endpoint cluster). */
const PORT_NAMES_LIMIT = 1 << 20;

export function nftPortNames(p: Pick<ServicePortInfo, "spn" | "serviceKey" | "proto">): NftPortNames {
  const key = p.spn + "/" + p.proto;
  let names = portNames.get(key);
  if (names === undefined) {
    const base = flat(`${p.serviceKey}/${p.proto}/`, portNameOf(p));
    const h = hashed(base);
    names = {
      base,
      chains: {
        cluster: flat(NFT_SERVICE_CHAIN_PREFIX, h),
        local: flat(NFT_LOCAL_CHAIN_PREFIX, h),
        external: flat(NFT_EXTERNAL_CHAIN_PREFIX, h),
        firewall: flat(NFT_FIREWALL_CHAIN_PREFIX, h),
      },
      endpoints: new Map(),
    };
    if (portNames.size >= PORT_NAMES_LIMIT || endpointNameCount >= PORT_NAMES_LIMIT) {
      portNames.clear();
      endpointNameCount = 0;
    }
    portNames.set(key, names);
  }
  return names;
}

export function nftEndpointNamesOf(names: NftPortNames, ip: string, port: number): NftEndpointNames {
  const key = ip + "/" + port;
  let n = names.endpoints.get(key);
  if (n === undefined) {
    n = new EndpointNames(hashed(`${names.base}__${ip.replaceAll(":", ".")}/${port}`, NFT_ENDPOINT_CHAIN_PREFIX));
    names.endpoints.set(flat(key, ""), n);
    endpointNameCount++;
  }
  return n;
}

/** Service and endpoint chains always contain a "/"; kube-proxy's fixed chains never do. */
export function isNftServiceChainName(name: string): boolean {
  return name.includes("/");
}

export function isNftAffinitySetName(name: string): boolean {
  return name.startsWith(NFT_AFFINITY_SET_PREFIX);
}
