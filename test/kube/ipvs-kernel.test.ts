/**
 * The IPVS-mode output loads into the real kernel: in a fresh network namespace, the ipset
 * text with `ipset restore`, then the jump rules and the sync text with
 * `iptables-restore --noflush`. The kernel's `ipset save` and `iptables-save` must agree with
 * podwire's ipset and netfilter printers. IPVS itself is not available here, and neither may
 * be the xt_ipvs match KUBE-IPVS-OUT-FILTER uses: a text with such a rule is tried, and a
 * refusal is logged with the kernel's reason.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { applyIpsetRestore, IpsetRegistry, parseIpsetRestore, saveIpsets } from "../../src/netfilter/ipset/index.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { printRuleset } from "../../src/netfilter/save-print.js";
import { buildKubeModel, ipvsJumpRulesText, syncIpvs } from "../../src/kube/index.js";
import { FAKE_MODEL, FAKE_PROXIER, loadDocs } from "./helpers.js";

const run = (args: string[], input?: string) => {
  const r = spawnSync(args[0]!, args.slice(1), { input, encoding: "utf8" });
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? String(r.error ?? "") };
};
const has = (cmd: string): boolean => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const reason =
  process.getuid?.() !== 0 ? "not root" : !has("ipset") ? "ipset not installed" : !has("iptables-restore") ? "iptables-restore not installed" : !has("ip") ? "ip not installed" : null;

/** Members sorted per set; the kernel's random initval dropped (podwire prints none). */
function ipsetBlocks(save: string): string[] {
  const out: string[][] = [];
  for (const line of save.split("\n").filter((l) => l !== "")) {
    if (line.startsWith("create ")) out.push([line.replace(/ initval 0x[0-9a-f]{8}$/, "")]);
    else out.at(-1)!.push(line);
  }
  return out.map(([head, ...members]) => [head!, ...members.sort()].join("\n")).sort();
}

/** The KUBE-* chain declarations and rules of an iptables-save dump, per table, counters zeroed. */
function kubeLines(save: string): string[] {
  const out: string[] = [];
  let table = "";
  for (const line of save.split("\n")) {
    if (line.startsWith("*")) table = line;
    else if (/^:KUBE-/.test(line)) out.push(`${table} ${line.replace(/\[\d+:\d+\]/, "[0:0]")}`);
    else if (line.startsWith("-A ")) out.push(`${table} ${line}`);
  }
  return out;
}

function withNamespace(t: import("ava").ExecutionContext, body: (exec: (args: string[], input?: string) => ReturnType<typeof run>) => void): void {
  const ns = `pw-ipvs-${randomBytes(4).toString("hex")}`;
  const add = run(["ip", "netns", "add", ns]);
  if (add.status !== 0) {
    t.log(`skipped: cannot create a network namespace: ${add.stderr.trim()}`);
    t.pass();
    return;
  }
  try {
    body((args, input) => run(["ip", "netns", "exec", ns, ...args], input));
  } finally {
    run(["ip", "netns", "del", ns]);
  }
}

const model = () => buildKubeModel(loadDocs("overall-services.yaml"), [], FAKE_MODEL);

if (reason) {
  test.skip(`IPVS-mode ipsets and iptables text load into the kernel (skipped: ${reason})`, () => {});
  console.log(`ipvs kernel tests skipped: ${reason}`);
} else {
  test.serial("kernel: ipset restore, then jump rules and sync text with iptables-restore --noflush; saves agree with podwire", (t) => {
    // The node's IP inside the LB source range: no xt_ipvs rule in this text.
    const r = syncIpvs(model(), { ...FAKE_PROXIER, nodeIP: "203.0.113.5", randomFully: true });
    t.false(r.iptablesText.includes("-m ipvs"));
    withNamespace(t, (exec) => {
      const ipset = exec(["ipset", "restore"], r.ipsetText);
      t.is(ipset.status, 0, ipset.stderr);
      const reg = new IpsetRegistry();
      applyIpsetRestore(reg, parseIpsetRestore(r.ipsetText));
      t.deepEqual(ipsetBlocks(exec(["ipset", "save"]).stdout), ipsetBlocks(saveIpsets(reg)));

      const jumps = exec(["iptables-restore", "--noflush"], ipvsJumpRulesText());
      t.is(jumps.status, 0, jumps.stderr);
      const sync = exec(["iptables-restore", "--noflush", "--counters"], r.iptablesText);
      t.is(sync.status, 0, sync.stderr);
      // A second sync over the first, as kube-proxy does every period.
      const again = exec(["iptables-restore", "--noflush", "--counters"], r.iptablesText);
      t.is(again.status, 0, again.stderr);

      const rs = newRuleset();
      applyRestore(rs, parseRestore(ipvsJumpRulesText()), { noflush: true });
      applyRestore(rs, parseRestore(r.iptablesText), { noflush: true });
      const kernel = exec(["iptables-save"]).stdout;
      t.deepEqual(kubeLines(kernel), kubeLines(printRuleset(rs)));
      t.regex(kernel, /-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER/);
    });
  });

  test.serial("kernel: the KUBE-IPVS-OUT-FILTER rule (xt_ipvs) loads, or the refusal is reported", (t) => {
    const r = syncIpvs(model(), FAKE_PROXIER);
    t.true(r.iptablesText.includes("-A KUBE-IPVS-OUT-FILTER -s 5.6.7.8 -m ipvs --vaddr 5.6.7.8 --vproto tcp --vport 80 -j DROP"));
    withNamespace(t, (exec) => {
      t.is(exec(["ipset", "restore"], r.ipsetText).status, 0);
      t.is(exec(["iptables-restore", "--noflush"], ipvsJumpRulesText()).status, 0);
      const sync = exec(["iptables-restore", "--noflush", "--counters"], r.iptablesText);
      if (sync.status !== 0) {
        t.regex(sync.stderr, /ipvs|KUBE-IPVS-OUT-FILTER/i);
        t.log(`xt_ipvs refused by this kernel, skipping the check of its saved form: ${sync.stderr.trim().replace(/\s+/g, " ")}`);
        return;
      }
      const saved = exec(["iptables-save", "-t", "filter"]).stdout;
      t.true(saved.includes("-A KUBE-IPVS-OUT-FILTER -s 5.6.7.8/32 -m ipvs --vproto 6 --vaddr 5.6.7.8 --vport 80 -j DROP"), saved);
    });
  });
}
