/**
 * The process of one `podwire bench` row. runner.ts forks this file once per (mode, Service
 * count), so that each row starts from a fresh heap and its memory figures (VmRSS, VmHWM)
 * are its own. Over the IPC channel it receives a `RowRequest`, sends a `RowMessage` for each
 * step and then the finished row, and exits.
 */
import { defaultMode } from "./mode-factory.js";
import type { ProxyModeName } from "./modes.js";
import type { BenchRun } from "./results.js";
import { type RowOptions, runRow } from "./row.js";

export interface RowRequest {
  mode: ProxyModeName;
  services: number;
  options: RowOptions;
}

export type RowMessage = { type: "step"; label: string } | { type: "row"; run: BenchRun } | { type: "error"; message: string };

function send(m: RowMessage): Promise<void> {
  return new Promise((resolve) => process.send!(m, undefined, {}, () => resolve()));
}

if (process.send === undefined) {
  process.stderr.write("podwire: src/bench/row-worker is started by `podwire bench`, not by hand\n");
  process.exitCode = 2;
} else {
  process.once("message", (req: RowRequest) => {
    const steps: Promise<void>[] = [];
    let msg: RowMessage;
    try {
      const run = runRow(defaultMode(req.mode), req.services, req.options, (label) => steps.push(send({ type: "step", label })), true);
      msg = { type: "row", run };
    } catch (err) {
      msg = { type: "error", message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
    }
    void Promise.all(steps)
      .then(() => send(msg))
      .then(() => process.disconnect());
  });
}
