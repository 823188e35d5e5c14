/**
 * A typed, located view of one YAML node of a cluster file: accessors check types and
 * throw PodwireErrors that name the file, line, column, document and field at fault.
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, type Document, type Scalar, type YAMLMap, type YAMLSeq } from "yaml";
import { PodwireError, type InputLocation } from "../base/index.js";

export interface DocContext {
  readonly file: string;
  /** 1-based position of the document in the stream. */
  readonly index: number;
  readonly doc: Document;
  readonly lines: LineCounter;
}

/** A YAML node with aliases already followed. */
export type YamlValue = Scalar | YAMLMap | YAMLSeq;

/**
 * One field of the input: its YAML node (null when absent), its dotted path and a source
 * offset for error messages. Accessors check types and throw located PodwireErrors.
 */
export class Field {
  private constructor(
    private readonly ctx: DocContext,
    readonly node: YamlValue | null,
    readonly path: string,
    private readonly offset: number,
  ) {}

  /** Wraps a raw node, following aliases; `fallbackOffset` is used when it has no position. */
  static of(ctx: DocContext, raw: unknown, path: string, fallbackOffset: number): Field {
    const node = resolveNode(ctx, raw);
    const hasValue = node !== null && !(isScalar(node) && node.value === null);
    const offset = hasValue ? (node.range?.[0] ?? fallbackOffset) : fallbackOffset;
    return new Field(ctx, node, path, offset);
  }

  /** True when the field is missing or written as YAML null. */
  get absent(): boolean {
    return this.node === null || (isScalar(this.node) && this.node.value === null);
  }

  location(): InputLocation {
    const { line, col } = this.ctx.lines.linePos(this.offset);
    const loc: InputLocation = { file: this.ctx.file, line, column: col, document: this.ctx.index };
    if (this.path) loc.field = this.path;
    return loc;
  }

  fail(code: string, detail: string, hint: string): never {
    throw new PodwireError(code, detail, this.location(), hint);
  }

  child(key: string): Field {
    const path = joinPath(this.path, key);
    if (this.absent) return new Field(this.ctx, null, path, this.offset);
    for (const pair of this.mapNode().items) {
      if (isScalar(pair.key) && pair.key.value === key) {
        return Field.of(this.ctx, pair.value, path, pair.key.range?.[0] ?? this.offset);
      }
    }
    return new Field(this.ctx, null, path, this.offset);
  }

  /** Key/value pairs of a mapping (empty when absent); keys must be scalars. */
  entries(): Array<[string, Field]> {
    if (this.absent) return [];
    return this.mapNode().items.map((pair) => {
      const key = resolveNode(this.ctx, pair.key);
      const keyOffset = key?.range?.[0] ?? this.offset;
      if (!isScalar(key) || key.value === null || typeof key.value === "object") {
        const at = new Field(this.ctx, key, this.path, keyOffset);
        return at.fail("E_TYPE", `${this.describePath()} has a key that is not a plain value`, "use string keys");
      }
      const name = String(key.value);
      return [name, Field.of(this.ctx, pair.value, joinPath(this.path, name), keyOffset)];
    });
  }

  /** Elements of a list (empty when absent). */
  items(): Field[] {
    if (this.absent) return [];
    if (!isSeq(this.node)) this.typeError("a list");
    return this.node.items.map((item, i) => Field.of(this.ctx, item, `${this.path}[${i}]`, this.offset));
  }

  isMap(): boolean {
    return isMap(this.node);
  }

  optString(): string | undefined {
    if (this.absent) return undefined;
    const value = this.scalarValue();
    if (typeof value !== "string") this.typeError("a string");
    return value;
  }

  requiredString(): string {
    const value = this.optString();
    if (value === undefined || value === "") this.missing();
    return value;
  }

  optInt(): number | undefined {
    if (this.absent) return undefined;
    const value = this.scalarValue();
    if (typeof value !== "number" || !Number.isInteger(value)) this.typeError("an integer");
    return value;
  }

  requiredInt(): number {
    const value = this.optInt();
    if (value === undefined) this.missing();
    return value;
  }

  optBool(): boolean | undefined {
    if (this.absent) return undefined;
    const value = this.scalarValue();
    if (typeof value !== "boolean") this.typeError("true or false");
    return value;
  }

  /** The field's value as plain data (for documents kept untouched). */
  toJS(): unknown {
    if (this.node === null) return null;
    try {
      return this.node.toJS(this.ctx.doc, { maxAliasCount: 100 });
    } catch (err) {
      const detail = `cannot convert the document to data: ${errorText(err)}`;
      return this.fail("E_YAML", detail, "simplify the YAML aliases");
    }
  }

  missing(): never {
    const name = this.path || "value";
    return this.fail("E_MISSING_FIELD", `${name} is required`, `add ${name}`);
  }

  typeError(expected: string): never {
    const found = describeNode(this.node);
    const detail = `${this.describePath()} must be ${expected}, found ${found}`;
    return this.fail("E_TYPE", detail, typeHint(expected, this.node));
  }

  describePath(): string {
    return this.path || "the document";
  }

  private mapNode(): YAMLMap {
    if (!isMap(this.node)) this.typeError("a mapping");
    return this.node;
  }

  private scalarValue(): unknown {
    if (!isScalar(this.node)) return this.typeError("a plain value");
    return this.node.value;
  }
}

function resolveNode(ctx: DocContext, raw: unknown): YamlValue | null {
  if (isAlias(raw)) return raw.resolve(ctx.doc) ?? null;
  if (isScalar(raw) || isMap(raw) || isSeq(raw)) return raw;
  return null;
}

/** Appends a key to a dotted path, bracket-quoting keys that would read ambiguously. */
function joinPath(base: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return base ? `${base}.${key}` : key;
  return `${base}[${JSON.stringify(key)}]`;
}

export function describeNode(node: YamlValue | null): string {
  if (node === null) return "nothing";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  const value: unknown = node.value;
  if (value === null) return "null";
  if (typeof value === "string") return `the string ${JSON.stringify(clip(value))}`;
  if (typeof value === "number" || typeof value === "bigint") return `the number ${String(value)}`;
  if (typeof value === "boolean") return `${value}`;
  return "a value of another type";
}

function typeHint(expected: string, node: YamlValue | null): string {
  const value: unknown = isScalar(node) ? node.value : undefined;
  if (expected === "an integer" && typeof value === "string") return "write the number without quotes";
  if (expected === "a string" && (typeof value === "number" || typeof value === "boolean")) {
    return `quote the value: "${String(value)}"`;
  }
  if (expected === "true or false" && typeof value === "string") return "write true or false without quotes";
  return `write ${expected} here`;
}

export function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
