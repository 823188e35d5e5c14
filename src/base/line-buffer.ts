/** Accumulates lines of text, as kube-proxy's LineBuffer does for restore text. */
export class LineBuffer {
  private readonly lines: string[] = [];

  /** Joins the words (arrays are flattened) with spaces and adds the result as one line. */
  write(...words: (string | readonly string[])[]): this {
    const flat: string[] = [];
    for (const w of words) {
      if (typeof w === "string") flat.push(w);
      else flat.push(...w);
    }
    this.lines.push(flat.join(" "));
    return this;
  }

  writeLine(line: string): this {
    this.lines.push(line);
    return this;
  }

  get length(): number {
    return this.lines.length;
  }

  reset(): void {
    this.lines.length = 0;
  }

  toString(): string {
    return this.lines.length === 0 ? "" : this.lines.join("\n") + "\n";
  }
}
