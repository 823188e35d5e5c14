/**
 * How one IPVS-mode sync changes the node, as data.
 *
 * `diffIpvs`: the operations that turn the state of one sync into the next. kube-proxy
 * touches only what changed (syncService skips an equal virtual server, syncEndpoint adds
 * only missing real servers, syncIPSetEntries adds and deletes only the difference, only
 * superfluous kube-ipvs0 addresses are unbound), unlike iptables mode, which rewrites its
 * chains. The iptables text is restored on every sync; `iptablesChanged` says whether that
 * restore changes anything.
 *
 * `gracefulTermination`: what happens to real servers that leave a virtual server
 * (graceful_termination.go). A removed real server is deleted at once when its virtual
 * server is UDP or SCTP or it has no connections (active + inactive); otherwise its weight
 * becomes 0, it keeps serving its connections, and it joins the termination list, which is
 * retried every minute (`retryGracefulDeletes`). A real server that comes back while on the
 * list is deleted and added again with weight 1.
 */
import {
  uniqueRealServerName,
  virtualServerKey,
  type IpvsRealServer,
  type IpvsSyncResult,
  type IpvsVirtualServer,
} from "./ipvs-proxier.js";

/** A virtual server's identity and settings, without its real servers. */
export type IpvsServiceSpec = Omit<IpvsVirtualServer, "realServers">;

export type IpvsOperation =
  | { op: "addVirtualServer"; virtualServer: IpvsServiceSpec }
  | { op: "editVirtualServer"; virtualServer: IpvsServiceSpec }
  | { op: "deleteVirtualServer"; virtualServer: IpvsServiceSpec }
  | { op: "addRealServer"; virtualServer: string; realServer: IpvsRealServer }
  | { op: "editRealServer"; virtualServer: string; realServer: IpvsRealServer }
  | { op: "deleteRealServer"; virtualServer: string; realServer: IpvsRealServer }
  | { op: "addIpsetEntry"; set: string; entry: string }
  | { op: "deleteIpsetEntry"; set: string; entry: string }
  | { op: "addAddress"; device: "kube-ipvs0"; address: string }
  | { op: "deleteAddress"; device: "kube-ipvs0"; address: string };

export interface IpvsDiff {
  /** In kube-proxy's order: virtual servers and bindings, real servers, ipset entries, unbinding, stale virtual servers. */
  operations: IpvsOperation[];
  iptablesChanged: boolean;
}

const rsKey = (rs: IpvsRealServer): string => `${rs.address}:${rs.port}`;

function spec(vs: IpvsVirtualServer): IpvsServiceSpec {
  const { realServers: _rs, ...rest } = vs;
  return rest;
}

/** kube-proxy's VirtualServer.Equal: address, protocol, port, scheduler, flags, timeout. */
function sameService(a: IpvsVirtualServer, b: IpvsVirtualServer): boolean {
  return a.scheduler === b.scheduler && a.flags === b.flags && a.persistentTimeout === b.persistentTimeout;
}

export function diffIpvs(previous: IpvsSyncResult, next: IpvsSyncResult): IpvsDiff {
  const ops: IpvsOperation[] = [];
  const before = new Map(previous.virtualServers.map((vs) => [virtualServerKey(vs), vs]));
  const after = new Map(next.virtualServers.map((vs) => [virtualServerKey(vs), vs]));
  const boundBefore = new Set(previous.dummyAddresses);
  const boundAfter = new Set(next.dummyAddresses);

  const rsOps: IpvsOperation[] = [];
  for (const [key, vs] of after) {
    const old = before.get(key);
    if (!old) ops.push({ op: "addVirtualServer", virtualServer: spec(vs) });
    else if (!sameService(old, vs)) ops.push({ op: "editVirtualServer", virtualServer: spec(vs) });
    const oldRs = new Map((old?.realServers ?? []).map((rs) => [rsKey(rs), rs]));
    const newRs = new Map(vs.realServers.map((rs) => [rsKey(rs), rs]));
    for (const [k, rs] of newRs) {
      const was = oldRs.get(k);
      if (!was) rsOps.push({ op: "addRealServer", virtualServer: key, realServer: rs });
      else if (was.weight !== rs.weight) rsOps.push({ op: "editRealServer", virtualServer: key, realServer: rs });
    }
    for (const [k, rs] of oldRs) if (!newRs.has(k)) rsOps.push({ op: "deleteRealServer", virtualServer: key, realServer: rs });
  }
  for (const a of next.dummyAddresses) if (!boundBefore.has(a)) ops.push({ op: "addAddress", device: "kube-ipvs0", address: a });
  ops.push(...rsOps);
  const oldSets = new Map(previous.ipsets.map((s) => [s.name, new Set(s.entries)]));
  for (const s of next.ipsets) {
    const was = oldSets.get(s.name) ?? new Set<string>();
    const now = new Set(s.entries);
    for (const e of [...was].sort()) if (!now.has(e)) ops.push({ op: "deleteIpsetEntry", set: s.name, entry: e });
    for (const e of s.entries) if (!was.has(e)) ops.push({ op: "addIpsetEntry", set: s.name, entry: e });
  }
  for (const a of previous.dummyAddresses) if (!boundAfter.has(a)) ops.push({ op: "deleteAddress", device: "kube-ipvs0", address: a });
  for (const [key, vs] of before) if (!after.has(key)) ops.push({ op: "deleteVirtualServer", virtualServer: spec(vs) });
  return { operations: ops, iptablesChanged: previous.iptablesText !== next.iptablesText };
}

