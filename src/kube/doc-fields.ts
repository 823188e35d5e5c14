/**
 * Typed reads from a document body (plain JSON-like data) that fail with a located
 * `PodwireError`: the document's file, line and index plus the dotted path of the field.
 */
import { type NameKind, PodwireError, type InputLocation, nameProblem, quoteName } from "../base/index.js";

export class DocField {
  constructor(
    readonly value: unknown,
    readonly path: string,
    private readonly docLocation: InputLocation,
  ) {}

  static root(body: Record<string, unknown>, location: InputLocation): DocField {
    return new DocField(body, "", location);
  }

  get absent(): boolean {
    return this.value === undefined || this.value === null;
  }

  location(): InputLocation {
    const loc: InputLocation = { ...this.docLocation };
    if (this.path) loc.field = this.path;
    else delete loc.field;
    return loc;
  }

  fail(code: string, detail: string, hint?: string): never {
    throw new PodwireError(code, detail, this.location(), hint);
  }

  child(key: string): DocField {
    const path = this.path ? `${this.path}.${key}` : key;
    if (this.absent) return new DocField(undefined, path, this.docLocation);
    if (typeof this.value !== "object" || Array.isArray(this.value)) this.typeError("a mapping");
    return new DocField((this.value as Record<string, unknown>)[key], path, this.docLocation);
  }

  items(): DocField[] {
    if (this.absent) return [];
    if (!Array.isArray(this.value)) this.typeError("a list");
    return this.value.map((v, i) => new DocField(v, `${this.path}[${i}]`, this.docLocation));
  }

  entries(): [string, DocField][] {
    if (this.absent) return [];
    if (typeof this.value !== "object" || Array.isArray(this.value)) this.typeError("a mapping");
    return Object.keys(this.value as object).map((k) => [k, this.child(k)]);
  }

  /** A name field (or `fallback` when absent), checked as the API server checks names. */
  name(kind: NameKind, what: string, fallback?: string): string {
    const name = this.string(fallback);
    if (this.absent) return name;
    const problem = nameProblem(name, kind);
    if (problem !== null) {
      const rule = kind === "subdomain" ? "a DNS-1123 subdomain" : kind === "dns1035" ? "a DNS-1035 label" : "a DNS-1123 label";
      this.fail("E_NAME", `${what} name ${quoteName(name)} is not ${rule}: ${problem}`, "use a name such as web-1 (the API server would refuse this one)");
    }
    return name;
  }

  string(fallback?: string): string {
    if (this.absent) {
      if (fallback !== undefined) return fallback;
      this.fail("E_KUBE_FIELD", `${this.path} is required`, "add the field");
    }
    if (typeof this.value !== "string") this.typeError("a string");
    return this.value;
  }

  optionalString(): string | null {
    return this.absent ? null : this.string();
  }

  int(fallback?: number): number {
    if (this.absent) {
      if (fallback !== undefined) return fallback;
      this.fail("E_KUBE_FIELD", `${this.path} is required`, "add the field");
    }
    if (typeof this.value !== "number" || !Number.isInteger(this.value)) this.typeError("an integer");
    return this.value;
  }

  optionalBool(): boolean | null {
    if (this.absent) return null;
    if (typeof this.value !== "boolean") this.typeError("true or false");
    return this.value;
  }

  stringList(): string[] {
    return this.items().map((f) => f.string());
  }

  private typeError(expected: string): never {
    const got = Array.isArray(this.value) ? "a list" : typeof this.value === "object" ? "a mapping" : JSON.stringify(this.value);
    this.fail("E_KUBE_TYPE", `${this.path || "the document"} must be ${expected}, not ${got}`, `write ${this.path || "it"} as ${expected}`);
  }
}
