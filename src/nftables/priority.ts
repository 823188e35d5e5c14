/**
 * Base chain priorities. nft (1.0.6, src/rule.c `std_prios`, `std_prio_family_hook_compat`)
 * names raw -300, mangle -150, dstnat -100 (prerouting only), filter 0, security 50,
 * srcnat 100 (postrouting only), and prints a priority within ±10 of the first compatible
 * name as `name ± n` (found with the real nft: 10 → `filter + 10`, 11 → `11`,
 * -110 at prerouting → `dstnat - 10`, at output → `-110`).
 */
import type { Hook } from "./model.js";

export const STD_PRIORITIES: readonly [string, number][] = [
  ["raw", -300],
  ["mangle", -150],
  ["dstnat", -100],
  ["filter", 0],
  ["security", 50],
  ["srcnat", 100],
];

export function priorityNameAllowed(name: string, hook: Hook): boolean {
  if (name === "dstnat") return hook === "prerouting";
  if (name === "srcnat") return hook === "postrouting";
  return STD_PRIORITIES.some(([n]) => n === name);
}

export function priorityValue(name: string): number | undefined {
  return STD_PRIORITIES.find(([n]) => n === name)?.[1];
}

export function formatPriority(prio: number, hook: Hook): string {
  for (const [name, value] of STD_PRIORITIES) {
    if (!priorityNameAllowed(name, hook)) continue;
    const off = prio - value;
    if (off === 0) return name;
    if (off >= -10 && off <= 10) return `${name} ${off > 0 ? "+" : "-"} ${Math.abs(off)}`;
  }
  return String(prio);
}
