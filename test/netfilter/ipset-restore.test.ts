import test from "ava";
import { PodwireError } from "../../src/base/errors.js";
import { ipv4 } from "../../src/base/ipv4-int.js";
import { applyIpsetRestore, IpsetRegistry, parseIpsetRestore, saveIpsets } from "../../src/netfilter/ipset/index.js";

function restore(text: string, reg = new IpsetRegistry(), exist = false): IpsetRegistry {
  applyIpsetRestore(reg, parseIpsetRestore(text, "t.ipset"), { exist });
  return reg;
}

test("save prints what ipset save prints, for every type", (t) => {
  const reg = restore(
    [
      "create CIP hash:ip,port family inet hashsize 1024 maxelem 65536 comment",
      "add CIP 10.96.0.1,tcp:443",
      'add CIP 10.96.0.10,udp:53 comment "kube-system/kube-dns:dns"',
      "create LOOP hash:ip,port,ip",
      "add LOOP 10.244.1.5,tcp:8080,10.244.1.5",
      "create SRC hash:ip,port,net initval 0xdeadbeef",
      "add SRC 1.2.3.4,tcp:80,203.0.113.0/25",
      "add SRC 1.2.3.4,tcp:80,203.0.113.200/32",
      "create NP bitmap:port range 0-65535",
      "add NP 30001",
      "create N hash:net hashsize 100 bucketsize 5 counters",
      "add N 10.0.0.0/8",
      "add N 10.1.0.0/16 nomatch packets 3 bytes 180",
      "create IPS hash:ip timeout 0",
      "add IPS 10.96.0.1",
    ].join("\n"),
  );
  t.is(
    saveIpsets(reg),
    [
      "create CIP hash:ip,port family inet hashsize 1024 maxelem 65536 comment bucketsize 12",
      "add CIP 10.96.0.1,tcp:443",
      'add CIP 10.96.0.10,udp:53 comment "kube-system/kube-dns:dns"',
      "create LOOP hash:ip,port,ip family inet hashsize 1024 maxelem 65536 bucketsize 12",
      "add LOOP 10.244.1.5,tcp:8080,10.244.1.5",
      "create SRC hash:ip,port,net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0xdeadbeef",
      "add SRC 1.2.3.4,tcp:80,203.0.113.0/25",
      "add SRC 1.2.3.4,tcp:80,203.0.113.200",
      "create NP bitmap:port range 0-65535",
      "add NP 30001",
      "create N hash:net family inet hashsize 128 maxelem 65536 counters bucketsize 6",
      "add N 10.0.0.0/8 packets 0 bytes 0",
      "add N 10.1.0.0/16 nomatch packets 3 bytes 180",
      "create IPS hash:ip family inet hashsize 1024 maxelem 65536 timeout 0 bucketsize 12",
      "add IPS 10.96.0.1 timeout 0",
      "",
    ].join("\n"),
  );
  t.is(saveIpsets(new IpsetRegistry()), "");
});

test("restore accepts comments, blank lines, COMMIT, short command names and ignores per-line -exist", (t) => {
  const reg = restore(
    [
      "# kube-proxy sets",
      "",
      "   ",
      "-N A hash:ip",
      "n B hash:ip",
      "-A A 10.0.0.1",
      "a A 10.0.0.2",
      "add -exist A 10.0.0.3",
      "COMMIT",
      "-D A 10.0.0.2",
      "e B C",
      "w A C",
      "x C",
      "  # indented comment",
    ].join("\n"),
  );
  t.deepEqual(reg.list().map((s) => s.name), ["A"]);
  t.is(reg.get("A")!.size, 0);
  // Per-line -exist does not make a duplicate acceptable (real ipset restore ignores it too).
  const err = t.throws(() => restore("create D hash:ip\nadd D 1.1.1.1\nadd D 1.1.1.1 -exist"), { instanceOf: PodwireError });
  t.is(err.code, "E_IPSET_DUPLICATE");
  // …while the restore-wide flag does.
  t.notThrows(() => restore("create D hash:ip\nadd D 1.1.1.1\nadd D 1.1.1.1\ndel D 9.9.9.9\ncreate D hash:ip\ndestroy NONE", undefined, true));
});

test("restore is atomic: a failing line leaves every set as it was", (t) => {
  const reg = restore("create A hash:ip\nadd A 10.0.0.1\ncreate B hash:ip");
  const a = reg.get("A")!;
  const before = saveIpsets(reg);
  const err = t.throws(() => restore("flush A\nadd A 10.0.0.9\ndestroy B\ncreate Z hash:net\nadd A 10.0.0.9", reg), { instanceOf: PodwireError });
  t.is(err.code, "E_IPSET_DUPLICATE");
  t.is(saveIpsets(reg), before);
  // A successful restore keeps the identity of sets that already existed.
  restore("flush A\nadd A 10.0.0.7\nrename B B2", reg);
  t.is(reg.get("A"), a);
  t.true(a.test(ipv4("10.0.0.7")));
  t.false(a.test(ipv4("10.0.0.1")));
  t.deepEqual(reg.list().map((s) => s.name), ["A", "B2"]);
});

