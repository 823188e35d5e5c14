/**
 * `serve --watch`: the cluster file is polled (fs.watchFile, which also follows editors that
 * save by renaming a new file into place); when it changes it is read again like `-f` reads
 * it, and its Services and EndpointSlices go to kube-proxy as changes. What kube-proxy does not
 * watch — Nodes, Pods, the Cluster document — needs a restart, and is reported as ignored.
 * A file that no longer reads is reported too; the cluster runs on as it was.
 */
import { type StatWatcher, unwatchFile, watchFile } from "node:fs";
import { PodwireError } from "../base/index.js";
import { loadClusterFile } from "../cluster/load.js";
import type { ClusterSpec } from "../cluster/spec.js";
import type { LiveCluster } from "./live-cluster.js";

const POLL_MS = 300;

export interface WatchOptions {
  strict: boolean;
  /** Applied to every reload, as on the command line (--seed, --mode). */
  override(spec: ClusterSpec): void;
}

export class FileWatch {
  private watcher: StatWatcher | null = null;

  constructor(
    readonly file: string,
    readonly live: LiveCluster,
    readonly options: WatchOptions,
  ) {}

  start(): void {
    this.watcher = watchFile(this.file, { interval: POLL_MS, persistent: false }, (cur, prev) => {
      if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
      this.reload();
    });
  }

  stop(): void {
    if (this.watcher !== null) unwatchFile(this.file);
    this.watcher = null;
  }

  /** Reads the file again and applies what kube-proxy would see of it. */
  reload(): void {
    let next: ClusterSpec;
    try {
      next = loadClusterFile(this.file, { strict: this.options.strict });
      this.options.override(next);
    } catch (err) {
      // Never a crash of the server: a bad file is the user's to fix, anything else a bug to report.
      this.live.fileError(`${this.file} not applied: ${err instanceof PodwireError ? err.message : `internal error (please report it): ${err instanceof Error ? err.message : String(err)}`}`);
      return;
    }
    try {
      this.live.applyObjects(next, ignoredChanges(this.live.spec, next));
    } catch (err) {
      this.live.fileError(`${this.file} not applied: ${err instanceof PodwireError ? err.message : `internal error (please report it): ${err instanceof Error ? err.message : String(err)}`}`);
    }
  }
}

/** What changed in `next` beyond Services and EndpointSlices, one line each. */
export function ignoredChanges(current: ClusterSpec, next: ClusterSpec): string[] {
  const out: string[] = [];
  const same = (a: unknown, b: unknown) => JSON.stringify(a, withoutLocations) === JSON.stringify(b, withoutLocations);
  if (!same(current.nodes, next.nodes)) out.push("Nodes changed: not applied while serving (restart podwire serve)");
  if (!same(current.pods, next.pods)) out.push("Pods changed: not applied while serving (restart podwire serve)");
  if (!same(current.externalHosts, next.externalHosts)) out.push("external hosts changed: not applied while serving (restart podwire serve)");
  const settings = (s: ClusterSpec) => [s.clusterCIDR, s.serviceCIDR, s.nodeNetwork, s.nodeMTU, s.overlay, s.proxyMode, s.kubeProxy, s.nodeSettings, s.serviceNodePortRange];
  if (!same(settings(current), settings(next))) out.push("the Cluster document changed: not applied while serving (restart podwire serve)");
  return out;
}

function withoutLocations(key: string, value: unknown): unknown {
  return key === "location" ? undefined : value;
}
