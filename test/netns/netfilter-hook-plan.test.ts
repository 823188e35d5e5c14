/**
 * The netfilter glue plans each hook once (the stages less the iptables tables without that
 * hook's chain) and plans again whenever the rules or the engine change: a table that gains
 * the chain after traffic has flowed must act on the next packet, whichever way the rules
 * arrived (a whole new ruleset, an iptables-restore --noflush of some chains, an engine
 * switch).
 */
import test from "ava";
import { formatIpv4 } from "../../src/base/ipv4-int.js";
import { startPodApps } from "../../src/cluster/apps.js";
import { Cluster } from "../../src/cluster/build.js";
import { runExchange } from "../../src/cluster/exchange.js";
import { defaultCluster } from "../../src/cluster/load.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import type { TableName } from "../../src/netfilter/model.js";

function setup() {
  const c = new Cluster(defaultCluster());
  startPodApps(c);
  const client = c.pod("default", "client")!;
  const web = c.pod("default", "web-1")!;
  // The client's node: its packets to web-1 (on worker-2) pass its PREROUTING.
  const node = client.node;
  const exchange = (title: string) => runExchange(c, { title, from: client.ns, fromLabel: "client", dst: web.spec.podIP, dstPort: 8080, proto: "tcp" });
  const dropRaw = `*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d ${formatIpv4(web.spec.podIP)}/32 -p tcp -j DROP\nCOMMIT\n`;
  return { c, node, exchange, dropRaw };
}

test("a raw PREROUTING chain added by a new ruleset after traffic drops the next connection", (t) => {
  const { node, exchange, dropRaw } = setup();
  t.false(node.netfilter.engine.hasChain("raw", "PREROUTING"), "the default cluster has no raw PREROUTING chain (else this test proves nothing)");
  t.true(exchange("before").ok);
  applyRestore(node.netfilter.ruleset, parseRestore(dropRaw, "test rules"), { noflush: true });
  node.netfilter.setRuleset(node.netfilter.ruleset);
  const r = exchange("after");
  t.false(r.ok, r.outcome);
  t.is(r.outcome, "no answer (timed out)");
});

test("the same chain applied as an iptables-restore --noflush of its chains (rulesChanged) acts at once, and after an engine switch", (t) => {
  const { node, exchange, dropRaw } = setup();
  t.true(exchange("before").ok);
  applyRestore(node.netfilter.ruleset, parseRestore(dropRaw, "test rules"), { noflush: true });
  node.netfilter.rulesChanged(new Map<TableName, Set<string>>([["raw", new Set(["PREROUTING"])]]));
  t.false(exchange("after restore").ok);
  node.netfilter.useEngine(node.netfilter.engine.kind === "compiled" ? "reference" : "compiled");
  t.false(exchange("after engine switch").ok);
  // Flushed again: traffic flows.
  node.netfilter.ruleset.tables.get("raw")!.chains.get("PREROUTING")!.rules.length = 0;
  node.netfilter.setRuleset(node.netfilter.ruleset);
  t.true(exchange("after flush").ok);
});
