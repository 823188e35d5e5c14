/**
 * `podwire trace` to port 53 sends a real DNS query (UDP, or TCP with the length prefix)
 * and prints the answer; its capture dissects as DNS in tshark with checksums checked.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";

const BIN = new URL("../../bin/podwire.js", import.meta.url).pathname;

function podwire(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const TO_DNS = ["trace", "--from", "pod/default/client", "--to", "svc/kube-system/kube-dns"];

for (const proto of ["udp", "tcp"] as const) {
  test.serial(`trace --to svc/kube-system/kube-dns --proto ${proto}: port 53 by default, a real DNS answer`, (t) => {
    const r = podwire(...TO_DNS, "--proto", proto);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, proto === "tcp" ? /10\.96\.0\.10 port 53\/tcp \(DNS kubernetes\.default\.svc\.cluster\.local\)/ : /10\.96\.0\.10 port 53 \(DNS kubernetes\.default\.svc\.cluster\.local\)/);
    t.regex(r.stdout, /result: ok — kubernetes\.default\.svc\.cluster\.local → 10\.96\.0\.1 \(from 10\.96\.0\.10/);
    t.regex(r.stdout, /kube-proxy rules on worker-1: accept, DNAT to 10\.244\.0\.2:53/);
  });
}

test.serial("trace --json to kube-dns over TCP includes the answer", (t) => {
  const r = podwire(...TO_DNS, "--proto", "tcp", "--json", "--query", "web.default.svc.cluster.local");
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.is(j.destination, "10.96.0.10:53");
  t.is(j.proto, "tcp");
  t.true(j.ok);
  t.is(j.answer.name, "web.default.svc.cluster.local");
  t.is(j.answer.rcode, "NOERROR");
  t.is(j.answer.addresses.length, 1);
  t.regex(j.answer.addresses[0], /^10\.96\./);
  t.is(j.endpoint, "10.244.0.2:53");
});

test.serial("trace --query of an unknown name prints NXDOMAIN and exits 1", (t) => {
  const r = podwire(...TO_DNS, "--proto", "udp", "--query", "nope.default.svc.cluster.local", "--json");
  t.is(r.code, 1, r.stderr);
  const j = JSON.parse(r.stdout);
  t.deepEqual(j.answer, { name: "nope.default.svc.cluster.local", rcode: "NXDOMAIN", addresses: [] });
  t.regex(j.outcome, /NXDOMAIN/);
});

test.serial("trace to other ports keeps HTTP; a Service without a port of the protocol, --query elsewhere or a bad name is a one-line error", (t) => {
  const http = podwire("trace", "--from", "pod/default/client", "--to", "pod/default/web-1:8080");
  t.is(http.code, 0, http.stderr);
  t.regex(http.stdout, /HTTP\/1\.1 200 OK/);
  // A Service named without a port and with none for the protocol: an error naming its ports.
  const noUdp = podwire("trace", "--from", "pod/default/client", "--to", "svc/default/web", "--proto", "udp");
  t.is(noUdp.code, 2);
  t.regex(noUdp.stderr, /^podwire: error: field --to: --to svc\/default\/web names no port and the Service has no UDP port \(its ports: 80\/TCP\)/);
  const notDns = podwire("trace", "--from", "pod/default/client", "--to", "pod/default/web-1:8080", "--query", "x.local");
  t.is(notDns.code, 2);
  t.regex(notDns.stderr, /^podwire: error: field --query: --query asks a DNS question, but this trace goes to port 8080\/tcp/);
  t.is(notDns.stderr.trim().split("\n").length, 1);
  const badName = podwire(...TO_DNS, "--proto", "udp", "--query", "a..b");
  t.is(badName.code, 2);
  t.regex(badName.stderr, /^podwire: error: field --query: --query "a\.\.b" is not a DNS name: the name has an empty label/);
  t.notRegex(badName.stderr, /\n\s+at /);
});

const TSHARK_PREFS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-d", "udp.port==8472,vxlan"];
const haveTshark = spawnSync("tshark", ["--version"], { stdio: "ignore" }).status === 0;
if (!haveTshark) console.log("skipped: tshark is not installed (apt-get install -y tshark)");

function tshark(file: string, filter: string, fields: string[]): string[] {
  const args = ["-r", file, ...TSHARK_PREFS, "-Y", filter, "-T", "fields", ...fields.flatMap((f) => ["-e", f])];
  const out = execFileSync("tshark", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return out.split("\n").filter((l) => l.length > 0);
}

(haveTshark ? test.serial : test.skip)("trace --proto tcp --pcap to kube-dns dissects as DNS over TCP: no malformed frames, no bad checksums", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-dns-"));
  try {
    const file = join(dir, "dns.pcapng");
    const r = podwire(...TO_DNS, "--proto", "tcp", "--pcap", file);
    t.is(r.code, 0, r.stderr);
    t.deepEqual(tshark(file, "_ws.malformed || _ws.expert.severity == error", ["frame.number", "_ws.expert.message"]), [], "malformed or erroneous frames");
    const bad = "ip.checksum.status == 0 || udp.checksum.status == 0 || tcp.checksum.status == 0 || icmp.checksum.status == 0";
    t.deepEqual(tshark(file, bad, ["frame.number", "frame.interface_name"]), [], "bad checksums");
    t.true(tshark(file, "tcp.checksum.status == 1", ["frame.number"]).length > 10, "TCP checksums were checked");
    const queries = tshark(file, "tcp.port == 53 && dns.flags.response == 0", ["dns.qry.name", "dns.length"]);
    t.true(queries.length > 0, "the query dissects as DNS over TCP");
    t.true(queries.every((l) => l.startsWith("kubernetes.default.svc.cluster.local\t")), queries.join("; "));
    const answers = tshark(file, "tcp.port == 53 && dns.flags.response == 1", ["dns.a", "dns.flags.rcode"]);
    t.true(answers.length > 0, "the answer dissects as DNS over TCP");
    t.true(answers.every((l) => l === "10.96.0.1\t0"), answers.join("; "));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
