/**
 * `podwire serve`: boots the cluster, keeps it running paced to the wall clock with its
 * background traffic, watches the file when asked, and serves the dashboard, the API and
 * `/metrics` until closed.
 */
import type { ClusterSpec } from "../cluster/spec.js";
import { LiveCluster } from "./live-cluster.js";
import type { ListenAddress } from "./listen.js";
import { Pacer } from "./pacer.js";
import { DashboardServer } from "./server.js";
import type { TrafficProfile } from "./traffic.js";
import { FileWatch } from "./watch.js";

export interface ServeOptions {
  spec: ClusterSpec;
  listen: ListenAddress;
  /** Virtual seconds per real second. */
  speed: number;
  traffic: TrafficProfile;
  /** Watch this file (the -f file) and apply its Service and EndpointSlice changes. */
  watch: { file: string; strict: boolean; override(spec: ClusterSpec): void } | null;
}

export interface ServeHandle {
  /** `http://HOST:PORT/` as bound. */
  url: string;
  live: LiveCluster;
  close(): Promise<void>;
}

export async function startServe(opts: ServeOptions): Promise<ServeHandle> {
  const live = new LiveCluster(opts.spec, opts.traffic);
  const pacer = new Pacer(live, opts.speed);
  const server = new DashboardServer({ live, pacer, loopbackOnly: opts.listen.loopback });
  const address = await server.listen(opts.listen.host, opts.listen.port);
  const watch = opts.watch === null ? null : new FileWatch(opts.watch.file, live, opts.watch);
  watch?.start();
  pacer.start();
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closed = false;
  return {
    url: `http://${host}:${address.port}/`,
    live,
    async close() {
      if (closed) return;
      closed = true;
      pacer.stop();
      watch?.stop();
      live.traffic.stop();
      await server.close();
    },
  };
}
