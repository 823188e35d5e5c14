/**
 * The real proof of canonical form: load each fixture into a scratch network namespace with
 * the host's iptables-restore, read it back with iptables-save, and compare with what
 * podwire prints for the same text. Needs root, `ip netns` and iptables (nf_tables backend);
 * when any is missing the tests are registered as skipped with the reason printed.
 *
 * Two things the kernel cannot load are adapted on both sides alike: `-m nfacct` (needs a
 * pre-created nfacct object and no `nfacct` tool is assumed) is removed from the text, and
 * ipsets named by `-m set` are created first with a type of matching dimension. Random rules
 * also drop `CT --helper` (the conntrack helpers are not loaded here).
 */
import test from "ava";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import fc from "fast-check";
import type { Rule } from "../../src/netfilter/model.js";
import { printRule } from "../../src/netfilter/save-print.js";
import { ruleArb } from "./fixtures/arbitraries.js";
import { canonicalFixtures, fixture, hasRuleCounters, roundTrip } from "./fixtures/load.js";

const TIMEOUT = 20_000;
let counter = 0;

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, timeout: TIMEOUT, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}

function findTool(name: string): string | null {
  for (const dir of ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]) if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  return null;
}

const IP = findTool("ip");
const RESTORE = findTool("iptables-restore");
const SAVE = findTool("iptables-save");
const IPSET = findTool("ipset");

function newNamespace(): string {
  const ns = `pw-parse-${process.pid}-${counter++}`;
  run(IP!, ["netns", "add", ns]);
  return ns;
}

function deleteNamespace(ns: string): void {
  try {
    run(IP!, ["netns", "delete", ns]);
  } catch {
    // already gone
  }
}

/** Why the kernel comparison cannot run here, or null when it can. */
function unavailable(): string | null {
  if (!IP || !RESTORE || !SAVE) return `missing tools: ${[!IP && "ip", !RESTORE && "iptables-restore", !SAVE && "iptables-save"].filter(Boolean).join(", ")}`;
  let ns: string | null = null;
  try {
    ns = newNamespace();
    run(IP, ["netns", "exec", ns, RESTORE], "*filter\nCOMMIT\n");
    const version = run(IP, ["netns", "exec", ns, RESTORE, "--version"]);
    if (!version.includes("nf_tables")) return `iptables-restore is not the nf_tables backend (${version.trim()})`;
    return null;
  } catch (e) {
    return `cannot create a network namespace and load rules: ${(e as Error).message.split("\n")[0]}`;
  } finally {
    if (ns) deleteNamespace(ns);
  }
}

const reason = unavailable();

/** Loads `text` in a fresh namespace and returns iptables-save's output without `#` lines. */
function kernelSave(text: string, counters: boolean): string {
  const ns = newNamespace();
  try {
    for (const m of text.matchAll(/--match-set (\S+) (\S+)/g)) {
      const dims = m[2]!.split(",").length;
      const type = dims === 1 ? "hash:ip" : dims === 2 ? "hash:ip,port" : "hash:ip,port,net"; // no type has more dimensions
      run(IP!, ["netns", "exec", ns, IPSET!, "-exist", "create", m[1]!, type]);
    }
    run(IP!, ["netns", "exec", ns, RESTORE!, "--counters"], text);
    const saved = run(IP!, ["netns", "exec", ns, SAVE!, ...(counters ? ["--counters"] : [])]);
    return saved.split("\n").filter((l) => !l.startsWith("#")).join("\n");
  } finally {
    deleteNamespace(ns);
  }
}

function withoutNfacct(text: string): string {
  return text.replace(/ -m nfacct --nfacct-name \S+/g, "");
}

const cases: [string, string][] = [
  ...canonicalFixtures().map((f): [string, string] => [f, fixture(f)]),
  ["kube-proxy-overall-input.rules (input form)", fixture("kube-proxy-overall-input.rules")],
];

for (const [name, raw] of cases) {
  const title = `podwire prints what the kernel's iptables-save prints: ${name}`;
  const needsIpset = raw.includes("--match-set");
  const why = reason ?? (needsIpset && !IPSET ? "ipset is not installed" : null);
  if (why) {
    console.log(`skipping "${title}": ${why}`);
    test.skip(title, () => {});
    continue;
  }
  test.serial(title, (t) => {
    const text = withoutNfacct(raw);
    const counters = hasRuleCounters(text);
    const kernel = kernelSave(text, counters);
    t.is(roundTrip(text), kernel);
  });
}

/** A restore document with `rules` spread over raw, filter and nat by what their targets allow. */
function randomDocument(rules: readonly Rule[]): string {
  const tableOf = (r: Rule): string =>
    ["DNAT", "SNAT", "MASQUERADE"].includes(r.target.kind) ? "nat" : ["TRACE", "NOTRACK", "CT"].includes(r.target.kind) ? "raw" : "filter";
  let text = "";
  for (const table of ["raw", "filter", "nat"]) {
    const mine = rules.filter((r) => tableOf(r) === table);
    const chains = new Set(mine.flatMap((r) => (r.target.kind === "jump" || r.target.kind === "goto" ? [r.target.chain] : [])));
    text += `*${table}\n:PW-TEST - [0:0]\n${[...chains].sort().map((c) => `:${c} - [0:0]\n`).join("")}`;
    text += mine.map((r) => `${printRule("PW-TEST", r).replace(/ --helper \S+/g, "")}\n`).join("");
    text += "COMMIT\n";
  }
  return text;
}

for (const seed of [1, 2, 3]) {
  const title = `random rules print as the kernel's iptables-save prints them (seed ${seed}, 300 rules)`;
  if (reason || !IPSET) {
    console.log(`skipping "${title}": ${reason ?? "ipset is not installed"}`);
    test.skip(title, () => {});
    continue;
  }
  test.serial(title, (t) => {
    const text = withoutNfacct(randomDocument(fc.sample(ruleArb, { numRuns: 300, seed })));
    t.is(roundTrip(text), kernelSave(text, false));
  });
}
