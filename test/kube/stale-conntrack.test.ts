/** The UDP conntrack cleanup decision (pkg/proxy/conntrack/cleanup.go CleanStaleEntries). */
import test from "ava";
import { buildKubeModel, clusterIPOnlyConntrackFilters, conntrackCommand, staleConntrackFilters, type ConntrackEntryView } from "../../src/kube/index.js";
import { slice, svc } from "./build.js";

const dns = (eps: Parameters<typeof slice>[3]) =>
  buildKubeModel(
    [
      svc("kube-system", "kube-dns", { clusterIP: "10.96.0.10", type: "NodePort", externalIPs: ["192.168.56.99"], ports: [{ name: "dns", port: 53, protocol: "UDP", nodePort: 30053 }, { name: "dns-tcp", port: 53, protocol: "TCP" }] }),
      ...(eps.length ? [slice("kube-system", "kube-dns", [{ name: "dns", port: 53, protocol: "UDP" }, { name: "dns-tcp", port: 53 }], eps)] : []),
    ],
    [],
    { serviceCIDR: "10.96.0.0/12" },
  );

const entry = (origDst: string, replySrc: string, origDstPort = 53, protocol: ConntrackEntryView["protocol"] = "udp"): ConntrackEntryView => ({ protocol, origDst, origDstPort, replySrc });

test("entries to a Service IP whose reply source is not a serving endpoint are deleted", (t) => {
  const state = dns([{ ip: "10.244.0.2" }, { ip: "10.244.1.3", ready: false, serving: true, terminating: true }, { ip: "10.244.1.4", ready: false, serving: false }]);
  const filters = staleConntrackFilters(state, [
    entry("10.96.0.10", "10.244.0.2"), // serving: kept
    entry("10.96.0.10", "10.244.1.3"), // serving while terminating: kept
    entry("10.96.0.10", "10.244.1.4"), // not serving: deleted
    entry("10.96.0.10", "10.96.0.10"), // never DNATed (sent while there were no endpoints): deleted
    entry("192.168.56.99", "10.244.9.9"), // external IP, gone endpoint: deleted
    entry("10.96.0.10", "10.244.9.9", 53, "tcp"), // TCP is left alone
    entry("10.96.0.99", "10.244.9.9"), // not a Service IP
  ]);
  t.deepEqual(filters.map(conntrackCommand), [
    "conntrack -D -p udp --orig-dst 10.96.0.10 --reply-src 10.244.1.4",
    "conntrack -D -p udp --orig-dst 10.96.0.10 --reply-src 10.96.0.10",
    "conntrack -D -p udp --orig-dst 192.168.56.99 --reply-src 10.244.9.9",
  ]);
});

test("entries to a UDP node port are matched by port", (t) => {
  const state = dns([{ ip: "10.244.0.2" }]);
  const filters = staleConntrackFilters(state, [entry("192.168.56.11", "10.244.7.7", 30053), entry("192.168.56.11", "10.244.0.2", 30053)]);
  t.deepEqual(filters.map(conntrackCommand), ["conntrack -D -p udp --orig-port-dst 30053 --reply-src 10.244.7.7"]);
});

test("a UDP Service without endpoints clears every entry to it", (t) => {
  const filters = staleConntrackFilters(dns([]), [entry("10.96.0.10", "10.96.0.10"), entry("10.96.0.10", "10.96.0.10")]);
  t.deepEqual(filters, [{ protocol: "udp", origDst: "10.96.0.10", replySrc: "10.96.0.10" }], "duplicates collapse");
});

test("the v1.33 reconciler (PR #130484, until #139629) skips a Service left without serving endpoints (#139628)", (t) => {
  const stale = [entry("10.96.0.10", "10.244.0.2"), entry("192.168.56.11", "10.244.0.2", 30053)];
  t.deepEqual(staleConntrackFilters(dns([]), stale, "", true), [], "the entries to its last, deleted endpoint stay");
  t.is(staleConntrackFilters(dns([]), stale).length, 2, "with #139629 they go");
  t.deepEqual(staleConntrackFilters(dns([{ ip: "10.244.5.5" }]), stale, "", true).map(conntrackCommand), staleConntrackFilters(dns([{ ip: "10.244.5.5" }]), stale).map(conntrackCommand), "N → M > 0 is the same either way");
});

test("kube-proxy v1.3–v1.13 clears removed endpoints by ClusterIP only, and flushes a ClusterIP that gained endpoints (#48370)", (t) => {
  const replaced = clusterIPOnlyConntrackFilters(dns([{ ip: "10.244.0.2" }]), dns([{ ip: "10.244.2.9" }]));
  t.deepEqual(replaced.map(conntrackCommand), ["conntrack -D -p udp --orig-dst 10.96.0.10 --reply-src 10.244.0.2"], "nothing for node port 30053 or external IP 192.168.56.99 (#59368)");
  const gained = clusterIPOnlyConntrackFilters(dns([]), dns([{ ip: "10.244.2.9" }]));
  t.deepEqual(gained.map(conntrackCommand), ["conntrack -D -p udp --orig-dst 10.96.0.10"]);
  t.deepEqual(clusterIPOnlyConntrackFilters(dns([{ ip: "10.244.0.2" }]), dns([{ ip: "10.244.0.2" }])), [], "no change, no cleanup");
});
