/**
 * kube-proxy's nftables mode against the real kernel (issue 10, item 6). Random sets of
 * Services (fast-check, fixed seed; the same generator as kube-proxy.test.ts): ClusterIP and
 * NodePort, TCP and UDP, 0–5 endpoints among S's addresses (some local to the node R, some
 * not), externalTrafficPolicy Local, ClientIP session affinity, Services without endpoints.
 * The client is inside --cluster-cidr in even cases and outside in odd ones; cases 2, 3, 6, 7
 * run with `--nodeport-addresses primary` (NodePorts on 10.0.1.1 only), the others with all
 * local addresses (`fib daddr type local`).
 *
 * Each set is compiled by podwire's proxier (`syncNftablesRules`, a first full sync) for R as
 * the node, loaded with the real `nft -f` into the real router namespace and with
 * `applyNftScript` into podwire's R. Checks:
 *
 * - the model: `nft list ruleset` of what the kernel loaded equals podwire's printer of what
 *   podwire loaded, byte for byte;
 * - per destination (every ClusterIP, both of R's addresses at every NodePort, a ClusterIP at
 *   a port it does not serve, an unallocated ServiceCIDR address), with the same real flows
 *   from C through both: the verdict kinds (answered with the address the server saw /
 *   refused with ICMP type/code from whom / reset / dropped) are equal; every endpoint either
 *   side reached is one the Services allow (and every outcome is what the Services say);
 *   where the kernel reached several endpoints podwire did too; with ClientIP affinity
 *   (flows one after another) each side reached exactly one;
 * - per flow, R's conntrack entry (`conntrack -L` vs podwire's table): present on both sides
 *   or on neither, and equal once the endpoint that answered (random) is written `EP` and the
 *   masqueraded reply port (fully-random) `*` — so the original destination, the reply source
 *   being the endpoint that answered, the reply destination (masqueraded to 10.0.2.1 or not),
 *   TCP state and flags all agree.
 *
 * The printer's round trip through the real `nft list ruleset` for the whole generated table
 * of these sets is test/nftables/kernel.test.ts's corpus entry
 * fixtures/good/kube-proxy-random-sets.nft; the first test here keeps that entry equal to what
 * the proxier generates now (PODWIRE_REGEN_NFT_CORPUS=1 rewrites it).
 */
import test from "ava";
import fc from "fast-check";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { printRuleset } from "../../src/nftables/index.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { type Batch, ENDPOINTS, type Outcome, outcomeKey, type Probe, ROUTER_C, ROUTER_S, SERVER_PORTS, tcp, udp } from "./common.js";
import { KernelLab } from "./kernel-lab.js";
import { caseYaml, instances, type KubeServiceInstance, type KubeServiceSpec, verdictKind } from "./kube-lab.js";
import {
  comparableCt,
  compileNftCase,
  compileNftYaml,
  conntrackByClientPort,
  explain,
  expectationFor,
  kernelFlushNft,
  kernelListRuleset,
  kernelLoadNft,
  type NftCompiledCase,
  type NftKubeCaseSpec,
  nftKubeUnavailable,
  nftProxierOptions,
  type TargetKind,
} from "./nft-kube-lab.js";
import { podwireRun } from "./podwire-lab.js";

// Chosen (the first from 0x6e667470, "nftp", up) so that the eight sets cover every feature
// the coverage test lists.
const SEED = 0x6e667473; // "nfts"
const CASES = 8;
const TIMEOUT_SEC = 1;

const serviceArb: fc.Arbitrary<KubeServiceSpec> = fc
  .record({
    type: fc.constantFrom("ClusterIP" as const, "NodePort" as const),
    proto: fc.constantFrom("TCP" as const, "UDP" as const),
    port: fc.constantFrom(53, 80, 443, 5000),
    targetPort: fc.constantFrom(...SERVER_PORTS),
    endpoints: fc.subarray([...ENDPOINTS]).chain((ips) => fc.tuple(...ips.map(() => fc.boolean())).map((locals) => ips.map((ip, i) => ({ ip, local: locals[i]! })))),
    externalLocal: fc.boolean(),
    affinity: fc.boolean().chain((b) => (b ? fc.boolean() : fc.constant(false))),
  })
  .map((s) => ({ ...s, externalLocal: s.type === "NodePort" && s.externalLocal }));

