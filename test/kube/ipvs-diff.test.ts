/**
 * Incremental IPVS updates and graceful termination: a diff touches only what changed, and
 * applying it to the previous state gives the next one (property test); removed real servers
 * are deleted or set to weight 0 as graceful_termination.go decides.
 */
import { testProp, fc } from "@fast-check/ava";
import test from "ava";
import {
  diffIpvs,
  gracefulTermination,
  retryGracefulDeletes,
  syncIpvs,
  uniqueRealServerName,
  virtualServerKey,
  type IpvsOperation,
  type IpvsSyncResult,
} from "../../src/kube/index.js";
import { slice, svc, type Ep } from "./build.js";
import { fakeIpvsOptions, ipvsModel } from "./ipvs-helpers.js";

const NODE = fakeIpvsOptions(["100.101.102.103"]);

function state(eps: Ep[], proto = "TCP", extra: Record<string, unknown> = {}): IpvsSyncResult {
  return syncIpvs(
    ipvsModel([
      svc("ns1", "web", { type: "ClusterIP", clusterIP: "10.20.30.41", ports: [{ name: "p80", port: 80, protocol: proto }], ...extra }),
      svc("ns1", "other", { type: "NodePort", clusterIP: "10.20.30.42", ports: [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }] }),
      slice("ns1", "web", [{ name: "p80", port: 80, protocol: proto }], eps),
      slice("ns1", "other", [{ name: "p80", port: 80 }], [{ ip: "10.180.9.9", node: "test-node" }]),
    ]),
    NODE,
  );
}

const A = { ip: "10.180.1.1", node: "node-a" };
const B = { ip: "10.180.1.2", node: "node-b" };
const C = { ip: "10.180.1.3", node: "node-c" };

test("one endpoint added: exactly one real server added, nothing else touched", (t) => {
  const d = diffIpvs(state([A, B]), state([A, B, C]));
  t.deepEqual(d.operations, [{ op: "addRealServer", virtualServer: "10.20.30.41:80/TCP", realServer: { address: "10.180.1.3", port: 80, weight: 1 } }]);
  t.false(d.iptablesChanged);
});

test("one endpoint removed: exactly one real server deleted", (t) => {
  const d = diffIpvs(state([A, B, C]), state([A, C]));
  t.deepEqual(d.operations, [{ op: "deleteRealServer", virtualServer: "10.20.30.41:80/TCP", realServer: { address: "10.180.1.2", port: 80, weight: 1 } }]);
});

test("no change, no operations", (t) => {
  t.deepEqual(diffIpvs(state([A, B]), state([A, B])), { operations: [], iptablesChanged: false });
});

test("affinity switched on: the virtual server is edited in place, real servers untouched", (t) => {
  const d = diffIpvs(state([A]), state([A], "TCP", { sessionAffinity: "ClientIP" }));
  t.deepEqual(d.operations.map((o) => o.op), ["editVirtualServer"]);
});

test("a service removed: its ipset entries, its kube-ipvs0 address and its virtual server go", (t) => {
  const before = state([A]);
  const after = syncIpvs(ipvsModel([svc("ns1", "other", { type: "NodePort", clusterIP: "10.20.30.42", ports: [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }] }), slice("ns1", "other", [{ name: "p80", port: 80 }], [{ ip: "10.180.9.9", node: "test-node" }])]), NODE);
  const d = diffIpvs(before, after);
  t.deepEqual(d.operations, [
    { op: "deleteIpsetEntry", set: "KUBE-CLUSTER-IP", entry: "10.20.30.41,tcp:80" },
    { op: "deleteIpsetEntry", set: "KUBE-IPVS-IPS", entry: "10.20.30.41" },
    { op: "deleteAddress", device: "kube-ipvs0", address: "10.20.30.41" },
    { op: "deleteVirtualServer", virtualServer: { protocol: "TCP", address: "10.20.30.41", port: 80, scheduler: "rr", persistentTimeout: 0, flags: 0, servicePort: "ns1/web:p80", kind: "clusterIP" } },
  ]);
  t.false(d.iptablesChanged);
});

