/**
 * Accept exactly what the kernel accepts: a seeded corpus of kube-proxy-shaped rulesets
 * with mutations the kernel refuses or accepts — targets in hooks they do not support
 * (directly and through user chains), targets in the wrong table, chains nested around the
 * jump-stack limit, loops reachable and unreachable — loaded by the real iptables-restore
 * (nf_tables) in a fresh network namespace and by podwire. Both must accept or refuse each
 * file, and a refusal must name the same line.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { PodwireError, Rng } from "../../src/base/index.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";

const tool = (name: string): string | null => ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map((d) => `${d}/${name}`).find((p) => existsSync(p)) ?? null;
const IP = tool("ip");
const RESTORE = tool("iptables-restore");
const reason = process.getuid?.() !== 0 ? "not root" : !IP ? "ip missing" : !RESTORE ? "iptables-restore missing" : null;

const NAT_HEAD = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n";
const FILTER_HEAD = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n";

/** A kube-proxy-shaped nat table: KUBE-SERVICES → KUBE-SVC → KUBE-SEP with DNAT, masquerade in POSTROUTING. */
function natBase(extraChains: string[], extraRules: string[]): string {
  return (
    NAT_HEAD +
    [":KUBE-SERVICES - [0:0]", ":KUBE-SVC-A - [0:0]", ":KUBE-SEP-A - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]", ...extraChains].join("\n") +
    "\n" +
    [
      "-A PREROUTING -j KUBE-SERVICES",
      "-A OUTPUT -j KUBE-SERVICES",
      "-A POSTROUTING -j KUBE-POSTROUTING",
      "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
      "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
      "-A KUBE-POSTROUTING -j MASQUERADE --random-fully",
      "-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-A",
      "-A KUBE-SVC-A -j KUBE-SEP-A",
      "-A KUBE-SEP-A -s 10.244.1.2/32 -j KUBE-MARK-MASQ",
      "-A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 10.244.1.2:8080",
      ...extraRules,
    ].join("\n") +
    "\nCOMMIT\n"
  );
}

function chainOfDepth(table: "filter" | "nat", from: string, depth: number, loop: boolean, reachable: boolean): string {
  const head = table === "filter" ? FILTER_HEAD : NAT_HEAD;
  const decls = Array.from({ length: depth }, (_, i) => `:D${i} - [0:0]`);
  const rules = Array.from({ length: depth - 1 }, (_, i) => `-A D${i} -j D${i + 1}`);
  if (loop) rules.push(`-A D${depth - 1} -j D0`);
  if (reachable) rules.push(`-A ${from} -j D0`);
  return `${head}${decls.join("\n")}\n${rules.join("\n")}\nCOMMIT\n`;
}

function corpus(seed: number): { name: string; text: string }[] {
  const rng = new Rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.nextFloat() * xs.length)]!;
  const cases: { name: string; text: string }[] = [{ name: "kube-proxy nat table as is", text: natBase([], []) }];
  const moves: [string, string[], string[]][] = [
    ["DNAT in POSTROUTING", [], ["-A POSTROUTING -p tcp -j DNAT --to-destination 10.0.0.1:80"]],
    ["DNAT in INPUT", [], ["-A INPUT -p tcp -j DNAT --to-destination 10.0.0.1:80"]],
    ["DNAT in OUTPUT", [], ["-A OUTPUT -p tcp -j DNAT --to-destination 10.0.0.1:80"]],
    ["MASQUERADE in a chain PREROUTING reaches", [], ["-A KUBE-SERVICES -j MASQUERADE"]],
    ["MASQUERADE in PREROUTING", [], ["-A PREROUTING -j MASQUERADE"]],
    ["SNAT in INPUT", [], ["-A INPUT -j SNAT --to-source 10.0.0.1"]],
    ["SNAT in PREROUTING", [], ["-A PREROUTING -j SNAT --to-source 10.0.0.1"]],
    ["SNAT in an unreachable chain", [":LONE - [0:0]"], ["-A LONE -j SNAT --to-source 10.0.0.1"]],
    ["DNAT chain jumped to from POSTROUTING after it is filled", [], ["-A POSTROUTING -j KUBE-SEP-A"]],
    ["REJECT in nat", [], ["-A KUBE-SERVICES -j REJECT"]],
    ["MARK in nat", [], ["-A PREROUTING -j MARK --set-xmark 0x1/0x1"]],
  ];
  for (const [name, chains, rules] of moves) cases.push({ name, text: natBase(chains, rules) });
  for (const target of ["REJECT", "CT --notrack", "MASQUERADE", "DNAT --to-destination 1.2.3.4"]) {
    for (const table of ["filter", "mangle", "raw"] as const) {
      const head =
        table === "filter" ? FILTER_HEAD : table === "mangle" ? "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n" : "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n";
      const hook = table === "raw" ? pick(["PREROUTING", "OUTPUT"]) : pick(["INPUT", "OUTPUT"]);
      cases.push({ name: `${target} in ${table} ${hook}`, text: `${head}-A ${hook} -p tcp -j ${target}\nCOMMIT\n` });
    }
  }
  for (const depth of [14, 15, 16, 17, 40]) cases.push({ name: `chain ${depth} deep below INPUT`, text: chainOfDepth("filter", "INPUT", depth, false, true) });
  cases.push({ name: "deep chain nothing reaches", text: chainOfDepth("filter", "INPUT", 30, false, false) });
  cases.push({ name: "loop INPUT reaches", text: chainOfDepth("filter", "INPUT", 3, true, true) });
  cases.push({ name: "loop nothing reaches", text: chainOfDepth("filter", "INPUT", 3, true, false) });
  cases.push({ name: "nat loop PREROUTING reaches", text: chainOfDepth("nat", "PREROUTING", 2, true, true) });
  return cases;
}

/** podwire's verdict: accepted, or the line it refuses. */
function podwire(text: string): string {
  try {
    applyRestore(newRuleset(), parseRestore(text, "c.rules"), { file: "c.rules" });
    return "accepted";
  } catch (err) {
    if (err instanceof PodwireError) return `refused at line ${err.location?.line ?? "?"}`;
    throw err;
  }
}

if (reason !== null) {
  test.skip(`the kernel and podwire accept and refuse the same rulesets (skipped: ${reason})`, () => {});
} else {
  test.serial("the kernel and podwire accept and refuse the same rulesets, naming the same line", (t) => {
    const ns = `pw-acc-${randomBytes(4).toString("hex")}`;
    const add = spawnSync(IP!, ["netns", "add", ns], { encoding: "utf8" });
    if (add.status !== 0) {
      t.log(`skipped: cannot create a network namespace: ${add.stderr.trim()}`);
      t.pass();
      return;
    }
    try {
      const rows: string[] = [];
      for (const c of corpus(7)) {
        const r = spawnSync(IP!, ["netns", "exec", ns, RESTORE!], { input: c.text, encoding: "utf8" });
        const line = /line (\d+): RULE_APPEND failed/.exec(r.stderr)?.[1];
        const kernel = r.status === 0 ? "accepted" : `refused at line ${line ?? "?"}`;
        rows.push(`${c.name}: kernel ${kernel}, podwire ${podwire(c.text)}`);
        t.is(podwire(c.text), kernel, `${c.name}\n${r.stderr}\n${c.text}`);
      }
      t.log(rows.join("\n"));
    } finally {
      spawnSync(IP!, ["netns", "delete", ns]);
    }
  });
}