const specs: NftKubeCaseSpec[] = fc
  .sample(fc.array(serviceArb, { minLength: 1, maxLength: 5 }), { seed: SEED, numRuns: CASES })
  .map((services, i) => ({ services, clientInCluster: i % 2 === 0, nodePortPrimary: (i >> 1) % 2 === 1 }));

// ---------------------------------------------------------------- the printer corpus entry

const CORPUS = fileURLToPath(new URL("../nftables/fixtures/good/kube-proxy-random-sets.nft", import.meta.url));

/** Every random set's Services in one table (names, ClusterIPs and NodePorts are distinct per case). */
function corpusText(): string {
  const yaml = specs.map((s, i) => caseYaml(instances({ ...s, randomFully: true }, i))).join("---\n");
  const { text } = compileNftYaml(yaml, nftProxierOptions({ clientInCluster: true, nodePortPrimary: true }), "nft-corpus.yaml");
  return (
    `# kube-proxy nftables mode: the first full sync of every random Service set of\n` +
    `# test/kernel/nftables-proxy.test.ts (seed ${SEED}) in one table, for node 10.0.1.1 with\n` +
    `# --cluster-cidr 10.0.0.0/16, --nodeport-addresses primary, ServiceCIDR 10.96.0.0/12.\n` +
    `# Generated: PODWIRE_REGEN_NFT_CORPUS=1 npx ava test/kernel/nftables-proxy.test.ts\n` +
    text
  );
}

test("the printer corpus entry (fixtures/good/kube-proxy-random-sets.nft) is the table the proxier generates for these sets", (t) => {
  const want = corpusText();
  if (process.env.PODWIRE_REGEN_NFT_CORPUS === "1") writeFileSync(CORPUS, want);
  let have = "";
  try {
    have = readFileSync(CORPUS, "utf8");
  } catch {
    // missing: fails below
  }
  t.is(have, want, "regenerate with PODWIRE_REGEN_NFT_CORPUS=1");
});

// ---------------------------------------------------------------- targets and probes

interface Target {
  svc: KubeServiceInstance | null;
  kind: TargetKind;
  dst: string;
  dport: number;
  /**
   * Flows one after another (ClientIP affinity: `update @affinity-…` must happen before the
   * next). Only where the Services say an endpoint answers: refused and dropped flows of an
   * affinity Service go with the parallel batch (the kernel answers a SYN to a closed port of R
   * only after a retransmission, a second each).
   */
  sequential: boolean;
  probes: Probe[];
}

function targetsFor(spec: NftKubeCaseSpec, caseIndex: number): Target[] {
  const answered = (s: KubeServiceInstance, kind: TargetKind, dst: string) => expectationFor(spec, s, kind, dst).kind === "reply";
  const svcs = instances({ ...spec, randomFully: true }, caseIndex);
  const out: Target[] = [];
  for (const s of svcs) {
    const mk = s.proto === "UDP" ? udp : tcp;
    const dests: [TargetKind, string, number][] = [["cluster-ip", s.clusterIP, s.port]];
    if (s.nodePort !== null) dests.push(["node-port", ROUTER_C, s.nodePort], ["node-port", ROUTER_S, s.nodePort]);
    for (const [kind, dst, dport] of dests) {
      const n = s.affinity ? 4 : s.endpoints.length > 1 ? 10 : 3;
      out.push({ svc: s, kind, dst, dport, sequential: s.affinity && answered(s, kind, dst), probes: Array.from({ length: n }, () => mk(dst, dport)) });
    }
  }
  const first = svcs[0]!;
  const wrong = first.port + 1;
  out.push({ svc: first, kind: "cluster-ip-wrong-port", dst: first.clusterIP, dport: wrong, sequential: false, probes: [(first.proto === "UDP" ? udp : tcp)(first.clusterIP, wrong)] });
  const unallocated = `10.96.${caseIndex + 1}.200`;
  out.push({ svc: null, kind: "unallocated", dst: unallocated, dport: 80, sequential: false, probes: [tcp(unallocated, 80), udp(unallocated, 80)] });
  return out;
}