/** Applies operations to a copy of `prev`'s virtual servers, sets and addresses. */
function apply(prev: IpvsSyncResult, ops: readonly IpvsOperation[]) {
  const vss = new Map(prev.virtualServers.map((vs) => [virtualServerKey(vs), { ...vs, realServers: [...vs.realServers] }]));
  const sets = new Map(prev.ipsets.map((s) => [s.name, new Set(s.entries)]));
  const addrs = new Set(prev.dummyAddresses);
  for (const o of ops) {
    switch (o.op) {
      case "addVirtualServer":
      case "editVirtualServer": {
        const k = virtualServerKey(o.virtualServer);
        vss.set(k, { ...o.virtualServer, realServers: vss.get(k)?.realServers ?? [] });
        break;
      }
      case "deleteVirtualServer":
        vss.delete(virtualServerKey(o.virtualServer));
        break;
      case "addRealServer":
      case "editRealServer": {
        const vs = vss.get(o.virtualServer)!;
        vs.realServers = [...vs.realServers.filter((r) => r.address !== o.realServer.address || r.port !== o.realServer.port), o.realServer];
        break;
      }
      case "deleteRealServer": {
        const vs = vss.get(o.virtualServer)!;
        vs.realServers = vs.realServers.filter((r) => r.address !== o.realServer.address || r.port !== o.realServer.port);
        break;
      }
      case "addIpsetEntry":
        sets.get(o.set)!.add(o.entry);
        break;
      case "deleteIpsetEntry":
        sets.get(o.set)!.delete(o.entry);
        break;
      case "addAddress":
        addrs.add(o.address);
        break;
      case "deleteAddress":
        addrs.delete(o.address);
        break;
    }
  }
  const norm = (vs: IpvsSyncResult["virtualServers"][number]) => ({ ...vs, realServers: [...vs.realServers].sort((a, b) => (a.address < b.address ? -1 : 1)) });
  return {
    vss: [...vss.values()].map(norm).sort((a, b) => (virtualServerKey(a) < virtualServerKey(b) ? -1 : 1)),
    sets: Object.fromEntries([...sets].map(([k, v]) => [k, [...v].sort()])),
    addrs: [...addrs].sort(),
  };
}

type ArbState = { eps: string[]; local: string[]; etpLocal: boolean; affinity: boolean; lb: string[]; ext: string[]; ranges: string[]; udp: boolean };

const arbState: fc.Arbitrary<ArbState> = fc.record({
  eps: fc.subarray(["10.180.0.1", "10.180.0.2", "10.180.1.1", "10.180.1.2", "10.180.2.1"]),
  local: fc.subarray(["10.180.0.1", "10.180.0.2"]),
  etpLocal: fc.boolean(),
  affinity: fc.boolean(),
  lb: fc.subarray(["1.2.3.4", "1.2.3.5"]),
  ext: fc.subarray(["50.60.70.81", "100.101.102.103"]),
  ranges: fc.subarray(["10.0.0.0/8", "100.101.0.0/16"]),
  udp: fc.boolean(),
});

function fromArb(s: ArbState): IpvsSyncResult {
  const proto = s.udp ? "UDP" : "TCP";
  return syncIpvs(
    ipvsModel([
      svc("ns1", "web", {
        type: "LoadBalancer", clusterIP: "10.20.30.41", externalIPs: s.ext, externalTrafficPolicy: s.etpLocal ? "Local" : "Cluster",
        ...(s.etpLocal ? { healthCheckNodePort: 30000 } : {}), loadBalancerSourceRanges: s.ranges,
        ...(s.affinity ? { sessionAffinity: "ClientIP" } : {}), ports: [{ name: "p80", port: 80, protocol: proto, nodePort: 3001 }],
      }, { loadBalancer: { ingress: s.lb.map((ip) => ({ ip })) } }),
      slice("ns1", "web", [{ name: "p80", port: 80, protocol: proto }], s.eps.map((ip) => ({ ip, node: s.local.includes(ip) ? "test-node" : "other-node" }))),
    ]),
    NODE,
  );
}

