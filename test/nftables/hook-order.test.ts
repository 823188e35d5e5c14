/**
 * Hooks of equal priority run newest first: nf_hook_entries_grow (net/netfilter/core.c)
 * inserts a hook before the existing ones whose priority is not lower. So a later nft base
 * chain runs before an earlier one of the same priority, and an nft chain runs before the
 * iptables table of its priority (registered at boot, before the nft table existed).
 */
import test from "ava";
import { STAGE_IPT, STAGE_NFT, buildStages } from "../../src/nftables/hook-stages.js";
import { compileRuleset, parseNftRuleset } from "../../src/nftables/index.js";

const RULES = `table ip first {
	chain a {
		type filter hook forward priority filter; policy accept;
	}
	chain b {
		type filter hook forward priority filter; policy accept;
	}
}
table ip second {
	chain c {
		type filter hook forward priority filter; policy accept;
	}
	chain early {
		type filter hook forward priority -160; policy accept;
	}
}
`;

test("equal priorities: the chain registered last runs first, and nft chains before iptables' filter table", (t) => {
  const stages = buildStages(compileRuleset(parseNftRuleset(RULES, "order.nft"))).FORWARD;
  const names = stages.map((s) => (s.kind === STAGE_NFT ? `nft ${s.chain!.name}` : s.kind === STAGE_IPT ? `ipt ${s.table}` : `stage ${s.kind}`));
  t.deepEqual(names, ["nft early", "ipt mangle", "nft c", "nft b", "nft a", "ipt filter", "stage 6"]);
});
