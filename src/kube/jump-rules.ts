/**
 * The rules kube-proxy puts in the built-in chains (pkg/proxy/iptables/proxier.go
 * iptablesJumpChains and iptablesKubeletJumpChains). kube-proxy does not write these in its
 * restore text: on every full sync it calls EnsureChain for the target and
 * EnsureRule(Prepend) for the jump, which runs `iptables -I <chain> 1 …` when the rule is
 * missing. The same effect as restore input is one `-I CHAIN 1` line per jump, in table
 * order, which is what `jumpRulesText` writes.
 *
 * Load order for a node: `jumpRulesText()` first, then the sync text, both with
 * `--noflush` (the sync text's `:KUBE-…` lines flush and refill the chains declared here).
 */
import { LineBuffer } from "../base/index.js";
import {
  KUBE_EXTERNAL_SERVICES,
  KUBE_FIREWALL,
  KUBE_FORWARD,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_CANARY,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
} from "./iptables-proxier.js";

export interface JumpRule {
  table: "filter" | "nat";
  from: "INPUT" | "FORWARD" | "OUTPUT" | "PREROUTING" | "POSTROUTING";
  to: string;
  /** Empty for kubelet's KUBE-FIREWALL jumps, which have no comment. */
  comment: string;
  extraArgs: readonly string[];
}

const NEW = ["-m", "conntrack", "--ctstate", "NEW"] as const;

/** In kube-proxy's order; each is prepended, so the last one for a chain ends up first. */
export const JUMP_RULES: readonly JumpRule[] = [
  { table: "filter", from: "INPUT", to: KUBE_EXTERNAL_SERVICES, comment: "kubernetes externally-visible service portals", extraArgs: NEW },
  { table: "filter", from: "FORWARD", to: KUBE_EXTERNAL_SERVICES, comment: "kubernetes externally-visible service portals", extraArgs: NEW },
  { table: "filter", from: "INPUT", to: KUBE_NODEPORTS, comment: "kubernetes health check service ports", extraArgs: [] },
  { table: "filter", from: "FORWARD", to: KUBE_SERVICES, comment: "kubernetes service portals", extraArgs: NEW },
  { table: "filter", from: "OUTPUT", to: KUBE_SERVICES, comment: "kubernetes service portals", extraArgs: NEW },
  { table: "filter", from: "FORWARD", to: KUBE_FORWARD, comment: "kubernetes forwarding rules", extraArgs: [] },
  { table: "filter", from: "INPUT", to: KUBE_PROXY_FIREWALL, comment: "kubernetes load balancer firewall", extraArgs: NEW },
  { table: "filter", from: "OUTPUT", to: KUBE_PROXY_FIREWALL, comment: "kubernetes load balancer firewall", extraArgs: NEW },
  { table: "filter", from: "FORWARD", to: KUBE_PROXY_FIREWALL, comment: "kubernetes load balancer firewall", extraArgs: NEW },
  { table: "nat", from: "OUTPUT", to: KUBE_SERVICES, comment: "kubernetes service portals", extraArgs: [] },
  { table: "nat", from: "PREROUTING", to: KUBE_SERVICES, comment: "kubernetes service portals", extraArgs: [] },
  { table: "nat", from: "POSTROUTING", to: KUBE_POSTROUTING, comment: "kubernetes postrouting rules", extraArgs: [] },
  // Kubelet's copies (kubelet_network_linux.go), which kube-proxy also ensures.
  { table: "filter", from: "INPUT", to: KUBE_FIREWALL, comment: "", extraArgs: [] },
  { table: "filter", from: "OUTPUT", to: KUBE_FIREWALL, comment: "", extraArgs: [] },
];

/** The arguments of one jump rule after the chain name, as EnsureRule passes them. */
export function jumpRuleArgs(j: JumpRule): string[] {
  const args = [...j.extraArgs];
  if (j.comment) args.push("-m", "comment", "--comment", `"${j.comment}"`);
  args.push("-j", j.to);
  return args;
}

/**
 * Restore text that creates kube-proxy's chains and prepends the jumps to them, plus the
 * KUBE-PROXY-CANARY chains its monitor watches (mangle, nat, filter). For `--noflush`.
 */
export function jumpRulesText(): string {
  const out = new LineBuffer();
  out.write("*mangle").write(`:${KUBE_PROXY_CANARY} - [0:0]`).write("COMMIT");
  for (const table of ["filter", "nat"] as const) {
    out.write(`*${table}`);
    const chains = new Set<string>([KUBE_PROXY_CANARY]);
    for (const j of JUMP_RULES) if (j.table === table) chains.add(j.to);
    for (const c of chains) out.write(`:${c} - [0:0]`);
    for (const j of JUMP_RULES) if (j.table === table) out.write("-I", j.from, "1", jumpRuleArgs(j));
    out.write("COMMIT");
  }
  return out.toString();
}
