import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import { PodwireError } from "../../src/base/errors.js";
import { formatIpvsadmConnections, formatIpvsadmList, formatIpvsadmSave, ipvsadmRestore, parseIpvsadmRestore, SVC_F_SCHED1, SVC_F_SCHED2 } from "../../src/ipvs/index.js";
import { ACK, SYN, addr, makeTable, tcp, udp } from "./helpers.js";
import type { Pkt } from "./helpers.js";

function args(p: Pkt): [Uint8Array, number, number] {
  return [p.buf, p.ipOff, p.len];
}

function smallTable() {
  const r = makeTable();
  const { t } = r;
  const api = { protocol: "tcp" as const, addr: addr("10.96.0.1"), port: 443 };
  const dns = { protocol: "udp" as const, addr: addr("10.96.0.10"), port: 53 };
  const web = { protocol: "tcp" as const, addr: addr("192.168.56.10"), port: 30080 };
  t.addService(dns, { scheduler: "rr" });
  t.addService(api, { scheduler: "rr" });
  t.addService(web, { scheduler: "sh", persistent: 10800, netmask: 0xffffff00, schedFlags: SVC_F_SCHED1 | SVC_F_SCHED2 });
  t.addService({ fwmark: 5 }, { scheduler: "wlc" });
  t.addDest(api, { addr: addr("192.168.56.11"), port: 6443 });
  t.addDest(api, { addr: addr("10.244.1.3"), port: 6443 });
  t.addDest(dns, { addr: addr("10.244.0.5"), port: 53 });
  t.addDest(dns, { addr: addr("10.244.0.4"), port: 53, weight: 0 });
  t.addDest(web, { addr: addr("10.244.2.7"), port: 80, weight: 3, fwd: "route" });
  t.addDest({ fwmark: 5 }, { addr: addr("10.244.3.3"), port: 0, fwd: "tunnel" });
  return r;
}

test("ipvsadm -Ln golden text (sorted like ipvsadm, including its int-overflow address order)", (t) => {
  const { t: table } = smallTable();
  table.inbound(...args(tcp("10.244.2.2", 5000, "10.96.0.1", 443, SYN)));
  table.inbound(...args(tcp("10.244.2.2", 5000, "10.96.0.1", 443, ACK)));
  table.inbound(...args(udp("10.244.2.2", 5001, "10.96.0.10", 53)));
  const expected = [
    "IP Virtual Server version 1.2.1 (size=4096)",
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
    // ntohl(a) - ntohl(b) as int: 192.168.x sorts before 10.x
    "TCP  192.168.56.10:30080 sh (sh-fallback,sh-port) persistent 10800 mask 255.255.255.0",
    "  -> 10.244.2.7:80                Route   3      0          0         ",
    "TCP  10.96.0.1:443 rr",
    "  -> 192.168.56.11:6443           Masq    1      0          0         ",
    "  -> 10.244.1.3:6443              Masq    1      1          0         ",
    "UDP  10.96.0.10:53 rr",
    "  -> 10.244.0.4:53                Masq    0      0          0         ",
    "  -> 10.244.0.5:53                Masq    1      0          1         ",
    "FWM  5 wlc",
    "  -> 10.244.3.3:0                 Tunnel  1      0          0         ",
    "",
  ].join("\n");
  t.is(formatIpvsadmList(table.services()), expected);
});

test("ipvsadm-save -n golden text and print ∘ parse ∘ print round trip", (t) => {
  const { t: table } = smallTable();
  const saved = formatIpvsadmSave(table.services());
  t.is(
    saved,
    [
      "-A -t 192.168.56.10:30080 -s sh -b sh-fallback,sh-port -p 10800 -M 255.255.255.0",
      "-a -t 192.168.56.10:30080 -r 10.244.2.7:80 -g -w 3",
      "-A -t 10.96.0.1:443 -s rr",
      "-a -t 10.96.0.1:443 -r 192.168.56.11:6443 -m -w 1",
      "-a -t 10.96.0.1:443 -r 10.244.1.3:6443 -m -w 1",
      "-A -u 10.96.0.10:53 -s rr",
      "-a -u 10.96.0.10:53 -r 10.244.0.4:53 -m -w 0",
      "-a -u 10.96.0.10:53 -r 10.244.0.5:53 -m -w 1",
      "-A -f 5 -s wlc",
      "-a -f 5 -r 10.244.3.3:0 -i -w 1",
      "",
    ].join("\n"),
  );
  const { t: copy } = makeTable();
  ipvsadmRestore(copy, saved);
  t.is(formatIpvsadmSave(copy.services()), saved);
});

// ipvsadm's comparators subtract unsigned addresses into an int, which is not a total
// order once addresses lie 2^31 or more apart (a cycle a < b < c < a is possible), and then
// its own output depends on the kernel's list order. Keep random addresses and marks within 2^30.
const near = fc.integer({ min: 0x0a000000, max: 0x0a000000 + 2 ** 30 });
const arbService = fc.record({
  proto: fc.constantFrom("tcp", "udp", "fwmark"),
  addr: near,
  port: fc.integer({ min: 1, max: 65535 }),
  mark: fc.integer({ min: 1, max: 2 ** 30 }),
  sched: fc.constantFrom("rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh"),
  persistent: fc.option(fc.integer({ min: 1, max: 86400 })),
  netmask: fc.constantFrom(0xffffffff, 0xffffff00, 0xffff0000),
  dests: fc.array(fc.record({ addr: near, port: fc.integer({ min: 0, max: 65535 }), weight: fc.integer({ min: 0, max: 65535 }), fwd: fc.constantFrom("masq", "route", "tunnel") }), { maxLength: 6 }),
});

