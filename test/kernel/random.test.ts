/**
 * Randomly generated kube-proxy-shaped rulesets (fast-check, fixed seed), each loaded into
 * the real router namespace and into podwire's, with many new flows per Service sent at
 * once through both. ClusterIP and NodePort Services with 0–5 endpoints among S's
 * addresses, random statistic splits as kube-proxy writes them, masquerade or not,
 * `--random-fully` or not, a FORWARD policy of ACCEPT or DROP with kube-proxy's
 * KUBE-FORWARD chain, REJECT for Services without endpoints.
 *
 * Endpoint choice is random on both sides (different generators), so per Service the *sets*
 * of outcomes must agree (endpoint, peer address, ICMP type/code, reset, timeout), each
 * endpoint's share must pass a loose binomial bound, and the conntrack tables must agree
 * once endpoint addresses (and --random-fully ports) are replaced by tokens.
 */
import test from "ava";
import fc from "fast-check";
import { type Batch, ENDPOINTS, type Probe, restoreText, ROUTER_C, ROUTER_S, tcp, udp } from "./common.js";
import { assertSame, outcomeSummary } from "./differential.js";
import { KernelLab, kernelUnavailable } from "./kernel-lab.js";

const SEED = 0x6b65726e; // "kern"
const RULESETS = 8;

interface ServiceSpec {
  proto: "udp" | "tcp";
  port: number;
  endpoints: string[];
  targetPort: number;
  /** The Service's masquerade rule matches the client (clusterCIDR excludes 10.0.1.2). */
  masq: boolean;
  /** A NodePort on the router's addresses, or null. */
  nodePort: number | null;
}

interface RulesetSpec {
  services: ServiceSpec[];
  forwardPolicy: "ACCEPT" | "DROP";
  /** `-A FORWARD -s 10.0.1.0/24 -j ACCEPT` after KUBE-FORWARD (lets unmasqueraded flows through a DROP policy). */
  allowClient: boolean;
  randomFully: boolean;
}

const serviceArb: fc.Arbitrary<ServiceSpec> = fc.record({
  proto: fc.constantFrom("udp" as const, "tcp" as const),
  port: fc.constantFrom(53, 80, 443, 5000, 8443),
  endpoints: fc.subarray([...ENDPOINTS]),
  targetPort: fc.constantFrom(8080, 8081, 9090),
  masq: fc.boolean(),
  nodePort: fc.option(fc.integer({ min: 30000, max: 32767 }), { freq: 3 }),
});

const rulesetArb: fc.Arbitrary<RulesetSpec> = fc.record({
  services: fc.array(serviceArb, { minLength: 1, maxLength: 4 }),
  forwardPolicy: fc.constantFrom("ACCEPT" as const, "DROP" as const),
  allowClient: fc.boolean(),
  randomFully: fc.boolean(),
});

/** kube-proxy-like chain-name hash stand-in. */
function suffix(kind: string, i: number, j = 0): string {
  return `${kind}${i}X${j}`.padEnd(16, "Q").toUpperCase();
}

function vipOf(i: number): string {
  return `10.96.1.${10 + i}`;
}

