/**
 * Label selectors as Services carry them (`spec.selector`: equality on every key), with the
 * API server's syntax checks on keys and values.
 */
import type { DocField } from "./doc-fields.js";

const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isValidLabelKey(key: string): boolean {
  const slash = key.indexOf("/");
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) return false;
  }
  return name.length > 0 && name.length <= 63 && NAME_PART.test(name);
}

export function isValidLabelValue(value: string): boolean {
  return value === "" || (value.length <= 63 && NAME_PART.test(value));
}

/** Reads `spec.selector`; null when absent or empty (no selector: slices are hand-managed). */
export function readSelector(f: DocField): Record<string, string> | null {
  const entries = f.entries();
  if (entries.length === 0) return null;
  const selector: Record<string, string> = {};
  for (const entry of entries) {
    const key: string = entry[0];
    const valueField: DocField = entry[1];
    if (!isValidLabelKey(key)) {
      valueField.fail("E_SELECTOR", `selector key ${JSON.stringify(key)} is not a valid label key`, "use [prefix/]name with letters, digits, '-', '_' and '.'");
    }
    const value = valueField.value;
    if (typeof value !== "string") {
      valueField.fail("E_SELECTOR", `selector value for ${JSON.stringify(key)} must be a string, not ${JSON.stringify(value)}`, "quote it, e.g. \"true\"");
    }
    if (!isValidLabelValue(value)) {
      valueField.fail("E_SELECTOR", `selector value ${JSON.stringify(value)} is not a valid label value`, "use up to 63 letters, digits, '-', '_' and '.'");
    }
    selector[key] = value;
  }
  return selector;
}

export function selectorMatches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const key of Object.keys(selector)) if (labels[key] !== selector[key]) return false;
  return true;
}
