import test from "ava";
import { VirtualClock, NS_PER_SEC } from "../../src/base/clock.js";
import { PodwireError } from "../../src/base/errors.js";
import { ipv4 } from "../../src/base/ipv4-int.js";
import { IpsetRegistry, saveIpsets } from "../../src/netfilter/ipset/index.js";

const TCP = 6;
const UDP = 17;
const SCTP = 132;

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof PodwireError) return e.code;
    throw e;
  }
  return "no error";
}

test("hash:ip: add, test, del; CIDRs and ranges expand", (t) => {
  const r = new IpsetRegistry();
  const s = r.create("IPS", "hash:ip");
  t.deepEqual(s.dims, ["ip"]);
  r.add("IPS", "10.96.0.1");
  r.add("IPS", "10.0.0.8/30");
  r.add("IPS", "10.0.1.5-10.0.1.3");
  t.true(s.test(ipv4("10.96.0.1")));
  t.true(s.test(ipv4("10.0.0.11")));
  t.false(s.test(ipv4("10.0.0.12")));
  t.true(r.test("IPS", "10.0.1.4"));
  t.is(s.size, 8);
  r.del("IPS", "10.96.0.1");
  t.false(s.test(ipv4("10.96.0.1")));
  t.is(code(() => r.del("IPS", "10.96.0.1")), "E_IPSET_NOT_MEMBER");
  r.del("IPS", "10.96.0.1", true);
  t.is(code(() => r.add("IPS", "10.0.0.9")), "E_IPSET_DUPLICATE");
  t.is(code(() => r.add("IPS", "0.0.0.0")), "E_IPSET_ENTRY");
  // A signed (| 0) address finds the same member as the unsigned one.
  r.add("IPS", "203.0.113.7");
  t.true(s.test(ipv4("203.0.113.7") | 0));
});

test("hash:ip,port: the protocol is part of the element; a bare port is tcp", (t) => {
  const r = new IpsetRegistry();
  const s = r.create("CIP", "hash:ip,port");
  t.deepEqual(s.dims, ["ip", "port"]);
  r.add("CIP", "10.96.0.10,53");
  r.add("CIP", "10.96.0.10,udp:53");
  r.add("CIP", "10.96.0.11,sctp:3868");
  r.add("CIP", "10.96.0.12,tcp:8080-8082");
  t.true(s.test(ipv4("10.96.0.10"), 53, 0, TCP));
  t.true(s.test(ipv4("10.96.0.10"), 53, 0, UDP));
  t.false(s.test(ipv4("10.96.0.11"), 3868, 0, TCP));
  t.true(s.test(ipv4("10.96.0.11"), 3868, 0, SCTP));
  t.true(s.test(ipv4("10.96.0.12"), 8081, 0, TCP));
  t.false(s.test(ipv4("10.96.0.12"), 8083, 0, TCP));
  t.true(r.test("CIP", "10.96.0.10,tcp:53"));
  r.del("CIP", "10.96.0.10,tcp:53");
  t.false(s.test(ipv4("10.96.0.10"), 53, 0, TCP));
  t.true(s.test(ipv4("10.96.0.10"), 53, 0, UDP));
  t.is(saveIpsets(r).split("\n")[1], "add CIP 10.96.0.10,udp:53");
  t.is(code(() => r.add("CIP", "10.96.0.10,udp:70000")), "E_IPSET_PORT");
  t.is(code(() => r.add("CIP", "10.96.0.10,quic:1")), "E_IPSET_PROTO");
  t.is(code(() => r.add("CIP", "10.96.0.10,gre:5")), "E_IPSET_PORT");
  t.is(code(() => r.add("CIP", "10.96.0.10")), "E_IPSET_ENTRY");
  t.is(code(() => r.add("CIP", "10.96.0.10,1,2")), "E_IPSET_ENTRY");
  t.is(code(() => r.add("CIP", "10.96.0.10,http")), "E_IPSET_PORT");
});

test("hash:ip,port,ip: all three parts must match; the third is a plain address", (t) => {
  const r = new IpsetRegistry();
  const s = r.create("LB", "hash:ip,port,ip");
  t.deepEqual(s.dims, ["ip", "port", "ip"]);
  r.add("LB", "10.244.1.5,tcp:8080,10.244.1.5");
  t.true(s.test(ipv4("10.244.1.5"), 8080, ipv4("10.244.1.5"), TCP));
  t.false(s.test(ipv4("10.244.1.5"), 8080, ipv4("10.244.1.6"), TCP));
  t.false(s.test(ipv4("10.244.1.5"), 8080, ipv4("10.244.1.5"), UDP));
  t.is(code(() => r.add("LB", "10.244.1.5,tcp:80,10.244.1.0/24")), "E_IPSET_ENTRY");
});