/** The restore text kube-proxy's iptables mode would write for `spec` (names simplified). */
export function kubeRules(spec: RulesetSpec): string {
  const natChains = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"];
  const natRules = [
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
    "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
    "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
    `-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${spec.randomFully ? " --random-fully" : ""}`,
  ];
  const svcPortals: string[] = [];
  const filterRules: string[] = [];
  spec.services.forEach((s, i) => {
    const vip = vipOf(i);
    const name = `ns${i}/svc${i}:p`;
    const m = `-p ${s.proto} -m ${s.proto}`;
    if (s.endpoints.length === 0) {
      filterRules.push(`-A KUBE-SERVICES -d ${vip}/32 ${m} --dport ${s.port} -m comment --comment "${name} has no endpoints" -j REJECT`);
      if (s.nodePort !== null) {
        filterRules.push(`-A KUBE-EXTERNAL-SERVICES -m addrtype --dst-type LOCAL ${m} --dport ${s.nodePort} -m comment --comment "${name} has no endpoints" -j REJECT`);
      }
      return;
    }
    const svc = `KUBE-SVC-${suffix("S", i)}`;
    natChains.push(svc);
    svcPortals.push(`-A KUBE-SERVICES -d ${vip}/32 ${m} --dport ${s.port} -m comment --comment "${name} cluster IP" -j ${svc}`);
    const clusterCidr = s.masq ? "10.244.0.0/16" : "10.0.0.0/8";
    natRules.push(`-A ${svc} -d ${vip}/32 ${m} --dport ${s.port} ! -s ${clusterCidr} -m comment --comment "${name} cluster IP" -j KUBE-MARK-MASQ`);
    if (s.nodePort !== null) {
      const ext = `KUBE-EXT-${suffix("X", i)}`;
      natChains.push(ext);
      natRules.push(`-A KUBE-NODEPORTS ${m} --dport ${s.nodePort} -m comment --comment "${name}" -j ${ext}`);
      natRules.push(`-A ${ext} -m comment --comment "masquerade traffic for ${name} external destinations" -j KUBE-MARK-MASQ`);
      natRules.push(`-A ${ext} -j ${svc}`);
    }
    s.endpoints.forEach((ep, j) => {
      const sep = `KUBE-SEP-${suffix("E", i, j)}`;
      natChains.push(sep);
      const left = s.endpoints.length - j;
      const stat = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : "";
      natRules.push(`-A ${svc} -m comment --comment "${name} -> ${ep}:${s.targetPort}"${stat} -j ${sep}`);
      natRules.push(`-A ${sep} -s ${ep}/32 -m comment --comment "${name}" -j KUBE-MARK-MASQ`);
      natRules.push(`-A ${sep} ${m} -m comment --comment "${name}" -j DNAT --to-destination ${ep}:${s.targetPort}`);
    });
  });
  svcPortals.push('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
  return restoreText({
    nat: { chains: natChains, rules: [...natRules.slice(0, 3), ...svcPortals, ...natRules.slice(3)] },
    filter: {
      policies: { FORWARD: spec.forwardPolicy },
      chains: ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD"],
      rules: [
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-SERVICES',
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
        ...(spec.allowClient ? ["-A FORWARD -s 10.0.1.0/24 -j ACCEPT"] : []),
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        ...filterRules,
      ],
    },
  });
}

/** Flows per Service: many where a statistic split chooses, a few otherwise. */
function flowsFor(s: ServiceSpec): number {
  return s.endpoints.length > 1 ? 40 : 6;
}

function buildCase(spec: RulesetSpec, index: number) {
  const probes: Probe[] = [];
  const shares = new Map<string, Map<string, number>>();
  spec.services.forEach((s, i) => {
    const mk = s.proto === "udp" ? udp : tcp;
    const targets: [string, number][] = [[vipOf(i), s.port]];
    if (s.nodePort !== null) targets.push([ROUTER_C, s.nodePort]);
    for (const [dst, dport] of targets) {
      for (let k = 0; k < flowsFor(s); k++) probes.push(mk(dst, dport));
      if (s.endpoints.length > 1) shares.set(`${s.proto} ${dst}:${dport}`, new Map(s.endpoints.map((e) => [`${e}:${s.targetPort}`, 1 / s.endpoints.length])));
    }
  });
  // A VIP no rule knows (a new one per case, so no ARP failure of an earlier case is
  // still in flight): routed out of r1, ARP takes 3 s to fail, the probes time out.
  probes.push(udp(`10.96.200.${index + 1}`, 7), tcp(`10.96.200.${index + 1}`, 7));
  const batches: Batch[] = [{ parallel: true, probes }];
  return {
    rules: kubeRules(spec),
    batches,
    timeoutSec: 1,
    compare: "sets" as const,
    shares,
    conntrack: {
      addrTokens: new Map(ENDPOINTS.map((e) => [e, "EP"])),
      ...(spec.randomFully ? { anyReplyDportFor: ROUTER_S } : {}),
    },
  };
}

const specs = fc.sample(rulesetArb, { seed: SEED, numRuns: RULESETS });

let lab: KernelLab | null = null;
if (kernelUnavailable !== null) {
  console.log(`test/kernel/random.test.ts: skipping the real-kernel comparison: ${kernelUnavailable}`);
  for (let i = 0; i < specs.length; i++) test.skip(`random kube-proxy ruleset #${i}`, () => {});
} else {
  test.before(async () => {
    lab = new KernelLab();
    try {
      await lab.start();
    } catch (e) {
      lab.stop();
      throw e;
    }
  });
  test.after.always(() => {
    lab?.stop();
  });
  specs.forEach((spec, i) => {
    const summary = spec.services.map((s) => `${s.proto}/${s.port}×${s.endpoints.length}${s.masq ? "m" : ""}${s.nodePort !== null ? "+np" : ""}`).join(",");
    test.serial(`random kube-proxy ruleset #${i} (seed ${SEED}): ${summary}, FORWARD ${spec.forwardPolicy}${spec.allowClient ? "+client" : ""}${spec.randomFully ? ", random-fully" : ""}`, (t) => {
      const { kernel } = assertSame(t, lab!, buildCase(spec, i));
      t.log(`kernel outcomes: ${outcomeSummary(kernel.outcomes)}`);
    });
  });
}
