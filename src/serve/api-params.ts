/**
 * Query parameters of `/api/…`, checked like command-line flags: every parameter known, given
 * once, of bounded length and of the right form; a problem is a PodwireError naming the
 * parameter (its location's field), which the server answers with 400 as
 * `parameter NAME: DETAIL (hint: …)`.
 */
import { PodwireError } from "../base/index.js";

const MAX_VALUE_LENGTH = 256;

export interface ParamSpec {
  /** A required parameter has no default. */
  required?: boolean;
  /** The only values allowed. */
  choices?: readonly string[];
  /** What a value must look like, and how to say so. */
  pattern?: { re: RegExp; what: string };
  example: string;
}

/** Reads `params` against `specs`: unknown, repeated, missing and malformed parameters are errors. */
export function readParams<K extends string>(params: URLSearchParams, specs: Record<K, ParamSpec>): Partial<Record<K, string>> {
  const known = Object.keys(specs) as K[];
  const out: Partial<Record<K, string>> = {};
  for (const name of new Set(params.keys())) {
    if (!known.includes(name as K)) {
      throw new PodwireError("E_PARAM", "unknown parameter", { field: name }, known.length > 0 ? `known: ${known.join(", ")}` : "this endpoint takes no parameters");
    }
    const values = params.getAll(name);
    if (values.length > 1) throw new PodwireError("E_PARAM", `given ${values.length} times`, { field: name }, `give it once, e.g. ${name}=${specs[name as K].example}`);
  }
  for (const name of known) {
    const spec = specs[name];
    const value = params.get(name);
    if (value === null) {
      if (spec.required) throw new PodwireError("E_PARAM", "required", { field: name }, `e.g. ${name}=${spec.example}`);
      continue;
    }
    if (value.length > MAX_VALUE_LENGTH) throw new PodwireError("E_PARAM", `longer than ${MAX_VALUE_LENGTH} characters`, { field: name }, `e.g. ${name}=${spec.example}`);
    if (spec.choices !== undefined && !spec.choices.includes(value)) {
      throw new PodwireError("E_PARAM", `${JSON.stringify(value)} is not one of ${spec.choices.join(", ")}`, { field: name }, `e.g. ${name}=${spec.example}`);
    }
    if (spec.pattern !== undefined && !spec.pattern.re.test(value)) {
      throw new PodwireError("E_PARAM", `${JSON.stringify(value)} is not ${spec.pattern.what}`, { field: name }, `e.g. ${name}=${spec.example}`);
    }
    out[name] = value;
  }
  return out;
}
