/**
 * What runs at each IPv4 hook, in the kernel's priority order (nf_hook_entries are sorted
 * by priority): the iptables tables (iptables-nft registers them as base chains at the
 * classic priorities), conntrack, the NAT core, IPVS, and the nft base chains of the
 * namespace's ruleset.
 *
 *   PREROUTING   raw -300, conntrack -200, mangle -150, NAT core (dst) -100
 *   INPUT        mangle -150, filter 0, IPVS 98, NAT core (src) 100, confirm (last)
 *   FORWARD      mangle -150, filter 0, IPVS reply 100
 *   OUTPUT       raw -300, conntrack -200, mangle -150, NAT core (dst) -100, IPVS -99/-98, filter 0
 *   POSTROUTING  mangle -150, NAT core (src) 100, confirm (last)
 *
 * nft filter chains are placed by their own priority. When one has the same priority as
 * an iptables table (or conntrack, or IPVS, or an earlier nft chain), the nft chain runs
 * first: those hooks are registered before it (flannel's rules are loaded at boot, before
 * kube-proxy's table exists), and nf_hook_entries_grow (net/netfilter/core.c) inserts a new
 * hook before the first existing one whose priority is not lower (`reg->priority >
 * orig_ops[i]->priority` keeps the old one first only when it is strictly lower).
 *
 * nft nat chains are not stages of their own: nf_nat_register_fn hangs every nat chain of
 * a hook (iptables' nat table included) off the one NAT core hook (nf_nat_ipv4_ops:
 * dst -100, src 100), which runs them in their priority order — see the glue's natHook.
 */
import type { CompiledChain, CompiledNft } from "./index.js";
import type { BuiltinChain, TableName } from "../netfilter/model.js";

export const STAGE_IPT = 0;
export const STAGE_TRACK = 1;
export const STAGE_NAT = 2;
export const STAGE_NFT = 3;
export const STAGE_CONFIRM = 4;
export const STAGE_IPVS_LOCAL_IN = 5;
export const STAGE_IPVS_REPLY = 6;
export const STAGE_IPVS_LOCAL_REPLY = 7;
export const STAGE_IPVS_LOCAL_OUT = 8;

export interface Stage {
  kind: number;
  priority: number;
  table?: TableName;
  manip?: "src" | "dst";
  chain?: CompiledChain;
}

/** NF_IP_PRI_CONNTRACK_CONFIRM is INT_MAX. */
const LAST = 2147483647;

const ipt = (table: TableName, priority: number): Stage => ({ kind: STAGE_IPT, table, priority });
const nat = (manip: "src" | "dst"): Stage => ({ kind: STAGE_NAT, manip, priority: manip === "dst" ? -100 : 100 });

function builtin(): Record<BuiltinChain, Stage[]> {
  return {
    PREROUTING: [ipt("raw", -300), { kind: STAGE_TRACK, priority: -200 }, ipt("mangle", -150), nat("dst")],
    INPUT: [ipt("mangle", -150), ipt("filter", 0), { kind: STAGE_IPVS_LOCAL_IN, priority: 98 }, nat("src"), { kind: STAGE_CONFIRM, priority: LAST }],
    FORWARD: [ipt("mangle", -150), ipt("filter", 0), { kind: STAGE_IPVS_REPLY, priority: 100 }],
    OUTPUT: [
      ipt("raw", -300),
      { kind: STAGE_TRACK, priority: -200 },
      ipt("mangle", -150),
      nat("dst"),
      { kind: STAGE_IPVS_LOCAL_REPLY, priority: -99 },
      { kind: STAGE_IPVS_LOCAL_OUT, priority: -98 },
      ipt("filter", 0),
    ],
    POSTROUTING: [ipt("mangle", -150), nat("src"), { kind: STAGE_CONFIRM, priority: LAST }],
  };
}

export const NFT_HOOK: Record<BuiltinChain, "prerouting" | "input" | "forward" | "output" | "postrouting"> = {
  PREROUTING: "prerouting",
  INPUT: "input",
  FORWARD: "forward",
  OUTPUT: "output",
  POSTROUTING: "postrouting",
};

/** The stages of every hook, with the nft filter chains of `nft` merged in by priority. */
export function buildStages(nft: CompiledNft | null): Record<BuiltinChain, Stage[]> {
  const out = builtin();
  if (nft === null) return out;
  for (const hook of Object.keys(out) as BuiltinChain[]) {
    const list = out[hook];
    for (const chain of nft.filter[NFT_HOOK[hook]]) {
      // Before the first built-in stage of equal or higher priority (registered later, it runs
      // first; see above), after the nft chains already placed (compileRuleset's order has
      // the newest of equal priority first).
      let at = list.findIndex((s) => (s.kind === STAGE_NFT ? s.priority > chain.priority : s.priority >= chain.priority));
      if (at < 0) at = list.length;
      list.splice(at, 0, { kind: STAGE_NFT, priority: chain.priority, chain });
    }
  }
  return out;
}