testProp("save text round-trips for random tables", [fc.array(arbService, { maxLength: 6 })], (t, specs) => {
  const { t: table } = makeTable();
  for (const s of specs) {
    const key = s.proto === "fwmark" ? { fwmark: s.mark } : { protocol: s.proto, addr: s.addr, port: s.port };
    if (table.services().some((x) => ("fwmark" in key ? x.fwmark === key.fwmark : x.fwmark === 0 && x.addr === key.addr && x.port === key.port && x.protocol === (key.protocol === "tcp" ? 6 : 17)))) continue;
    table.addService(key, { scheduler: s.sched, ...(s.persistent !== null ? { persistent: s.persistent, netmask: s.netmask } : {}) });
    for (const d of s.dests) {
      try {
        table.addDest(key, { addr: d.addr, port: d.port, weight: d.weight, fwd: d.fwd });
      } catch {
        // duplicate destination
      }
    }
  }
  const text = formatIpvsadmSave(table.services());
  const { t: copy } = makeTable();
  ipvsadmRestore(copy, text);
  t.is(formatIpvsadmSave(copy.services()), text);
});

function parseError(text: string): PodwireError {
  try {
    parseIpvsadmRestore(text, "rules.txt");
  } catch (e) {
    if (e instanceof PodwireError) return e;
    throw e;
  }
  throw new Error("no error");
}

test("parse errors carry line and column", (t) => {
  let e = parseError("-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r 10.244.1.300:80 -m\n");
  t.deepEqual([e.code, e.location?.line, e.location?.column], ["E_IPVS_PARSE", 2, 24]);
  t.regex(e.message, /^rules\.txt:2:24: not an IPv4 address/);
  e = parseError("\n# comment\n-A -t 10.96.0.1:443 -s rr --frobnicate\n");
  t.deepEqual([e.location?.line, e.location?.column], [3, 27]);
  e = parseError("-a -t 10.96.0.1:443 -r 10.244.1.3:80 -m -w 70000\n");
  t.deepEqual([e.location?.line, e.location?.column], [1, 44]);
  t.regex(e.detail, /illegal weight/);
  e = parseError("-A -t 10.96.0.1:0 -s rr\n");
  t.regex(e.detail, /Zero port specified for non-persistent service/);
  e = parseError("-A -s rr\n");
  t.regex(e.detail, /no virtual service/);
  e = parseError("-A -t 10.96.0.1:443 -u 10.96.0.1:53\n");
  t.is(e.location?.column, 21);
  e = parseError("-A -t 10.96.0.1:443 -s\n");
  t.regex(e.detail, /needs a value/);
  t.is(e.location?.column, 23);
});

test("restore accepts long options, -p without a value, and edits; apply errors report the line", (t) => {
  const { t: table } = makeTable();
  ipvsadmRestore(
    table,
    [
      "--add-service --tcp-service=10.96.0.1:443 --scheduler rr -p",
      "-a -t 10.96.0.1:443 -r 10.244.1.3 -m",
      "-e -t 10.96.0.1:443 -r 10.244.1.3:443 -m -w 0",
      "-A -u 10.96.0.10:53",
    ].join("\n"),
  );
  const svc = table.getService("tcp", addr("10.96.0.1"), 443)!;
  t.is(svc.timeoutSec, 300);
  t.is(svc.dests[0]!.port, 443, "a server without a port takes the service's");
  t.is(svc.dests[0]!.weight, 0);
  t.is(table.getService("udp", addr("10.96.0.10"), 53)!.schedName, "wlc");
  const err = t.throws(() => ipvsadmRestore(table, "-C\n-a -t 10.96.0.1:443 -r 10.244.1.3:443 -m\n", "x"));
  t.regex(err!.message, /^x:2: Service not defined/);
});

test("ipvsadm -Lnc lists connections and templates with their remaining time", (t) => {
  const { t: table, clock } = makeTable();
  const key = { protocol: "tcp" as const, addr: addr("10.96.0.1"), port: 443 };
  table.addService(key, { scheduler: "rr", persistent: 600 });
  table.addDest(key, { addr: addr("10.244.1.3"), port: 6443 });
  table.inbound(...args(tcp("10.244.2.2", 51000, "10.96.0.1", 443, SYN)));
  clock.advanceBy(1_500_000_000);
  t.is(
    formatIpvsadmConnections(table.connections(), clock.now()),
    [
      "IPVS connection entries",
      "pro expire state       source             virtual            destination",
      "TCP 09:58  NONE        10.244.2.2:0       10.96.0.1:443      10.244.1.3:6443",
      "TCP 00:58  SYN_RECV    10.244.2.2:51000   10.96.0.1:443      10.244.1.3:6443",
      "",
    ].join("\n"),
  );
});
