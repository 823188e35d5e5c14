/**
 * kube-proxy's LineBuffer for iptables-restore text, kept as bytes: a 50,000-Service sync is
 * 1.6 million lines, and building each line by string concatenation leaves tens of millions
 * of intermediate strings for the garbage collector. Words are copied into one growing byte
 * array and the text is decoded once. A character above U+00FF (never in kube-proxy's own
 * words, but a comment could hold one) switches the buffer to plain strings.
 */
export class RestoreLines {
  private bytes = new Uint8Array(1 << 16);
  private len = 0;
  private lines = 0;
  /** Lines as strings once a word needed more than one byte a character. */
  private wide: string[] | null = null;

  /** Joins the words (arrays are flattened) with spaces and adds the result as one line. */
  write(...words: (string | readonly string[])[]): this {
    if (this.wide !== null) return this.writeLine(joinWords(words));
    const start = this.len;
    let first = true;
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      if (typeof w === "string") {
        if (!first) this.byte(32);
        first = false;
        if (!this.put(w)) return this.widen(start, words);
        continue;
      }
      for (let j = 0; j < w.length; j++) {
        if (!first) this.byte(32);
        first = false;
        if (!this.put(w[j]!)) return this.widen(start, words);
      }
    }
    this.byte(10);
    this.lines++;
    return this;
  }

  writeLine(line: string): this {
    if (this.wide !== null) this.wide.push(line);
    else {
      const start = this.len;
      if (!this.put(line)) return this.widen(start, [line]);
      this.byte(10);
    }
    this.lines++;
    return this;
  }

  get length(): number {
    return this.lines;
  }

  /** The text: every line followed by a newline. */
  toString(): string {
    if (this.wide !== null) return this.wide.length === 0 ? "" : this.wide.join("\n") + "\n";
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.len).toString("latin1");
  }

  /** Appends the text of several buffers (and literal pieces) as one string. */
  static join(parts: readonly (RestoreLines | string)[]): string {
    if (parts.some((p) => typeof p !== "string" && p.wide !== null)) return parts.map(String).join("");
    let total = 0;
    for (const p of parts) total += typeof p === "string" ? p.length : p.len;
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (const p of parts) {
      if (typeof p === "string") at += out.write(p, at, "latin1");
      else {
        out.set(p.bytes.subarray(0, p.len), at);
        at += p.len;
      }
    }
    return out.toString("latin1", 0, at);
  }

  private byte(b: number): void {
    if (this.len === this.bytes.length) this.grow(1);
    this.bytes[this.len++] = b;
  }

  /** Copies `s`; false (nothing kept) when it has a character above U+00FF. */
  private put(s: string): boolean {
    const n = s.length;
    if (this.len + n > this.bytes.length) this.grow(n);
    const b = this.bytes;
    let at = this.len;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) return false;
      b[at++] = c;
    }
    this.len = at;
    return true;
  }

  private grow(need: number): void {
    const b = new Uint8Array(Math.max(this.bytes.length * 2, this.len + need));
    b.set(this.bytes.subarray(0, this.len));
    this.bytes = b;
  }

  /** Switches to strings: the lines so far become strings, then this line. */
  private widen(lineStart: number, words: readonly (string | readonly string[])[]): this {
    const before = Buffer.from(this.bytes.buffer, this.bytes.byteOffset, lineStart).toString("latin1");
    this.wide = before.length === 0 ? [] : before.slice(0, -1).split("\n");
    this.len = 0;
    this.wide.push(joinWords(words));
    this.lines++;
    return this;
  }
}

/** Counts lines without keeping them (the chains of Services a partial sync leaves alone). */
export class LineCounter {
  private lines = 0;

  write(..._words: (string | readonly string[])[]): this {
    this.lines++;
    return this;
  }

  writeLine(_line: string): this {
    this.lines++;
    return this;
  }

  get length(): number {
    return this.lines;
  }
}

function joinWords(words: readonly (string | readonly string[])[]): string {
  const flat: string[] = [];
  for (const w of words) {
    if (typeof w === "string") flat.push(w);
    else flat.push(...w);
  }
  return flat.join(" ");
}
