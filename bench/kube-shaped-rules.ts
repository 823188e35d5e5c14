/**
 * Synthetic kube-proxy-shaped iptables-restore text: N ClusterIP Services with E endpoints
 * each, laid out as kube-proxy's iptables mode writes them (KUBE-SERVICES → KUBE-SVC-… →
 * statistic splits → KUBE-SEP-… → DNAT, masquerade via KUBE-MARK-MASQ/KUBE-POSTROUTING).
 * Chain names are stand-ins for kube-proxy's hashes; the Services work generates the real
 * ones. Used by the netfilter benchmark and by tests that need large rulesets.
 */
import { formatIpv4 } from "../src/base/index.js";

export interface KubeShapedOptions {
  services: number;
  endpoints: number;
  /** Service network base (default 10.96.0.0) and Pod network base (default 10.244.0.0). */
  serviceBase?: number;
  podBase?: number;
  clusterCIDR?: string;
}

export interface KubeShapedRules {
  text: string;
  /** (VIP, port) of every Service, for generating traffic. */
  services: { vip: number; port: number; endpoints: number[] }[];
  ruleCount: number;
}

function chainSuffix(kind: string, i: number, j = -1): string {
  // 16 base32-looking characters derived from the indices, stable across runs.
  let h = 0x811c9dc5 ^ i;
  h = Math.imul(h ^ (j + 7), 0x01000193);
  h = Math.imul(h ^ kind.charCodeAt(0), 0x01000193);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let s = "";
  let x = h >>> 0;
  let y = (Math.imul(h, 0x9e3779b1) ^ i) >>> 0;
  for (let k = 0; k < 16; k++) {
    const src = k < 8 ? x : y;
    s += alphabet[(src >>> ((k % 6) * 5)) & 31];
    if (k === 7) x = y;
    y = Math.imul(y ^ (k + i), 0x01000193) >>> 0;
  }
  return s;
}

export function kubeShapedRules(opts: KubeShapedOptions): KubeShapedRules {
  const svcBase = opts.serviceBase ?? 0x0a600000;
  const podBase = opts.podBase ?? 0x0af40000;
  const clusterCIDR = opts.clusterCIDR ?? "10.244.0.0/16";
  const chains: string[] = [":KUBE-SERVICES - [0:0]", ":KUBE-NODEPORTS - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]"];
  const rules: string[] = [
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
    "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
    "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
  ];
  const services: KubeShapedRules["services"] = [];
  const svcRules: string[] = [];
  let ep = 2;
  for (let i = 0; i < opts.services; i++) {
    const vip = (svcBase + 1 + i) >>> 0;
    const port = 80;
    const name = `ns${i % 50}/svc-${i}:http`;
    const svc = `KUBE-SVC-${chainSuffix("S", i)}`;
    chains.push(`:${svc} - [0:0]`);
    svcRules.push(`-A KUBE-SERVICES -m comment --comment "${name} cluster IP" -m tcp -p tcp -d ${formatIpv4(vip)} --dport ${port} -j ${svc}`);
    rules.push(`-A ${svc} -m comment --comment "${name} cluster IP" -m tcp -p tcp -d ${formatIpv4(vip)} --dport ${port} ! -s ${clusterCIDR} -j KUBE-MARK-MASQ`);
    const eps: number[] = [];
    for (let j = 0; j < opts.endpoints; j++) {
      // Pod addresses: skip .0/.1/.255 of each /24 as host-local IPAM would.
      while ((ep & 255) === 0 || (ep & 255) === 1 || (ep & 255) === 255) ep++;
      const epIp = (podBase + ep++) >>> 0;
      eps.push(epIp);
      const sep = `KUBE-SEP-${chainSuffix("E", i, j)}`;
      chains.push(`:${sep} - [0:0]`);
      const left = opts.endpoints - j;
      const stat = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : "";
      rules.push(`-A ${svc} -m comment --comment "${name} -> ${formatIpv4(epIp)}:8080"${stat} -j ${sep}`);
      rules.push(`-A ${sep} -m comment --comment ${name} -s ${formatIpv4(epIp)} -j KUBE-MARK-MASQ`);
      rules.push(`-A ${sep} -m comment --comment ${name} -m tcp -p tcp -j DNAT --to-destination ${formatIpv4(epIp)}:8080`);
    }
    services.push({ vip, port, endpoints: eps });
  }
  svcRules.push('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
  const text = [
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    ":INPUT ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":POSTROUTING ACCEPT [0:0]",
    ...chains,
    ...rules.slice(0, 3),
    ...svcRules,
    ...rules.slice(3),
    "COMMIT",
    "",
  ].join("\n");
  return { text, services, ruleCount: rules.length + svcRules.length };
}