const ERRORS: [string, string, number, number][] = [
  ["create A hash:foo", "E_IPSET_TYPE", 1, 10],
  ["create A hash:ip hashsize x", "E_IPSET_VALUE", 1, 27],
  ["create A hash:ip bogus", "E_IPSET_OPTION", 1, 18],
  ["create A hash:ip family inet6", "E_IPSET_FAMILY", 1, 25],
  ["create A hash:ip family inet family inet", "E_IPSET_OPTION", 1, 30],
  ["create A bitmap:port", "E_IPSET_OPTION", 1, 10],
  ["create A bitmap:port range 10", "E_IPSET_VALUE", 1, 28],
  ["create A bitmap:port range 0-10 hashsize 64", "E_IPSET_OPTION", 1, 33],
  ["create A hash:ip range 0-10", "E_IPSET_OPTION", 1, 18],
  ["create A hash:ip timeout", "E_IPSET_SYNTAX", 1, 25],
  ["create A hash:ip timeout 2147484", "E_IPSET_VALUE", 1, 26],
  ["create A hash:ip bucketsize 256", "E_IPSET_VALUE", 1, 29],
  ["create ABCDEFGHIJKLMNOPQRSTUVWXYZ012345 hash:ip", "E_IPSET_NAME", 1, 8],
  ["create A hash:ip\ncreate A hash:ip", "E_IPSET_SET_EXISTS", 2, 8],
  ["add B 1.2.3.4", "E_IPSET_UNKNOWN_SET", 1, 5],
  ["create A hash:ip,port\nadd A 1.2.3.4,udp:70000", "E_IPSET_PORT", 2, 7],
  ["create A hash:ip,port\nadd A 1.2.3.4,icmp:ping", "E_IPSET_PROTO", 2, 7],
  ["create A hash:ip,port\n\nadd A 1.2.3.4", "E_IPSET_ENTRY", 3, 7],
  ["create A hash:ip\nadd A 1.2.3.256", "E_IPSET_ENTRY", 2, 7],
  ["create A hash:ip\nadd A 1.2.3.4\nadd A 1.2.3.4", "E_IPSET_DUPLICATE", 3, 7],
  ["create A hash:ip\nadd A 1.2.3.4 timeout 5", "E_IPSET_OPTION", 2, 15],
  ["create A hash:ip comment\nadd A 1.2.3.4 comment \"oops", "E_IPSET_SYNTAX", 2, 23],
  ["create A hash:ip comment\nadd A 1.2.3.4 comment a\"b", "E_IPSET_SYNTAX", 2, 24],
  ["create A hash:ip,port\nadd A 1.1.1.1,tcp:1 nomatch", "E_IPSET_OPTION", 2, 21],
  ["create A hash:net\nadd A 10.0.0.0/8 nomatch nomatch", "E_IPSET_OPTION", 2, 26],
  ["create A hash:net\nadd A 10.0.0.0/8 skbmark 1", "E_IPSET_OPTION", 2, 18],
  ["create A hash:ip timeout 10\nadd A 1.2.3.4 timeout 99999999", "E_IPSET_VALUE", 2, 23],
  ["create A bitmap:port range 1-10\nadd A 11", "E_IPSET_RANGE", 2, 7],
  ["create A hash:ip maxelem 1\nadd A 1.1.1.1\nadd A 1.1.1.2", "E_IPSET_FULL", 3, 7],
  ["create A hash:ip\ndel A 1.2.3.4", "E_IPSET_NOT_MEMBER", 2, 7],
  ["create A hash:ip\ncreate B hash:net\nswap A B", "E_IPSET_TYPE_MISMATCH", 3, 8],
  ["create A hash:ip\nswap A B", "E_IPSET_UNKNOWN_SET", 2, 8],
  ["rename A B", "E_IPSET_UNKNOWN_SET", 1, 8],
  ["create A hash:ip\ncreate B hash:ip\nrename A B", "E_IPSET_SET_EXISTS", 3, 10],
  ["flush A B", "E_IPSET_SYNTAX", 1, 9],
  ["list", "E_IPSET_SYNTAX", 1, 1],
  ["  frobnicate X", "E_IPSET_SYNTAX", 2 - 1, 3],
  ["create A hash:ip\nadd A", "E_IPSET_SYNTAX", 2, 6],
];

for (const [text, expectedCode, line, column] of ERRORS) {
  test(`error ${expectedCode} at ${line}:${column} for ${JSON.stringify(text.split("\n").at(-1))}`, (t) => {
    const err = t.throws(() => restore(text), { instanceOf: PodwireError });
    t.is(err.code, expectedCode, err.message);
    t.deepEqual(err.location, { file: "t.ipset", line, column }, err.message);
    t.truthy(err.hint);
  });
}
