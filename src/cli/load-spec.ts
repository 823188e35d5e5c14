/**
 * How every command loads its cluster: the file (or the embedded default), `--seed`,
 * `--mode` and `--strict`, and the one summary line on stderr of what was read and what
 * was left out.
 */
import { PodwireError } from "../base/index.js";
import { defaultCluster, loadClusterFile } from "../cluster/load.js";
import type { ClusterSpec, ProxyMode } from "../cluster/spec.js";

export interface LoadSpecOptions {
  seed?: string | undefined;
  mode?: ProxyMode | undefined;
  strict?: boolean | undefined;
  /** Print the summary line on stderr (default: when a file was given). */
  summary?: boolean;
}

export function loadSpec(file: string | undefined, opts: LoadSpecOptions = {}): ClusterSpec {
  const spec = file ? loadClusterFile(file, { strict: opts.strict ?? false }) : defaultCluster();
  if (opts.seed !== undefined) spec.seed = parseSeed(opts.seed);
  if (opts.mode !== undefined) spec.proxyMode = opts.mode;
  if ((opts.summary ?? file !== undefined) && spec.summary) process.stderr.write(`podwire: ${spec.source}: ${spec.summary.text}\n`);
  return spec;
}

export function parseSeed(text: string): number {
  if (!/^[0-9]+$/.test(text) || Number(text) > 0xffffffff) {
    throw new PodwireError("E_ARG", `--seed ${JSON.stringify(text)} is not a whole number from 0 to 4294967295`, { field: "--seed" }, "pass e.g. --seed 1");
  }
  return Number(text);
}