test("hash:net: longest prefix decides, nomatch excludes, /32 prints bare", (t) => {
  const r = new IpsetRegistry();
  const s = r.create("NETS", "hash:net");
  t.deepEqual(s.dims, ["net"]);
  r.add("NETS", "10.0.0.0/8");
  r.add("NETS", "10.1.0.0/16", { nomatch: true });
  r.add("NETS", "10.1.2.0/24");
  r.add("NETS", "172.16.5.9/32");
  r.add("NETS", "192.168.7.99/24");
  t.true(s.test(ipv4("10.200.0.1")));
  t.false(s.test(ipv4("10.1.200.1")));
  t.true(s.test(ipv4("10.1.2.200")));
  t.true(s.test(ipv4("172.16.5.9")));
  t.false(s.test(ipv4("172.16.5.10")));
  t.true(s.test(ipv4("192.168.7.1")));
  // `ipset test` with a prefix is an exact lookup, with a host a longest-prefix one.
  t.false(r.test("NETS", "10.1.0.0/16"));
  t.false(r.test("NETS", "10.0.0.0/9"));
  t.true(r.test("NETS", "10.0.0.0/8"));
  t.deepEqual(saveIpsets(r).trimEnd().split("\n").slice(1), [
    "add NETS 10.0.0.0/8",
    "add NETS 10.1.0.0/16 nomatch",
    "add NETS 10.1.2.0/24",
    "add NETS 172.16.5.9",
    "add NETS 192.168.7.0/24",
  ]);
  r.del("NETS", "10.1.0.0/16");
  t.true(s.test(ipv4("10.1.200.1")));
  r.del("NETS", "10.0.0.0/8");
  t.false(s.test(ipv4("10.1.200.1")));
  t.is(code(() => r.add("NETS", "0.0.0.0/0")), "E_IPSET_ENTRY");
  t.is(code(() => r.add("NETS", "10.0.0.0/33")), "E_IPSET_ENTRY");
  r.add("NETS", "1.1.1.0-1.1.1.5");
  t.is(s.members().filter((m) => m.key.startsWith("1.1.1.")).map((m) => m.key).join(" "), "1.1.1.0/30 1.1.1.4/31");
});

test("hash:ip,port,net: ip and port exact, the net part by longest prefix", (t) => {
  const r = new IpsetRegistry();
  const s = r.create("SRC", "hash:ip,port,net");
  t.deepEqual(s.dims, ["ip", "port", "net"]);
  r.add("SRC", "1.2.3.4,tcp:80,203.0.113.0/25");
  r.add("SRC", "1.2.3.4,tcp:80,10.0.0.0/8");
  r.add("SRC", "1.2.3.4,tcp:80,10.1.0.0/16", { nomatch: true });
  const lb = ipv4("1.2.3.4");
  t.true(s.test(lb, 80, ipv4("203.0.113.100"), TCP));
  t.false(s.test(lb, 80, ipv4("203.0.113.200"), TCP));
  t.false(s.test(lb, 80, ipv4("203.0.113.100"), UDP));
  t.false(s.test(lb, 81, ipv4("203.0.113.100"), TCP));
  t.true(s.test(lb, 80, ipv4("10.9.9.9"), TCP));
  t.false(s.test(lb, 80, ipv4("10.1.9.9"), TCP));
  t.true(r.test("SRC", "1.2.3.4,tcp:80,10.9.9.9"));
  t.is(saveIpsets(r).split("\n")[1], "add SRC 1.2.3.4,tcp:80,203.0.113.0/25");
  t.is(code(() => r.add("SRC", "1.2.3.4,tcp:80,10.2.0.0/16", { nomatch: false, comment: "x" })), "E_IPSET_OPTION");
});