function batchesFor(targets: Target[]): Batch[] {
  return [
    { parallel: true, probes: targets.filter((t) => !t.sequential).flatMap((t) => t.probes) },
    { parallel: false, probes: targets.filter((t) => t.sequential).flatMap((t) => t.probes) },
  ].filter((b) => b.probes.length > 0);
}

function bySport(batches: Batch[], outcomes: Outcome[][]): Map<number, Outcome> {
  const m = new Map<number, Outcome>();
  batches.forEach((b, i) => b.probes.forEach((p, j) => m.set(p.sport, outcomes[i]![j]!)));
  return m;
}

function describeService(s: KubeServiceSpec): string {
  const eps = s.endpoints.map((e) => `${e.ip.split(".")[3]}${e.local ? "L" : ""}`).join("/") || "none";
  return `${s.type === "NodePort" ? "NP" : "CIP"} ${s.proto}/${s.port}→${s.targetPort} eps[${eps}]${s.externalLocal ? " eTP=Local" : ""}${s.affinity ? " ClientIP" : ""}`;
}

interface CaseReport {
  problems: string[];
  probes: number;
  log: string[];
}

function checkCase(spec: NftKubeCaseSpec, targets: Target[], batches: Batch[], kernel: { outcomes: Outcome[][]; conntrack: string[] }, pw: { outcomes: Outcome[][]; conntrack: string[] }): CaseReport {
  const problems: string[] = [];
  const log: string[] = [];
  const k = bySport(batches, kernel.outcomes);
  const p = bySport(batches, pw.outcomes);
  const kCt = conntrackByClientPort(kernel.conntrack);
  const pCt = conntrackByClientPort(pw.conntrack);
  let probes = 0;
  for (const tg of targets) {
    const proto = tg.probes[0]!.proto;
    const label = `${tg.svc ? `${tg.svc.namespace}/${tg.svc.name} ` : ""}${tg.kind} ${proto} ${tg.dst}:${tg.dport}`;
    const exp = expectationFor(spec, tg.svc, tg.kind, tg.dst);
    const kOut = tg.probes.map((pr) => k.get(pr.sport)!);
    const pOut = tg.probes.map((pr) => p.get(pr.sport)!);
    probes += tg.probes.length;
    for (const [side, outs] of [
      ["kernel", kOut],
      ["podwire", pOut],
    ] as const) {
      for (const o of outs) {
        const why = explain(o, exp);
        if (why) problems.push(`${label}: ${side} outcome ${outcomeKey(o)} is not what the Services say: ${why}`);
      }
    }
    const kKinds = [...new Set(kOut.map(verdictKind))].sort();
    const pKinds = [...new Set(pOut.map(verdictKind))].sort();
    if (kKinds.join(" | ") !== pKinds.join(" | ")) problems.push(`${label}: verdicts differ\n    kernel:  ${kKinds.join(" | ")}\n    podwire: ${pKinds.join(" | ")}`);
    const kEps = [...new Set(kOut.flatMap((o) => (o.kind === "reply" ? [o.ep] : [])))].sort();
    const pEps = [...new Set(pOut.flatMap((o) => (o.kind === "reply" ? [o.ep] : [])))].sort();
    if (tg.svc?.affinity && exp.kind === "reply") {
      if (kEps.length !== 1) problems.push(`${label}: ClientIP affinity, but the kernel reached {${kEps.join(", ")}}`);
      if (pEps.length !== 1) problems.push(`${label}: ClientIP affinity, but podwire reached {${pEps.join(", ")}}`);
    } else if (kEps.length > 1 && pEps.length < 2) {
      problems.push(`${label}: the kernel reached several endpoints {${kEps.join(", ")}}, podwire only {${pEps.join(", ")}}`);
    }
    // Conntrack, flow by flow.
    let ctSame = 0;
    tg.probes.forEach((pr, i) => {
      const ke = kCt.get(pr.sport) ?? [];
      const pe = pCt.get(pr.sport) ?? [];
      const ko = kOut[i]!;
      const po = pOut[i]!;
      if (ke.length > 1 || pe.length > 1) {
        problems.push(`${label} sport=${pr.sport}: several conntrack entries (kernel ${ke.length}, podwire ${pe.length})`);
        return;
      }
      const kc = ke[0] ? comparableCt(ke[0], ko.kind === "reply" ? ko.ep : null) : "(no entry)";
      const pc = pe[0] ? comparableCt(pe[0], po.kind === "reply" ? po.ep : null) : "(no entry)";
      if (kc !== pc) {
        problems.push(`${label} sport=${pr.sport}: conntrack differs\n    kernel:  ${kc}  [${outcomeKey(ko)}]\n    podwire: ${pc}  [${outcomeKey(po)}]`);
        return;
      }
      // Both answered through DNAT: the reply source is the endpoint that answered.
      for (const [side, e, o] of [
        ["kernel", ke[0], ko],
        ["podwire", pe[0], po],
      ] as const) {
        if (e && o.kind === "reply" && e.origDst !== `${tg.dst}:${tg.dport}`) problems.push(`${label}: ${side} conntrack original destination ${e.origDst}`);
        if (e && o.kind === "reply" && e.replySrc !== o.ep) problems.push(`${label}: ${side} conntrack reply source ${e.replySrc}, but ${o.ep} answered`);
      }
      ctSame++;
    });
    log.push(
      `${label}: ${exp.kind}${exp.kind === "reply" ? ` {${exp.endpoints.join(", ")}} peer ${exp.peer}` : ""} — kernel {${kEps.join(", ") || "-"}} ${kKinds.join(" | ")}; podwire {${pEps.join(", ") || "-"}}; conntrack ${ctSame}/${tg.probes.length} equal`,
    );
  }
  // No entries podwire or the kernel has for flows that are not probes.
  const sports = new Set(targets.flatMap((t) => t.probes.map((pr) => pr.sport)));
  for (const [side, m] of [
    ["kernel", kCt],
    ["podwire", pCt],
  ] as const) {
    for (const [sport, es] of m) if (!sports.has(sport)) problems.push(`${side} has a conntrack entry for no probe: ${es.map((e) => e.line).join(" / ")}`);
  }
  return { problems, probes, log };
}

