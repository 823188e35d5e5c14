/**
 * Outputs never replace a user's file until they are complete: every output goes to a
 * temporary file beside its target and is renamed into place on success (rename(2) within
 * one directory is atomic), so a failed or killed run leaves the old file as it was. Paths
 * are checked up front, so a bad one is a one-line error naming the option, not a stack
 * trace or a hang.
 */
import { type Stats, accessSync, constants, closeSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { PodwireError } from "./errors.js";

let tempCounter = 0;

/** A temporary name beside `path`, hidden, unique within this process. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${++tempCounter}.tmp`);
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function writableDir(dir: string, option: string, what: string): void {
  const st = statOrNull(dir);
  if (st === null) throw new PodwireError("E_OUTPUT", `${option}: the directory ${dir} for ${what} does not exist`, { field: option }, "create it first, or name a path in an existing directory");
  if (!st.isDirectory()) throw new PodwireError("E_OUTPUT", `${option}: ${dir} is not a directory`, { field: option }, "name a path in an existing directory");
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new PodwireError("E_OUTPUT", `${option}: the directory ${dir} is not writable`, { field: option }, "choose a directory you can write to");
  }
}

/** An output file `path` can be written: not empty, not a directory, in an existing writable directory. */
export function checkOutputFile(path: string, option: string): void {
  if (path.trim() === "") throw new PodwireError("E_OUTPUT", `${option} is empty`, { field: option }, `give a file name, e.g. ${option} out.pcapng`);
  const st = statOrNull(path);
  if (st !== null && st.isDirectory()) throw new PodwireError("E_OUTPUT", `${option}: ${path} is a directory`, { field: option }, "name a file, not a directory");
  writableDir(dirname(path) || ".", option, path);
}

/**
 * An output directory: created when missing if its parent exists (never a chain of
 * directories: a typo should not grow a tree, and some file systems never answer a
 * recursive mkdir), refused when it is a file or not writable.
 */
export function prepareOutputDir(dir: string, option: string): void {
  if (dir.trim() === "") throw new PodwireError("E_OUTPUT", `${option} is empty`, { field: option }, `give a directory, e.g. ${option} captures`);
  const st = statOrNull(dir);
  if (st !== null && !st.isDirectory()) throw new PodwireError("E_OUTPUT", `${option}: ${dir} exists and is not a directory`, { field: option }, "name a directory");
  if (st === null) {
    writableDir(dirname(dir) || ".", option, dir);
    try {
      mkdirSync(dir);
    } catch (err) {
      throw new PodwireError("E_OUTPUT", `${option}: cannot create ${dir} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { field: option }, "choose a directory you can write to");
    }
  }
  writableDir(dir, option, dir);
}

/** An open temporary file that becomes `path` on `commit()`, or disappears on `abort()`. */
export class PendingFile {
  readonly tempPath: string;
  readonly fd: number;
  private done = false;

  /** True when `path` is a device, FIFO or socket (e.g. /dev/null, /dev/stdout): written in place. */
  readonly direct: boolean;

  constructor(readonly path: string) {
    const st = statOrNull(path);
    // Renaming over /dev/null would replace the device with a regular file: special files are
    // written directly, as a shell redirection would.
    this.direct = st !== null && !st.isFile() && !st.isDirectory();
    this.tempPath = this.direct ? path : tempPathFor(path);
    this.fd = openSync(this.tempPath, this.direct ? "w" : "wx");
  }

  write(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
  }

  /** Flushes to disk and renames over `path`. */
  commit(): void {
    if (this.done) return;
    this.done = true;
    if (this.direct) {
      closeSync(this.fd);
      return;
    }
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tempPath, this.path);
  }

  /** Throws the partial output away; `path` is untouched. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    closeSync(this.fd);
    if (this.direct) return;
    try {
      unlinkSync(this.tempPath);
    } catch {
      // already gone
    }
  }
}

/** Writes a whole file through a temporary file and a rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const f = new PendingFile(path);
  try {
    f.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
    f.commit();
  } catch (err) {
    f.abort();
    throw err;
  }
}
