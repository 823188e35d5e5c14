/** Accumulates lines of text, as kube-proxy's LineBuffer does for restore text. */
export class LineBuffer {
  private readonly lines: string[] = [];

  /** Joins the words (arrays are flattened) with spaces and adds the result as one line. */
  write(...words: (string | readonly string[])[]): this {
    let line = "";
    let first = true;
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      if (typeof w === "string") {
        line = first ? w : line + " " + w;
        first = false;
        continue;
      }
      for (let j = 0; j < w.length; j++) {
        line = first ? w[j]! : line + " " + w[j]!;
        first = false;
      }
    }
    this.lines.push(line);
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