test("bitmap:port: the range bounds entries; only tcp and udp packets match", (t) => {
  const r = new IpsetRegistry();
  const s = r.create("NP", "bitmap:port", { range: { min: 30000, max: 32767 } });
  t.deepEqual(s.dims, ["port"]);
  r.add("NP", "30001");
  r.add("NP", "tcp:30002-30003");
  t.true(s.test(30001, 0, 0, TCP));
  t.true(s.test(30003, 0, 0, UDP));
  t.false(s.test(30001, 0, 0, SCTP));
  t.false(s.test(30004, 0, 0, TCP));
  t.false(s.test(80, 0, 0, TCP));
  t.true(r.test("NP", "30002"));
  t.is(code(() => r.add("NP", "80")), "E_IPSET_RANGE");
  t.is(code(() => r.add("NP", "32760-32768")), "E_IPSET_RANGE");
  t.is(code(() => r.create("NP2", "bitmap:port")), "E_IPSET_OPTION");
  t.is(code(() => r.create("NP3", "bitmap:port", { range: { min: 0, max: 1 }, hashsize: 64 })), "E_IPSET_OPTION");
  t.is(code(() => r.add("NP", "30005", { nomatch: true })), "E_IPSET_OPTION");
  const rev = r.create("REV", "bitmap:port", { range: { min: 20, max: 10 } });
  t.deepEqual([rev.header.rangeMin, rev.header.rangeMax], [10, 20]);
});

test("timeouts expire on the virtual clock; save prints whole seconds left", (t) => {
  const clock = new VirtualClock();
  const r = new IpsetRegistry(clock);
  const s = r.create("T", "hash:ip", { timeout: 30 });
  r.add("T", "10.0.0.1");
  r.add("T", "10.0.0.2", { timeout: 5 });
  r.add("T", "10.0.0.3", { timeout: 0 });
  t.is(saveIpsets(r), "create T hash:ip family inet hashsize 1024 maxelem 65536 timeout 30 bucketsize 12\nadd T 10.0.0.1 timeout 30\nadd T 10.0.0.2 timeout 5\nadd T 10.0.0.3 timeout 0\n");
  clock.advanceBy(5 * NS_PER_SEC);
  t.true(s.test(ipv4("10.0.0.2")), "alive at exactly its expiry instant");
  clock.advanceBy(1);
  t.false(s.test(ipv4("10.0.0.2")));
  t.true(s.test(ipv4("10.0.0.1")));
  clock.advanceBy(24.9 * NS_PER_SEC);
  t.is(saveIpsets(r).split("\n")[1], "add T 10.0.0.1 timeout 1");
  clock.advanceBy(NS_PER_SEC);
  t.false(s.test(ipv4("10.0.0.1")));
  t.true(s.test(ipv4("10.0.0.3")));
  t.is(s.size, 1);
  // An expired element can be added again without -exist.
  r.add("T", "10.0.0.2");
  t.true(s.test(ipv4("10.0.0.2")));
  // -exist refreshes the timeout.
  clock.advanceBy(10 * NS_PER_SEC);
  r.add("T", "10.0.0.2", {}, true);
  t.is(saveIpsets(r).split("\n").find((l) => l.includes("10.0.0.2")), "add T 10.0.0.2 timeout 30");
  t.is(code(() => r.add("T", "10.0.0.9", { timeout: 2147484 })), "E_IPSET_VALUE");
  const plain = r.create("P", "hash:ip");
  t.is(code(() => plain.add("10.0.0.1", { timeout: 5 }, false)), "E_IPSET_OPTION");
});

test("hash:net: an expired longer prefix lets the shorter one decide", (t) => {
  const clock = new VirtualClock();
  const r = new IpsetRegistry(clock);
  const s = r.create("N", "hash:net", { timeout: 0 });
  r.add("N", "10.0.0.0/8");
  r.add("N", "10.1.0.0/16", { nomatch: true, timeout: 1 });
  t.false(s.test(ipv4("10.1.0.1")));
  clock.advanceBy(2 * NS_PER_SEC);
  t.true(s.test(ipv4("10.1.0.1")));
});

test("counters and comments are kept, printed and counted", (t) => {
  const r = new IpsetRegistry();
  const s = r.create("C", "hash:ip,port", { counters: true, comment: true });
  r.add("C", "10.96.0.1,tcp:443", { packets: 5, bytes: 300, comment: "default/kubernetes:https" });
  t.true(s.testAndCount(ipv4("10.96.0.1"), 443, 0, TCP, 60));
  t.false(s.testAndCount(ipv4("10.96.0.1"), 443, 0, UDP, 60));
  t.is(saveIpsets(r).split("\n")[1], 'add C 10.96.0.1,tcp:443 packets 6 bytes 360 comment "default/kubernetes:https"');
  // -exist keeps the counters and replaces the comment (dropping it when none is given).
  r.add("C", "10.96.0.1,tcp:443", {}, true);
  t.is(saveIpsets(r).split("\n")[1], "add C 10.96.0.1,tcp:443 packets 6 bytes 360");
  t.is(code(() => r.add("C", "10.96.0.2,tcp:443", { comment: 'say "hi"' })), "E_IPSET_VALUE");
  t.is(code(() => r.add("C", "10.96.0.2,tcp:443", { comment: "x".repeat(256) })), "E_IPSET_VALUE");
});

