/**
 * Start-up times of the podwire bin beside bare node's, interleaved (`node -e 0`, then
 * `podwire --help`, then `podwire trace` on the embedded cluster, round after round): the
 * wall time of each process, and its CPU time (user + system, from this process's children
 * times in /proc/self/stat, 10 ms ticks). On a shared machine the ratio to bare node is the
 * steadier figure. Says which code the bin ran: the compiled dist/ or the sources via tsx.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hostNowMs } from "../src/base/index.js";
import { type Sample, interleave, pairedRatio, summarize } from "../src/bench/stats.js";

export interface StartupFigure {
  command: string;
  wallMs: Sample;
  cpuMs: Sample | null;
  /** Wall time ÷ bare node's, per round. */
  ratioToNode: Sample | null;
}

export interface StartupFigures {
  repeats: number;
  /** "dist" (the compiled build) or "tsx" (the sources), and why. */
  ran: string;
  node: StartupFigure;
  help: StartupFigure;
  trace: StartupFigure;
}

const TICK_MS = 10;

/** User + system time of this process's waited-for children so far (ms), or null off Linux. */
function childrenCpuMs(): number | null {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 16 and 17 of proc(5) (cutime, cstime) are at 13 and 14 after the command name.
    return (Number(fields[13]) + Number(fields[14])) * TICK_MS;
  } catch {
    return null;
  }
}

/** `ran`: which code the bin runs (scripts/dist-state.mjs, read by the caller: it is not compiled into dist/bench). */
export function measureStartup(root: string, repeats: number, ran: string): StartupFigures {
  const bin = join(root, "bin", "podwire.js");
  const commands = {
    node: ["-e", "0"],
    help: [bin, "--help"],
    trace: [bin, "trace", "--from", "pod/default/client", "--to", "svc/default/web"],
  };
  const cpu: Record<keyof typeof commands, number[]> = { node: [], help: [], trace: [] };
  const run = (k: keyof typeof commands): number => {
    const c0 = childrenCpuMs();
    const t0 = hostNowMs();
    const r = spawnSync(process.execPath, commands[k], { cwd: root, encoding: "utf8", env: { ...process.env, PODWIRE_TSX: "" } });
    const ms = hostNowMs() - t0;
    const c1 = childrenCpuMs();
    if (r.status !== 0) throw new Error(`${commands[k].join(" ")} exited ${r.status}: ${r.stderr.slice(0, 400)}`);
    if (c0 !== null && c1 !== null) cpu[k].push(c1 - c0);
    return ms;
  };
  run("help"); // the file cache warm, as for anyone's second start
  const rounds = interleave(repeats, { node: () => run("node"), help: () => run("help"), trace: () => run("trace") });
  const figure = (k: keyof typeof commands, label: string): StartupFigure => ({
    command: label,
    wallMs: summarize(rounds[k])!,
    cpuMs: summarize(cpu[k]),
    ratioToNode: k === "node" ? null : pairedRatio(rounds[k], rounds.node),
  });
  return {
    repeats,
    ran,
    node: figure("node", "node -e 0"),
    help: figure("help", "podwire --help"),
    trace: figure("trace", "podwire trace --from pod/default/client --to svc/default/web"),
  };
}
