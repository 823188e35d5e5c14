/**
 * Captures of L7 traffic dissect cleanly in tshark with checksum validation on, and tshark
 * reads the HTTP in them: request URIs and Hosts on both connections (client → controller,
 * controller → backend, with X-Forwarded-For), response codes; over TLS, the SNI, and with the
 * key log the decrypted HTTP.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { bootCluster } from "../../src/cluster/boot.js";
import { CaptureSession } from "../../src/cluster/capture.js";
import { runHttpExchange, runHttpExchangeAsync } from "../../src/cluster/http-exchange.js";
import { resolveHttpTarget } from "../../src/cluster/http-target.js";
import { defaultCluster } from "../../src/cluster/load.js";

const PREFS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-d", "udp.port==8472,vxlan", "-d", "tcp.port==31080,http"];

const haveTshark = spawnSync("tshark", ["--version"], { stdio: "ignore" }).status === 0;
const maybe = haveTshark ? test : test.skip;
if (!haveTshark) console.log("skipped: tshark is not installed (apt-get install -y tshark)");

function tshark(file: string, filter: string, fields: string[], extra: string[] = []): string[] {
  const args = ["-r", file, ...PREFS, ...extra, "-Y", filter, "-T", "fields", "-E", "separator=|", ...fields.flatMap((f) => ["-e", f])];
  return execFileSync("tshark", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).split("\n").filter((l) => l.length > 0);
}

function clean(t: import("ava").ExecutionContext, file: string, frames: number, extra: string[] = []): void {
  t.is(tshark(file, "frame", ["frame.number"], extra).length, frames, "tshark reads every frame");
  t.deepEqual(tshark(file, "_ws.malformed || _ws.expert.severity == error", ["frame.number", "_ws.expert.message"], extra), [], "malformed or erroneous frames");
  t.deepEqual(tshark(file, "ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0", ["frame.number"], extra), [], "bad checksums");
  t.true(tshark(file, "tcp.checksum.status == 1", ["frame.number"], extra).length > 20, "checksums were checked");
}

maybe("HTTP through the ingress controller: clean dissection, http.request.uri, http.host, X-Forwarded-For and http.response.code", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-l7-tshark-"));
  try {
    const file = join(dir, "http.pcapng");
    const running = bootCluster(defaultCluster());
    const capture = CaptureSession.toFile(file, running.cluster.devices);
    const outside = running.cluster.externals.get("outside")!;
    for (const url of ["http://shop.example.com/cart?item=1", "http://api.example.com/v1", "http://nope.example.com/missing", "http://shop.example.com:31080/by-nodeport"]) {
      const target = resolveHttpTarget(running.l7, url);
      const r = runHttpExchange(running.cluster, running.l7, { title: url, from: outside.ns, fromLabel: "ext/outside", dst: target.dst, dstPort: target.dstPort, to: url, scheme: "http", host: target.hostHeader, requests: [{ method: "GET", target: target.target }, { method: "GET", target: `${target.target}#2`.replace("#2", "") }] });
      t.is(r.responses.length, 2, `${url}: two requests on one keep-alive connection`);
    }
    capture.close();
    clean(t, file, capture.frames);
    const uris = new Set(tshark(file, "http.request", ["http.request.uri"]));
    for (const u of ["/cart?item=1", "/v1", "/missing", "/by-nodeport"]) t.true(uris.has(u), `request for ${u} dissected`);
    const hosts = new Set(tshark(file, "http.request", ["http.host"]));
    t.true(hosts.has("shop.example.com") && hosts.has("api.example.com") && hosts.has("shop.example.com:31080"));
    const codes = tshark(file, "http.response", ["http.response.code"]);
    t.true(codes.includes("200") && codes.includes("404"));
    // The second connection: the controller's request to a backend on 8080, with the forwarding headers.
    const upstream = tshark(file, "http.request && tcp.dstport == 8080", ["ip.src", "http.x_forwarded_for", "http.request.uri"]);
    t.true(upstream.some((l) => l.startsWith("10.244.1.4|10.244.1.1|/cart?item=1")), upstream.join("\n"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

maybe("HTTPS: TLS records dissect, the SNI is visible, and with the key log tshark decrypts the HTTP inside", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-l7-tls-"));
  try {
    const file = join(dir, "https.pcapng");
    const keylog = join(dir, "keys.log");
    const running = bootCluster(defaultCluster());
    const capture = CaptureSession.toFile(file, running.cluster.devices);
    const outside = running.cluster.externals.get("outside")!;
    const target = resolveHttpTarget(running.l7, "https://www.example.com/secret-path");
    const r = await runHttpExchangeAsync(running.cluster, running.l7, {
      title: "https",
      from: outside.ns,
      fromLabel: "ext/outside",
      dst: target.dst,
      dstPort: target.dstPort,
      to: "https://www.example.com/secret-path",
      scheme: "https",
      host: target.hostHeader,
      requests: [{ method: "GET", target: "/secret-path" }],
      ca: target.controller!.certificates.book.certificates(),
    });
    capture.close();
    t.true(r.ok, r.outcome);
    writeFileSync(keylog, running.l7.keyLog.text());
    clean(t, file, capture.frames);
    t.true(tshark(file, "tls.handshake.type == 1", ["tls.handshake.extensions_server_name"]).includes("www.example.com"));
    t.deepEqual(tshark(file, "http.request && tcp.port == 443", ["http.request.uri"]), [], "without the key log the HTTP stays encrypted");
    const withKeys = ["-o", `tls.keylog_file:${keylog}`];
    const decrypted = tshark(file, "http.request && tcp.port == 443", ["http.request.uri", "http.host"], withKeys);
    t.true(decrypted.includes("/secret-path|www.example.com"), decrypted.join("\n"));
    t.true(tshark(file, "http.response && tcp.port == 443", ["http.response.code"], withKeys).includes("200"));
    clean(t, file, capture.frames, withKeys);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