test("maxelem bounds the set; a range that does not fit adds nothing", (t) => {
  const r = new IpsetRegistry();
  const s = r.create("M", "hash:ip", { maxelem: 3 });
  r.add("M", "10.0.0.1");
  t.is(code(() => r.add("M", "10.0.0.4/30")), "E_IPSET_FULL");
  t.is(s.size, 1);
  r.add("M", "10.0.0.2-10.0.0.3");
  t.is(code(() => r.add("M", "10.0.0.9")), "E_IPSET_FULL");
  t.is(code(() => r.add("M", "10.0.0.0/8")), "E_IPSET_RANGE");
});

test("registry: create -exist, rename, swap keep rule-held sets following their names", (t) => {
  const r = new IpsetRegistry();
  const a = r.create("A", "hash:ip");
  const b = r.create("B", "hash:ip", { hashsize: 64 });
  r.add("A", "10.0.0.1");
  r.add("B", "10.0.0.2");
  t.is(r.create("A", "hash:ip", { hashsize: 4096 }, true), a);
  t.is(code(() => r.create("A", "hash:ip")), "E_IPSET_SET_EXISTS");
  t.is(code(() => r.create("A", "hash:net", {}, true)), "E_IPSET_SET_EXISTS");
  t.is(code(() => r.create("A", "hash:ip", { maxelem: 5 }, true)), "E_IPSET_SET_EXISTS");
  r.swap("A", "B");
  t.true(a.test(ipv4("10.0.0.2")));
  t.false(a.test(ipv4("10.0.0.1")));
  t.is(a.name, "A");
  t.is(a.header.hashsize, 64);
  r.rename("B", "C");
  t.is(b.name, "C");
  t.true(b.test(ipv4("10.0.0.1")));
  t.is(code(() => r.rename("C", "A")), "E_IPSET_SET_EXISTS");
  t.is(code(() => r.swap("A", "NOPE")), "E_IPSET_UNKNOWN_SET");
  r.create("N", "hash:net");
  t.is(code(() => r.swap("A", "N")), "E_IPSET_TYPE_MISMATCH");
  t.is(code(() => r.create("X".repeat(32), "hash:ip")), "E_IPSET_NAME");
  t.is(code(() => r.create("Y", "hash:mac")), "E_IPSET_TYPE");
  t.is(code(() => r.create("Y", "hash:ip", { family: "inet6" })), "E_IPSET_FAMILY");
  t.is(code(() => r.add("NOPE", "10.0.0.1")), "E_IPSET_UNKNOWN_SET");
  // A destroyed set's slot is reused by the next create, as in the kernel's set list.
  r.destroy("A");
  r.create("Z", "hash:ip");
  t.deepEqual(r.list().map((s) => s.name), ["Z", "C", "N"]);
  r.destroy("GONE", true);
  t.is(code(() => r.destroy("GONE")), "E_IPSET_UNKNOWN_SET");
  r.flush();
  t.is(b.size, 0);
  r.destroy();
  t.deepEqual(r.list(), []);
});

test("header normalisation: hashsize power of two (min 64), bucketsize even 2..12", (t) => {
  const r = new IpsetRegistry();
  const h = (o: object) => {
    const name = `S${r.list().length}`;
    return r.create(name, "hash:ip", o).header;
  };
  t.is(h({ hashsize: 100 }).hashsize, 128);
  t.is(h({ hashsize: 0 }).hashsize, 64);
  t.is(h({ hashsize: 1048577 }).hashsize, 2097152);
  t.is(h({ bucketsize: 0 }).bucketsize, 2);
  t.is(h({ bucketsize: 5 }).bucketsize, 6);
  t.is(h({ bucketsize: 13 }).bucketsize, 12);
  t.is(h({ initval: 1 }).initval, 1);
  t.true(saveIpsets(r).includes("bucketsize 12 initval 0x00000001\n"));
});
