/**
 * Kubernetes object names as the API server validates them (k8s.io/apimachinery
 * pkg/util/validation): DNS-1123 subdomains (Nodes, Pods, EndpointSlices), DNS-1123 labels
 * (namespaces, container names) and DNS-1035 labels (Services). A name that would not be
 * stored is refused, so no name with `/`, spaces, control characters or upper case ever
 * reaches a trace, a chain comment or the terminal.
 */
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

export type NameKind = "subdomain" | "label" | "dns1035";

/** Why `name` is not a valid name of that kind, or null when it is. */
export function nameProblem(name: string, kind: NameKind): string | null {
  if (name === "") return "it is empty";
  if (kind === "subdomain") {
    if (name.length > 253) return `it is ${name.length} characters long (at most 253)`;
    if (!name.split(".").every((part) => LABEL.test(part))) return "it must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit";
    return null;
  }
  if (name.length > 63) return `it is ${name.length} characters long (at most 63)`;
  if (kind === "dns1035") return LABEL_1035.test(name) ? null : "it must be lower-case letters, digits and '-', starting with a letter and ending with a letter or digit";
  return LABEL.test(name) ? null : "it must be lower-case letters, digits and '-', starting and ending with a letter or digit";
}

/** Shows a name safely in a message: control characters escaped. */
export function quoteName(name: string): string {
  return JSON.stringify(name.length > 60 ? `${name.slice(0, 57)}...` : name);
}

/**
 * Text from a user's file made safe for a terminal: C0 and C1 control characters (escape
 * sequences, carriage returns, …) written as `\xNN`, so a file can never drive the terminal.
 */
export function escapeControl(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
