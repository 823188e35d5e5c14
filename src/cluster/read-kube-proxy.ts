/**
 * The Cluster document's `kubeProxy:` block: kube-proxy's configuration file
 * (KubeProxyConfiguration, kubeproxy.config.k8s.io/v1alpha1) under the names it uses there —
 * what every node's kube-proxy runs with. Fields podwire does not emulate are refused, not
 * ignored.
 */
import { parseCidrText } from "./ipam.js";
import { readEnum } from "./read-objects.js";
import type { KubeProxyConfig } from "./spec.js";
import type { Field } from "./yaml-field.js";

const TOP_FIELDS = ["clusterCIDR", "detectLocalMode", "masqueradeAll", "nodePortAddresses", "iptables", "nftables", "conntrack"] as const;
const IPTABLES_FIELDS = ["masqueradeAll", "masqueradeBit", "localhostNodePorts"] as const;
const NFTABLES_FIELDS = ["masqueradeAll", "masqueradeBit"] as const;
const CONNTRACK_FIELDS = ["tcpBeLiberal", "maxPerCore", "min"] as const;
/** The detectors podwire's kube-proxy can build (BridgeInterface and InterfaceNamePrefix are not emulated). */
const DETECT_LOCAL_MODES = ["ClusterCIDR", "NodeCIDR"] as const;

function onlyKnown(block: Field, known: readonly string[]): void {
  for (const [key, value] of block.entries()) {
    if (!known.includes(key)) {
      value.fail("E_UNKNOWN_FIELD", `unknown kube-proxy setting ${value.path}`, `podwire reads: ${known.join(", ")}`);
    }
  }
}

function masqueradeBit(field: Field): number | undefined {
  const bit = field.optInt();
  if (bit !== undefined && (bit < 0 || bit > 31)) field.fail("E_RANGE", `${field.path} ${bit} is out of range`, "use a bit from 0 to 31 (kube-proxy's default is 14)");
  return bit;
}

export function readKubeProxy(block: Field): KubeProxyConfig {
  const config: KubeProxyConfig = {};
  if (block.absent) return config;
  onlyKnown(block, TOP_FIELDS);
  const cidr = block.child("clusterCIDR");
  if (!cidr.absent) {
    const text = cidr.requiredString();
    if (!parseCidrText(text).ok) cidr.fail("E_CIDR_SYNTAX", `${cidr.path} is not an IPv4 CIDR: ${JSON.stringify(text)}`, "write it as address/prefix, e.g. 10.244.0.0/16");
    config.clusterCIDR = text;
  }
  const mode = readEnum(block.child("detectLocalMode"), DETECT_LOCAL_MODES);
  if (mode !== undefined) config.detectLocalMode = mode;
  const addresses = block.child("nodePortAddresses");
  if (!addresses.absent) {
    config.nodePortAddresses = addresses.items().map((f) => {
      const text = f.requiredString();
      if (text !== "primary" && !parseCidrText(text).ok) f.fail("E_CIDR_SYNTAX", `${f.path} is neither a CIDR nor "primary": ${JSON.stringify(text)}`, "list CIDRs such as 192.168.56.0/24, or primary");
      return text;
    });
  }
  const iptables = block.child("iptables");
  onlyKnown(iptables, IPTABLES_FIELDS);
  const nftables = block.child("nftables");
  onlyKnown(nftables, NFTABLES_FIELDS);
  const conntrack = block.child("conntrack");
  onlyKnown(conntrack, CONNTRACK_FIELDS);
  // masqueradeAll: the mode's own setting wins over the top-level one.
  const all = block.child("masqueradeAll").optBool();
  const iptAll = iptables.child("masqueradeAll").optBool() ?? all;
  const nftAll = nftables.child("masqueradeAll").optBool() ?? all;
  if (iptAll !== undefined) config.masqueradeAll = iptAll;
  if (nftAll !== undefined) config.nftablesMasqueradeAll = nftAll;
  const iptBit = masqueradeBit(iptables.child("masqueradeBit"));
  if (iptBit !== undefined) config.masqueradeBit = iptBit;
  const nftBit = masqueradeBit(nftables.child("masqueradeBit"));
  if (nftBit !== undefined) config.nftablesMasqueradeBit = nftBit;
  const localhost = iptables.child("localhostNodePorts").optBool();
  if (localhost !== undefined) config.localhostNodePorts = localhost;
  const liberal = conntrack.child("tcpBeLiberal").optBool();
  if (liberal !== undefined) config.conntrackTCPLiberal = liberal;
  for (const [key, name] of [["maxPerCore", "conntrackMaxPerCore"], ["min", "conntrackMin"]] as const) {
    const f = conntrack.child(key);
    const n = f.optInt();
    if (n !== undefined && n < 0) f.fail("E_RANGE", `${f.path} ${n} is negative`, "use 0 to leave nf_conntrack_max alone, or a count of entries");
    if (n !== undefined) config[name] = n;
  }
  return config;
}
