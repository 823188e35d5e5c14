/**
 * Shared pieces of the kube tests: YAML fixtures as KubeDocuments (with file, line and
 * document index, as the cluster loader gives them), kube-proxy's fake-proxier settings, and
 * kube-proxy's rule-sorting normalisation (proxier_test.go sortIPTablesRules).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { LineCounter, parseAllDocuments } from "yaml";
import type { KubeDocument } from "../../src/kube/index.js";
import type { IptablesProxierOptions } from "../../src/kube/index.js";

export const fixturePath = (name: string): string => fileURLToPath(new URL(`fixtures/${name}`, import.meta.url));

export function parseDocs(text: string, file = "<test>"): KubeDocument[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines });
  const out: KubeDocument[] = [];
  (Array.isArray(docs) ? docs : [docs]).forEach((doc, i) => {
    const body = doc.toJS() as Record<string, unknown> | null;
    if (!body) return;
    const pos = lines.linePos(doc.contents?.range?.[0] ?? 0);
    const kind = String(body["kind"]);
    const apiVersion = String(body["apiVersion"]);
    if (kind.endsWith("List")) {
      for (const item of (body["items"] as Record<string, unknown>[]) ?? []) {
        out.push({ apiVersion: String(item["apiVersion"]), kind: String(item["kind"]), body: item, location: { file, line: pos.line, document: i + 1 } });
      }
      return;
    }
    out.push({ apiVersion, kind, body, location: { file, line: pos.line, column: pos.col, document: i + 1 } });
  });
  return out;
}

export function loadDocs(name: string): KubeDocument[] {
  return parseDocs(readFileSync(fixturePath(name), "utf8"), name);
}

/** NewFakeProxier's settings (pkg/proxy/iptables/proxier_test.go). */
export const FAKE_PROXIER: IptablesProxierOptions = {
  hostname: "test-node",
  nodeIP: "192.168.0.2",
  localAddresses: ["192.168.0.2", "192.168.1.2", "127.0.0.1"],
  clusterCIDR: "10.0.0.0/8",
  masqueradeMark: "0x4000",
  localhostNodePorts: true,
  nfacct: true,
  randomFully: false,
};

/** kube-proxy's Services in its tests sit in 172.30.0.0/16 and use tiny node ports. */
export const FAKE_MODEL = { serviceCIDR: "172.30.0.0/16", nodePortRange: "3000-32767", allocateNodePorts: false };

interface DumpChain {
  name: string;
  decl: string;
  rules: string[];
}

function commentOf(rule: string): string | null {
  const m = /--comment (?:"([^"]*)"|(\S+))/.exec(rule);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

function serviceNameOf(rule: string): string | null {
  const c = commentOf(rule);
  if (c === null) return null;
  const i = c.search(/[ :]/);
  return i < 0 ? c : c.slice(0, i);
}

/** Stable sort with kube-proxy's "undefined order without comments" comparator (false). */
function sortByServiceName(rules: string[], lastRule?: (r: string) => boolean): string[] {
  const before = (a: string, b: string): boolean => {
    if (lastRule?.(a)) return false;
    if (lastRule?.(b)) return true;
    const na = serviceNameOf(a);
    const nb = serviceNameOf(b);
    if (na === null || nb === null) return false;
    return na < nb;
  };
  return rules
    .map((r, i) => ({ r, i }))
    .sort((x, y) => (before(x.r, y.r) ? -1 : before(y.r, x.r) ? 1 : x.i - y.i))
    .map((x) => x.r);
}

function chainOrder(a: string, b: string): number {
  const rank = (n: string): number => (n === "KUBE-NODEPORTS" ? 0 : n === "KUBE-SERVICES" ? 1 : n.startsWith("KUBE-") ? 2 : 3);
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** proxier_test.go's sortIPTablesRules, re-expressed: tables by name, chains in kube-proxy's test order, rules per chain. */
export function sortIptablesRules(text: string): string {
  const tables: { name: string; chains: Map<string, DumpChain> }[] = [];
  let cur: (typeof tables)[number] | null = null;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      cur = { name: line.slice(1), chains: new Map() };
      tables.push(cur);
    } else if (line === "COMMIT") {
      cur = null;
    } else if (line.startsWith(":")) {
      const name = line.slice(1).split(" ")[0]!;
      cur!.chains.set(name, { name, decl: line, rules: [] });
    } else {
      const name = line.split(" ")[1]!;
      const chain = cur!.chains.get(name);
      if (!chain) throw new Error(`rule for undeclared chain: ${line}`);
      chain.rules.push(line);
    }
  }
  tables.sort((a, b) => (a.name < b.name ? -1 : 1));
  let out = "";
  for (const t of tables) {
    for (const n of ["KUBE-NODEPORTS", "KUBE-SERVICES"]) {
      const c = t.chains.get(n);
      if (!c) continue;
      const last = t.name === "nat" && n === "KUBE-SERVICES" ? (r: string) => (commentOf(r) ?? "").includes("must be the last rule") : undefined;
      c.rules = sortByServiceName(c.rules, last);
    }
    const chains = [...t.chains.values()].sort((a, b) => chainOrder(a.name, b.name));
    out += `*${t.name}\n`;
    for (const c of chains) out += `${c.decl}\n`;
    for (const c of chains) for (const r of c.rules) out += `${r}\n`;
    out += "COMMIT\n";
  }
  return out;
}

/** The reference (a copy of shared/reference/kube-proxy-overall-rules.txt) without its `#` header. */
export function referenceRules(): string {
  const text = readFileSync(fixturePath("kube-proxy-overall-rules.txt"), "utf8");
  return text
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .join("\n");
}