testProp("applying diffIpvs(prev, next) to prev gives next", [arbState, arbState], (t, a, b) => {
  const prev = fromArb(a);
  const next = fromArb(b);
  const got = apply(prev, diffIpvs(prev, next).operations);
  const want = apply(next, []);
  t.deepEqual(got, want);
  if (JSON.stringify(a) === JSON.stringify(b)) t.is(diffIpvs(prev, next).operations.length, 0);
});

// ---------------------------------------------------------------- graceful termination

test("graceful termination: TCP with connections is set to weight 0 and kept; without, deleted", (t) => {
  const prev = state([A, B, C]);
  const next = state([A]);
  const vs = prev.virtualServers.find((v) => v.address === "10.20.30.41")!;
  const conns = new Map([[uniqueRealServerName(vs, { address: B.ip, port: 80 }), { active: 2, inactive: 1 }]]);
  const g = gracefulTermination(prev, next, { connections: conns });
  t.deepEqual(g.deleted.map((r) => r.address), [C.ip]);
  t.deepEqual(g.quiesced.map((r) => r.name), ["10.20.30.41:80/TCP/10.180.1.2:80"]);
  t.deepEqual(g.terminating.map((r) => r.address), [B.ip]);
  const kernel = g.virtualServers.find((v) => v.address === "10.20.30.41")!;
  t.deepEqual(kernel.realServers, [{ address: A.ip, port: 80, weight: 1 }, { address: B.ip, port: 80, weight: 0 }]);

  // A minute later the connections are gone: the retry deletes it.
  t.deepEqual(retryGracefulDeletes(g.terminating, conns).deleted, []);
  const later = retryGracefulDeletes(g.terminating, new Map());
  t.deepEqual(later.deleted.map((r) => r.address), [B.ip]);
  t.deepEqual(later.terminating, []);
});

test("graceful termination: UDP and SCTP real servers are deleted at once, connections or not", (t) => {
  for (const proto of ["UDP", "SCTP"]) {
    const prev = state([A, B], proto);
    const vs = prev.virtualServers.find((v) => v.address === "10.20.30.41")!;
    const conns = new Map([[uniqueRealServerName(vs, { address: B.ip, port: 80 }), { active: 5, inactive: 5 }]]);
    const g = gracefulTermination(prev, state([A], proto), { connections: conns });
    t.deepEqual(g.deleted.map((r) => r.address), [B.ip], proto);
    t.deepEqual(g.quiesced, [], proto);
  }
});

test("graceful termination: a terminating real server that comes back is deleted and re-added at weight 1", (t) => {
  const prev = state([A, B]);
  const vs = prev.virtualServers.find((v) => v.address === "10.20.30.41")!;
  const conns = new Map([[uniqueRealServerName(vs, { address: B.ip, port: 80 }), { active: 1, inactive: 0 }]]);
  const g1 = gracefulTermination(prev, state([A]), { connections: conns });
  const g2 = gracefulTermination(state([A]), state([A, B]), { connections: conns, terminating: g1.terminating });
  t.deepEqual(g2.readded.map((r) => r.address), [B.ip]);
  t.deepEqual(g2.terminating, []);
  t.deepEqual(g2.virtualServers.find((v) => v.address === "10.20.30.41")!.realServers.map((r) => r.weight), [1, 1]);
  // Still gone in the next sync: it stays on the list, untouched.
  const g3 = gracefulTermination(state([A]), state([A]), { connections: conns, terminating: g1.terminating });
  t.deepEqual(g3.deleted, []);
  t.deepEqual(g3.quiesced, []);
  t.is(g3.terminating.length, 1);
});

test("graceful termination: a virtual server that disappears takes its real servers and list entries with it", (t) => {
  const prev = state([A, B]);
  const vs = prev.virtualServers.find((v) => v.address === "10.20.30.41")!;
  const conns = new Map([[uniqueRealServerName(vs, { address: B.ip, port: 80 }), { active: 1, inactive: 0 }]]);
  const g1 = gracefulTermination(prev, state([A]), { connections: conns });
  const gone = syncIpvs(ipvsModel([]), NODE);
  const g2 = gracefulTermination(state([A]), gone, { connections: conns, terminating: g1.terminating });
  t.deepEqual(g2.terminating, []);
  t.deepEqual(g2.deleted, []);
});