// ---------------------------------------------------------------- graceful termination

export interface ConnectionCounts {
  active: number;
  inactive: number;
}

/** One real server of one virtual server; `name` is kube-proxy's unique RS name. */
export interface RealServerRef {
  name: string;
  virtualServer: string;
  protocol: IpvsVirtualServer["protocol"];
  address: string;
  port: number;
}

export interface GracefulTerminationInput {
  /** Connections per real server, keyed by `uniqueRealServerName` (absent: 0 and 0). */
  connections?: ReadonlyMap<string, ConnectionCounts>;
  /** The termination list left by earlier syncs (real servers at weight 0). */
  terminating?: readonly RealServerRef[];
}

export interface GracefulTerminationResult {
  /** Removed real servers deleted now (UDP/SCTP, or no connections). */
  deleted: RealServerRef[];
  /** Removed real servers set to weight 0 and kept for their connections. */
  quiesced: RealServerRef[];
  /** Real servers on the list that came back: deleted, then added again with weight 1. */
  readded: RealServerRef[];
  /** The termination list after this sync. */
  terminating: RealServerRef[];
  /** The real servers in the kernel after this sync: the next sync's, plus quiesced ones at weight 0. */
  virtualServers: IpvsVirtualServer[];
}

/** IsRsGracefulTerminationNeeded: only TCP connections are waited for. */
export function gracefulTerminationNeeded(protocol: string): boolean {
  return protocol.toUpperCase() !== "UDP" && protocol.toUpperCase() !== "SCTP";
}

function ref(vs: IpvsVirtualServer, rs: Pick<IpvsRealServer, "address" | "port">): RealServerRef {
  return { name: uniqueRealServerName(vs, rs), virtualServer: virtualServerKey(vs), protocol: vs.protocol, address: rs.address, port: rs.port };
}

function deletableNow(r: RealServerRef, connections: ReadonlyMap<string, ConnectionCounts> | undefined): boolean {
  const c = connections?.get(r.name);
  return !gracefulTerminationNeeded(r.protocol) || (c?.active ?? 0) + (c?.inactive ?? 0) === 0;
}

/**
 * syncEndpoint's handling of real servers between two syncs. Virtual servers that disappear
 * are deleted with all their real servers (cleanLegacyService), so they are not listed here
 * and their entries leave the termination list.
 */
export function gracefulTermination(previous: IpvsSyncResult, next: IpvsSyncResult, input: GracefulTerminationInput = {}): GracefulTerminationResult {
  const before = new Map(previous.virtualServers.map((vs) => [virtualServerKey(vs), vs]));
  const list = new Map((input.terminating ?? []).map((r) => [r.name, r]));
  const deleted: RealServerRef[] = [];
  const quiesced: RealServerRef[] = [];
  const readded: RealServerRef[] = [];
  const virtualServers: IpvsVirtualServer[] = [];
  const live = new Set<string>();

  for (const vs of next.virtualServers) {
    const key = virtualServerKey(vs);
    live.add(key);
    const wanted = new Set(vs.realServers.map(rsKey));
    const kernel: IpvsRealServer[] = vs.realServers.map((rs) => ({ ...rs }));
    for (const rs of vs.realServers) {
      const r = ref(vs, rs);
      if (list.has(r.name)) {
        list.delete(r.name);
        readded.push(r);
      }
    }
    for (const rs of before.get(key)?.realServers ?? []) {
      if (wanted.has(rsKey(rs))) continue;
      const r = ref(vs, rs);
      if (list.has(r.name)) continue; // already terminating
      if (deletableNow(r, input.connections)) deleted.push(r);
      else {
        quiesced.push(r);
        list.set(r.name, r);
      }
    }
    // Terminating servers stay in the kernel with weight 0 until they are deleted.
    for (const r of list.values()) {
      if (r.virtualServer === key && !wanted.has(`${r.address}:${r.port}`)) kernel.push({ address: r.address, port: r.port, weight: 0 });
    }
    virtualServers.push({ ...vs, realServers: kernel });
  }
  for (const [name, r] of list) if (!live.has(r.virtualServer)) list.delete(name);
  return { deleted, quiesced, readded, terminating: [...list.values()], virtualServers };
}

/** The once-a-minute retry (tryDeleteRs): which listed real servers can go now, and which stay. */
export function retryGracefulDeletes(
  terminating: readonly RealServerRef[],
  connections?: ReadonlyMap<string, ConnectionCounts>,
): { deleted: RealServerRef[]; terminating: RealServerRef[] } {
  const deleted: RealServerRef[] = [];
  const kept: RealServerRef[] = [];
  for (const r of terminating) (deletableNow(r, connections) ? deleted : kept).push(r);
  return { deleted, terminating: kept };
}
