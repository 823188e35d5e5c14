/**
 * `iptables-restore --noflush` into a node's netfilter: parsed and applied in one pass
 * (restoreText), then only the chains it touched are rebuilt in the node's compiled tables.
 */
import { restoreText } from "../../netfilter/apply-restore.js";
import type { TableName } from "../../netfilter/model.js";
import type { NodeRuntime } from "../build.js";

export function loadRestore(node: NodeRuntime, text: string, label: string): void {
  const touched = new Map<TableName, Set<string>>();
  restoreText(node.netfilter.ruleset, text, { noflush: true, file: label }, touched);
  node.netfilter.rulesChanged(touched);
}
