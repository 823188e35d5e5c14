/**
 * The generated text loads into the real kernel: a fresh network namespace, the jump rules,
 * then the sync text, each with `iptables-restore --noflush`. Needs root and iptables-restore;
 * skipped otherwise. nfacct matches need nfacct objects (`nfacct add NAME`); without the
 * nfacct tool the text is generated with nfacct off.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { buildKubeModel, jumpRulesText, syncIptablesRules } from "../../src/kube/index.js";
import { FAKE_MODEL, FAKE_PROXIER, loadDocs } from "./helpers.js";

const has = (cmd: string): boolean => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const root = process.getuid?.() === 0;
const reason = !root ? "not root" : !has("iptables-restore") ? "iptables-restore not installed" : !has("ip") ? "ip not installed" : null;

const run = (args: string[], input?: string) => spawnSync(args[0]!, args.slice(1), { input, encoding: "utf8" });

if (reason) {
  test.skip(`kernel accepts the restore text (skipped: ${reason})`, () => {});
} else {
  test.serial("kernel accepts the jump rules and the restore text", (t) => {
    const ns = `pw-kube-${randomBytes(4).toString("hex")}`;
    const add = run(["ip", "netns", "add", ns]);
    if (add.status !== 0) {
      t.log(`cannot create a namespace: ${add.stderr}`);
      t.pass();
      return;
    }
    try {
      const nfacct = has("nfacct");
      if (nfacct) {
        for (const n of ["localhost_nps_accepted_pkts", "ct_state_invalid_dropped_pkts"]) run(["ip", "netns", "exec", ns, "nfacct", "add", n]);
      } else {
        t.log("nfacct tool not installed: loading the text with nfacct off");
      }
      const model = buildKubeModel(loadDocs("overall-services.yaml"), [], FAKE_MODEL);
      const variants = [
        { ...FAKE_PROXIER, nfacct, randomFully: true, masqueradeMark: undefined },
        { ...FAKE_PROXIER, nfacct, localhostNodePorts: false },
        { ...FAKE_PROXIER, nfacct, nodePortAddresses: ["192.168.0.0/24", "127.0.0.1/32"], clusterCIDR: null, masqueradeAll: true },
      ];
      const jumps = run(["ip", "netns", "exec", ns, "iptables-restore", "--noflush"], jumpRulesText());
      t.is(jumps.status, 0, jumps.stderr);
      for (const v of variants) {
        const r = run(["ip", "netns", "exec", ns, "iptables-restore", "--noflush", "--counters"], syncIptablesRules(model, v).text);
        t.is(r.status, 0, r.stderr);
      }
      const save = run(["ip", "netns", "exec", ns, "iptables-save", "-t", "nat"]);
      t.regex(save.stdout, /-A KUBE-SVC-NUKIZ6OKUXPJNT4C .*--rcheck --seconds 10800 --reap/);
      t.regex(save.stdout, /-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
      t.regex(save.stdout, /-A KUBE-MARK-MASQ -j MARK --(or-mark|set-xmark) 0x4000/);
    } finally {
      run(["ip", "netns", "del", ns]);
    }
  });
}
