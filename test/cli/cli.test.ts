import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";

const BIN = new URL("../../bin/podwire.js", import.meta.url).pathname;

function podwire(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("trace --json: a cross-node TCP exchange with its hops", (t) => {
  const r = podwire("trace", "--from", "pod/default/client", "--to", "pod/default/web-1:8080", "--json");
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.true(j.ok);
  t.is(j.destination, "10.244.2.2:8080");
  t.true(j.hops.some((h: { action: string; netns: string }) => h.action === "encap" && h.netns === "worker-1"));
  t.true(j.hops.some((h: { action: string; netns: string }) => h.action === "decap" && h.netns === "worker-2"));
});

test("trace to a closed UDP port reports ICMP port unreachable and exits 1", (t) => {
  const r = podwire("trace", "--from", "pod/default/client", "--to", "pod/default/web-1:9999", "--proto", "udp");
  t.is(r.code, 1);
  t.regex(r.stdout, /ICMP port unreachable from 10\.244\.2\.2 \(pod\/default\/web-1\)/);
});

test("bad input exits 2 with one clear line and no stack trace", (t) => {
  const unknownPod = podwire("trace", "--from", "pod/default/nope", "--to", "10.244.2.2:8080");
  t.is(unknownPod.code, 2);
  t.regex(unknownPod.stderr, /^podwire: error: field --from: no pod "default\/nope" in this cluster \(hint: known: pod\/default\/client/);
  t.notRegex(unknownPod.stderr, /\n\s+at /);

  const dir = mkdtempSync(join(tmpdir(), "podwire-cli-"));
  try {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "apiVersion: podwire.dev/v1alpha1\nkind: Cluster\nmetadata: {name: x}\nspec:\n  clusterCIDR: 10.244.0.1/16\n");
    const bad = podwire("cluster", "-f", file);
    t.is(bad.code, 2);
    t.true(bad.stderr.startsWith(`podwire: error: ${file}:5`), bad.stderr);
    t.regex(bad.stderr, /spec\.clusterCIDR/);
    t.is(bad.stderr.trim().split("\n").length, 1);
    const missing = podwire("cluster", "-f", join(dir, "missing.yaml"));
    t.is(missing.code, 2);
    t.regex(missing.stderr, /missing\.yaml/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const badOpt = podwire("trace", "--bogus");
  t.is(badOpt.code, 2);
});

test("cluster prints the topology with devices, routes and Pods", (t) => {
  const r = podwire("cluster");
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /node worker-1: 192\.168\.56\.11, podCIDR 10\.244\.1\.0\/24/);
  t.regex(r.stdout, /10\.244\.2\.0\/24 via 10\.244\.2\.0 dev flannel\.1 proto flannel onlink/);
  t.regex(r.stdout, /flannel\.1\s+vxlan\s+\S+ mtu 1450/);
  t.regex(r.stdout, /default\/web-0\s+10\.244\.1\.3/);
});

test("trace-rules --json follows a packet through an iptables-save dump and lists statistic candidates", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-tr-"));
  try {
    const file = join(dir, "rules.txt");
    writeFileSync(
      file,
      [
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
        ":KUBE-SERVICES - [0:0]",
        ":KUBE-SVC-A - [0:0]",
        ":KUBE-SEP-1 - [0:0]",
        ":KUBE-SEP-2 - [0:0]",
        ":KUBE-POSTROUTING - [0:0]",
        ":KUBE-MARK-MASQ - [0:0]",
        "-A PREROUTING -j KUBE-SERVICES",
        "-A POSTROUTING -j KUBE-POSTROUTING",
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MASQUERADE --random-fully",
        "-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j KUBE-SVC-A",
        "-A KUBE-SVC-A ! -s 10.244.0.0/16 -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j KUBE-MARK-MASQ",
        "-A KUBE-SVC-A -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-1",
        "-A KUBE-SVC-A -j KUBE-SEP-2",
        "-A KUBE-SEP-1 -p tcp -m tcp -j DNAT --to-destination 10.244.1.3:6443",
        "-A KUBE-SEP-2 -p tcp -m tcp -j DNAT --to-destination 10.244.2.3:6443",
        "COMMIT",
        "",
      ].join("\n"),
    );
    const r = podwire("trace-rules", "--rules", file, "--packet", "tcp 192.168.56.100:40000 > 10.96.0.1:443", "--json");
    t.is(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    t.is(j.verdict, "accept");
    t.is(j.masquerade, true, "outside client: marked by KUBE-MARK-MASQ, masqueraded in POSTROUTING");
    t.is(j.mark, 0x4000);
    t.deepEqual(j.candidates, [
      { destination: "10.244.1.3:6443", probability: 0.5 },
      { destination: "10.244.2.3:6443", probability: 0.5 },
    ]);
    t.true(["10.244.1.3:6443", "10.244.2.3:6443"].includes(j.dnat));
    t.deepEqual(j.rules[0], { table: "nat", chain: "PREROUTING", position: 1, rule: "-A PREROUTING -j KUBE-SERVICES", line: 10 });
    const bad = podwire("trace-rules", "--rules", file, "--packet", "tcp 10.0.0.1 > 10.96.0.1:443");
    t.is(bad.code, 2);
    t.regex(bad.stderr, /field --packet: source port in "10\.0\.0\.1" must be a number/);
    writeFileSync(file, "*nat\n-A PREROUTING -m owner --uid-owner 0 -j ACCEPT\nCOMMIT\n");
    const unknown = podwire("trace-rules", "--rules", file, "--packet", "tcp 10.0.0.1:1 > 10.96.0.1:443");
    t.is(unknown.code, 2);
    t.regex(unknown.stderr, /rules\.txt:2:\d+: .*owner/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("rules --node prints kube-proxy's restore text, which the real iptables-restore loads", (t) => {
  const r = podwire("rules", "--node", "worker-1");
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^-A KUBE-SERVICES -m comment --comment "default\/web:http cluster IP" -m tcp -p tcp -d 10\.96\.0\.\d+ --dport 80 -j KUBE-SVC-[A-Z2-7]{16}$/m);
  t.regex(r.stdout, /-j DNAT --to-destination 10\.244\.1\.3:8080/);
  const save = podwire("rules", "--node", "worker-1", "--save-format");
  t.is(save.code, 0, save.stderr);
  t.regex(save.stdout, /^-A FLANNEL-POSTRTG /m, "the node's whole ruleset: flannel's rules too");
  t.regex(save.stdout, /^-A KUBE-SERVICES -d 10\.96\.0\.\d+\/32 -p tcp -m comment --comment "default\/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-/m);
  const canLoad = process.getuid?.() === 0 && spawnSync("iptables-restore", ["--version"], { stdio: "ignore" }).status === 0 && spawnSync("ip", ["netns", "list"], { stdio: "ignore" }).status === 0;
  if (!canLoad) {
    t.log("kernel load not checked: needs root, ip netns and iptables-restore");
    return;
  }
  const ns = `pw-cli-${process.pid}`;
  spawnSync("ip", ["netns", "add", ns]);
  try {
    const load = spawnSync("ip", ["netns", "exec", ns, "iptables-restore", "--noflush"], { input: r.stdout, encoding: "utf8" });
    t.is(load.status, 0, load.stderr);
  } finally {
    spawnSync("ip", ["netns", "del", ns]);
  }
});

test("trace to a Service reports the endpoint, every candidate, and masquerade", (t) => {
  const r = podwire("trace", "--from", "ext/outside", "--to", "node/worker-1:30080", "--json");
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.is(j.node, "worker-1");
  t.is(j.verdict, "accept");
  t.true(j.masquerade);
  t.deepEqual(j.candidates.map((c: { destination: string }) => c.destination).sort(), ["10.244.1.3:8080", "10.244.2.2:8080"]);
  t.true(["10.244.1.3:8080", "10.244.2.2:8080"].includes(j.endpoint));
});

test("rules --mode ipvs prints ipvsadm-save, ipset save and the iptables rules; ipvs shows the -Ln view", (t) => {
  const r = podwire("rules", "--mode", "ipvs", "--node", "worker-1");
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^-A -t 10\.96\.0\.\d+:80 -s rr$/m);
  t.regex(r.stdout, /^-a -t 10\.96\.0\.\d+:80 -r 10\.244\.1\.3:8080 -m -w 1$/m);
  t.regex(r.stdout, /^create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536/m);
  t.regex(r.stdout, /^add KUBE-CLUSTER-IP 10\.96\.0\.10,udp:53$/m);
  t.regex(r.stdout, /^-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip \+ port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10\.244\.0\.0\/16 -j KUBE-MARK-MASQ$/m);
  const l = podwire("ipvs", "--node", "worker-1");
  t.is(l.code, 0, l.stderr);
  t.regex(l.stdout, /^TCP  10\.96\.0\.\d+:80 rr\s*$/m);
  t.regex(l.stdout, /^  -> 10\.244\.2\.2:8080\s+Masq\s+1\s+\d+\s+\d+/m);
  t.regex(l.stdout, /^IPVS connection entries$/m);
});
