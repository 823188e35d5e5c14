/**
 * The jumps IPVS mode puts in the built-in chains (pkg/proxy/ipvs/proxier.go
 * iptablesJumpChain, v1.33). As in iptables mode, kube-proxy installs them with
 * EnsureRule(Prepend), i.e. `iptables -I CHAIN 1 -m comment --comment C -j TARGET`; the
 * restore text here does the same with one `-I CHAIN 1` line per jump, after declaring the
 * target chains. Load it with `--noflush` before the sync text.
 */
import { LineBuffer } from "../base/index.js";
import {
  KUBE_FORWARD,
  KUBE_IPVS_FILTER,
  KUBE_IPVS_OUT_FILTER,
  KUBE_NODE_PORT,
  KUBE_POSTROUTING,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
} from "./ipvs-proxier.js";
import { jumpRuleArgs, type JumpRule } from "./jump-rules.js";

/** In kube-proxy's order; each is prepended, so the last one for a chain ends up first. */
export const IPVS_JUMP_RULES: readonly JumpRule[] = [
  { table: "nat", from: "OUTPUT", to: KUBE_SERVICES, comment: "kubernetes service portals", extraArgs: [] },
  { table: "nat", from: "PREROUTING", to: KUBE_SERVICES, comment: "kubernetes service portals", extraArgs: [] },
  { table: "nat", from: "POSTROUTING", to: KUBE_POSTROUTING, comment: "kubernetes postrouting rules", extraArgs: [] },
  { table: "filter", from: "FORWARD", to: KUBE_FORWARD, comment: "kubernetes forwarding rules", extraArgs: [] },
  { table: "filter", from: "INPUT", to: KUBE_NODE_PORT, comment: "kubernetes health check rules", extraArgs: [] },
  { table: "filter", from: "INPUT", to: KUBE_PROXY_FIREWALL, comment: "kube-proxy firewall rules", extraArgs: [] },
  { table: "filter", from: "FORWARD", to: KUBE_PROXY_FIREWALL, comment: "kube-proxy firewall rules", extraArgs: [] },
  { table: "filter", from: "INPUT", to: KUBE_IPVS_FILTER, comment: "kubernetes ipvs access filter", extraArgs: [] },
  { table: "filter", from: "OUTPUT", to: KUBE_IPVS_OUT_FILTER, comment: "kubernetes ipvs access filter", extraArgs: [] },
];

/** Restore text that declares the target chains and prepends the IPVS-mode jumps (`--noflush`). */
export function ipvsJumpRulesText(): string {
  const out = new LineBuffer();
  for (const table of ["nat", "filter"] as const) {
    out.write(`*${table}`);
    const chains = new Set<string>();
    for (const j of IPVS_JUMP_RULES) if (j.table === table) chains.add(j.to);
    for (const c of chains) out.write(`:${c} - [0:0]`);
    for (const j of IPVS_JUMP_RULES) if (j.table === table) out.write("-I", j.from, "1", jumpRuleArgs(j));
    out.write("COMMIT");
  }
  return out.toString();
}
