/** Shared pieces of the IPVS-mode tests: kube-proxy's IPVS fake proxier and readers of the output. */
import { readFileSync } from "node:fs";
import { buildKubeModel, type IpvsProxierOptions, type KubeDocument, type ProxyState } from "../../src/kube/index.js";
import { slice, svc, type Ep } from "./build.js";
import { fixturePath } from "./helpers.js";

/** NewFakeProxier of pkg/proxy/ipvs/proxier_test.go: no local-traffic detector, mark 0x4000. */
export function fakeIpvsOptions(nodeIPs: readonly string[], nodePortAddresses: readonly string[] = []): IpvsProxierOptions {
  return {
    hostname: "test-node",
    nodeIP: "100.101.102.103",
    localAddresses: [...nodeIPs, "127.0.0.1"],
    clusterCIDR: null,
    masqueradeMark: "0x4000",
    nodePortAddresses,
    randomFully: false,
  };
}

export interface FixtureService {
  ns: string;
  name: string;
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export interface FixtureSlice {
  ns: string;
  service: string;
  ports: { name?: string; port: number; protocol?: string }[];
  endpoints: Ep[];
}

export interface FixtureCase {
  name: string;
  nodePortRange?: string;
  services: FixtureService[];
  slices: FixtureSlice[];
  nodeIPs: string[];
  nodePortAddresses: string[];
  expect: {
    virtualServers?: Record<string, string[]>;
    ipsets?: Record<string, string[]>;
    iptables?: Record<string, string[]>;
    persistent?: number;
  };
}

export function loadCases(): FixtureCase[] {
  return (JSON.parse(readFileSync(fixturePath("ipvs-proxier-test-cases.json"), "utf8")) as { cases: FixtureCase[] }).cases;
}

export function caseDocs(c: Pick<FixtureCase, "services" | "slices">): KubeDocument[] {
  return [
    ...c.services.map((s) => svc(s.ns, s.name, s.spec, s.status ?? {})),
    ...c.slices.map((s, i) => slice(s.ns, s.service, s.ports, s.endpoints, `${s.service}-${i + 1}`)),
  ];
}

export function ipvsModel(docs: readonly KubeDocument[], nodePortRange = "3000-32767"): ProxyState {
  return buildKubeModel(docs, [], { serviceCIDR: "10.0.0.0/8", nodePortRange, allocateNodePorts: false });
}

/** Rules per chain name across tables, in text order, each summarised as kube-proxy's checkIptables sees it. */
export function chainSummaries(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("-A ")) continue;
    const w = line.split(" ");
    const chain = w[1]!;
    const target = w[w.indexOf("-j") + 1]!;
    const setAt = w.indexOf("--match-set");
    const srcAt = w.indexOf("-s");
    let s = target;
    if (setAt >= 0) s += ` ${w[setAt + 1]}`;
    else if (srcAt >= 0 && w[srcAt - 1] !== "!") s += ` src=${w[srcAt + 1]}`;
    if (!out.has(chain)) out.set(chain, []);
    out.get(chain)!.push(s);
  }
  return out;
}
