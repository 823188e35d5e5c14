/** Label selectors (metav1.LabelSelector): matchLabels and matchExpressions, ANDed. */
import type { LabelSelector } from "./objects.js";

export function selectorMatches(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels)) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const value = labels[e.key];
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
    if (e.operator === "In" && (!has || !e.values.includes(value!))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(value!)) return false;
  }
  return true;
}