// ---------------------------------------------------------------- the kernel comparison

if (nftKubeUnavailable !== null) {
  console.log(`test/kernel/nftables-proxy.test.ts: skipping the real-kernel comparison: ${nftKubeUnavailable}`);
  specs.forEach((_s, i) => test.skip(`kube-proxy nftables rules vs kernel #${i} (skipped: ${nftKubeUnavailable})`, () => {}));
} else {
  let lab: KernelLab | null = null;
  const totals = { sets: 0, probes: 0 };
  test.before(async () => {
    lab = new KernelLab();
    try {
      await lab.start();
    } catch (e) {
      lab.stop();
      lab = null;
      throw e;
    }
  });
  test.after.always(() => {
    if (lab) kernelFlushNft(lab);
    lab?.stop();
    console.log(`test/kernel/nftables-proxy.test.ts: ${totals.sets} random Service sets, ${totals.probes} probes through the kernel and podwire`);
  });

  test("the generated cases cover the features the suite is meant to exercise", (t) => {
    const all = specs.flatMap((s) => s.services);
    const outside = specs.filter((s) => !s.clientInCluster).flatMap((s) => s.services);
    const has = (among: KubeServiceSpec[], f: (s: KubeServiceSpec) => boolean, what: string) => t.true(among.some(f), `no Service with ${what}`);
    has(all, (s) => s.type === "ClusterIP", "type ClusterIP");
    has(all, (s) => s.type === "NodePort", "type NodePort");
    has(all, (s) => s.proto === "TCP", "TCP");
    has(all, (s) => s.proto === "UDP", "UDP");
    has(all, (s) => s.endpoints.length === 0, "no endpoints (reject)");
    has(all, (s) => s.type === "NodePort" && s.endpoints.length === 0, "a NodePort without endpoints (reject)");
    has(all, (s) => s.endpoints.length > 1 && !s.affinity, "several endpoints, random selection");
    has(all, (s) => s.affinity && s.endpoints.length > 1, "ClientIP affinity over several endpoints");
    has(outside, (s) => s.type === "NodePort" && !s.externalLocal && s.endpoints.length > 1, "eTP=Cluster NodePort over several endpoints, client outside the cluster CIDR (masquerade)");
    has(outside, (s) => s.externalLocal && s.endpoints.some((e) => e.local), "eTP=Local with local endpoints, client outside the cluster CIDR");
    has(outside, (s) => s.externalLocal && s.endpoints.length > 0 && !s.endpoints.some((e) => e.local), "eTP=Local without local endpoints, client outside the cluster CIDR (drop)");
    t.true(specs.some((s) => s.clientInCluster) && specs.some((s) => !s.clientInCluster), "client both inside and outside the cluster CIDR");
    t.true(specs.some((s) => s.nodePortPrimary && s.services.some((v) => v.type === "NodePort" && v.endpoints.length > 0)), "a NodePort with endpoints and --nodeport-addresses primary");
    t.true(specs.some((s) => !s.nodePortPrimary && s.services.some((v) => v.type === "NodePort" && v.endpoints.length > 0)), "a NodePort with endpoints on every local address");
  });

  specs.forEach((spec, i) => {
    const summary = spec.services.map(describeService).join("; ");
    const flags = `client ${spec.clientInCluster ? "inside" : "outside"} the cluster CIDR, nodeport-addresses ${spec.nodePortPrimary ? "primary" : "all"}`;
    test.serial(`kube-proxy nftables rules vs kernel #${i} (seed ${SEED}, ${flags}): ${summary}`, (t) => {
      if (!lab) return t.fail("kernel lab did not start");
      let compiled: NftCompiledCase;
      try {
        compiled = compileNftCase(spec, i);
      } catch (e) {
        return t.fail(`podwire's applyNftScript refused its own proxier's transaction: ${(e as Error).message}`);
      }
      const err = kernelLoadNft(lab, compiled.text);
      if (err !== null) {
        t.log(`transaction:\n${compiled.text}`);
        return t.fail(`nft -f refused the generated transaction: ${err}`);
      }
      const problems: string[] = [];
      // The loaded model: the kernel's listing vs podwire's printer.
      const listing = kernelListRuleset(lab);
      const printed = printRuleset(compiled.ruleset);
      if (listing !== printed) {
        const kl = listing.split("\n");
        const pl = printed.split("\n");
        const at = kl.findIndex((l, j) => l !== pl[j]);
        problems.push(`nft list ruleset differs from podwire's printer at line ${at + 1}:\n    kernel:  ${JSON.stringify(kl[at])}\n    podwire: ${JSON.stringify(pl[at])}`);
      }
      const targets = targetsFor(spec, i);
      const batches = batchesFor(targets);
      const kernel = lab.probe(batches, TIMEOUT_SEC);
      const pw = podwireRun(newRuleset(), batches, TIMEOUT_SEC, { engine: "compiled", nft: compiled.ruleset, seed: SEED + i });
      const report = checkCase(spec, targets, batches, kernel, pw);
      problems.push(...report.problems);
      totals.sets++;
      totals.probes += report.probes;
      for (const l of report.log) t.log(l);
      if (problems.length > 0) {
        t.log(`YAML:\n${compiled.yaml}`);
        t.log(`transaction:\n${compiled.text}`);
        t.log(`kernel conntrack:\n${kernel.conntrack.join("\n")}`);
        t.log(`podwire conntrack:\n${pw.conntrack.join("\n")}`);
        return t.fail(`podwire differs from the kernel (or from the Services):\n${problems.join("\n")}`);
      }
      t.pass();
    });
  });
}
