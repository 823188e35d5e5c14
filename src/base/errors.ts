/**
 * Errors. A `PodwireError` is something the user caused (bad input) and is printed without a
 * stack; a `WireError` is untrusted bytes that do not parse. Anything else is a bug.
 */

/** Where in the user's input a problem is: a file and, as far as known, line, document and field. */
export interface InputLocation {
  file?: string;
  line?: number;
  column?: number;
  /** 1-based index of the YAML document within a multi-document file. */
  document?: number;
  /** Dotted path of the offending field, e.g. `spec.podCIDR`. */
  field?: string;
}

export function formatLocation(loc: InputLocation | undefined): string {
  if (!loc) return "";
  const parts: string[] = [];
  let where = loc.file ?? "";
  if (loc.line !== undefined) where += `${where ? ":" : "line "}${loc.line}`;
  if (loc.line !== undefined && loc.column !== undefined) where += `:${loc.column}`;
  if (where) parts.push(where);
  if (loc.document !== undefined) parts.push(`document ${loc.document}`);
  if (loc.field) parts.push(`field ${loc.field}`);
  return parts.join(", ");
}

export class PodwireError extends Error {
  override readonly name = "PodwireError";
  constructor(
    /** Stable machine-readable code, e.g. `E_CIDR_OVERLAP`. */
    readonly code: string,
    /** One line saying what is wrong. */
    readonly detail: string,
    readonly location?: InputLocation,
    /** One line saying what to do about it. */
    readonly hint?: string,
  ) {
    super(PodwireError.compose(detail, location, hint));
  }

  private static compose(detail: string, location?: InputLocation, hint?: string): string {
    const where = formatLocation(location);
    return `${where ? `${where}: ` : ""}${detail}${hint ? ` (hint: ${hint})` : ""}`;
  }
}

export type WireErrorKind = "truncated" | "malformed" | "unsupported";

/** Bytes that do not form a valid header of the expected kind. Never thrown for valid input. */
export class WireError extends Error {
  override readonly name = "WireError";
  constructor(
    readonly kind: WireErrorKind,
    /** The protocol being parsed, e.g. `ipv4`. */
    readonly protocol: string,
    readonly detail: string,
  ) {
    super(`${protocol}: ${kind}: ${detail}`);
  }
}

export function truncated(protocol: string, detail: string): WireError {
  return new WireError("truncated", protocol, detail);
}

export function malformed(protocol: string, detail: string): WireError {
  return new WireError("malformed", protocol, detail);
}
