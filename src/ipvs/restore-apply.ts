/** Applying `ipvsadm-restore` commands to a table; a failing command reports its line. */
import { PodwireError } from "../base/errors.js";
import type { IpvsCommand } from "./restore-parse.js";
import { parseIpvsadmRestore } from "./restore-parse.js";
import type { IpvsTable } from "./table.js";

export function applyIpvsCommands(table: IpvsTable, cmds: readonly IpvsCommand[], file?: string): void {
  for (const c of cmds) {
    try {
      switch (c.op) {
        case "clear":
          table.flush();
          break;
        case "add-service":
          table.addService(c.key, c.options);
          break;
        case "edit-service":
          table.editService(c.key, c.options);
          break;
        case "delete-service":
          table.deleteService(c.key);
          break;
        case "add-dest":
          table.addDest(c.key, c.dest);
          break;
        case "edit-dest":
          table.editDest(c.key, c.dest);
          break;
        case "delete-dest":
          table.deleteDest(c.key, c.addr, c.port);
          break;
      }
    } catch (e) {
      if (e instanceof PodwireError) throw new PodwireError(e.code, e.detail, { ...(file !== undefined ? { file } : {}), line: c.line }, e.hint);
      throw e;
    }
  }
}

/** ipvsadm-restore: parse `text` and apply it to `table`. */
export function ipvsadmRestore(table: IpvsTable, text: string, file?: string): void {
  applyIpvsCommands(table, parseIpvsadmRestore(text, file), file);
}
