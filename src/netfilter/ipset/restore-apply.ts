/**
 * Applies a parsed restore file atomically: every command runs, with all its checks, on a
 * copy of the registry, and only when all succeed does the registry take the copy's state
 * (sets that already existed keep their identity, so rules holding them stay attached).
 * Real `ipset restore` is not atomic; podwire is, so a bad file changes nothing. Errors
 * carry the file, line and the column of the part at fault.
 */
import { PodwireError } from "../../base/errors.js";
import type { IpsetRegistry } from "./registry.js";
import type { IpsetCommand, IpsetRestoreDoc } from "./restore-doc.js";

export interface ApplyIpsetOptions {
  /** `ipset -exist restore`. */
  exist?: boolean;
}

function run(reg: IpsetRegistry, cmd: IpsetCommand, exist: boolean): void {
  switch (cmd.op) {
    case "create":
      reg.create(cmd.name, cmd.type, cmd.options, exist);
      return;
    case "add":
      reg.add(cmd.name, cmd.entry, cmd.options, exist);
      return;
    case "del":
      reg.del(cmd.name, cmd.entry, exist);
      return;
    case "flush":
      reg.flush(cmd.name);
      return;
    case "destroy":
      reg.destroy(cmd.name, exist);
      return;
    case "rename":
      reg.rename(cmd.name, cmd.to);
      return;
    case "swap":
      reg.swap(cmd.name, cmd.to);
      return;
  }
}

export function applyIpsetRestore(registry: IpsetRegistry, doc: IpsetRestoreDoc, options: ApplyIpsetOptions = {}): void {
  const work = registry.fork();
  for (const cmd of doc.commands) {
    try {
      run(work, cmd, options.exist ?? false);
    } catch (e) {
      if (!(e instanceof PodwireError)) throw e;
      const field = e.location?.field;
      const column = (field === undefined ? undefined : cmd.columns[field]) ?? cmd.columns.command;
      throw new PodwireError(e.code, e.detail, { file: doc.file, line: cmd.line, column }, e.hint);
    }
  }
  registry.commit(work);
}
