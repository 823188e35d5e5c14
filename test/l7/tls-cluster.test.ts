/**
 * TLS end to end through the embedded cluster: an HTTPS request from `default/client`
 * (worker-1) to a TLS server on `default/web-1` (worker-2), over podwire's TCP, across the
 * VXLAN overlay, driven by the pump on the virtual clock and captured to pcapng. tshark must
 * dissect every frame cleanly with checksums checked, see the SNI, and — given the run's key
 * log, and only then — decrypt the HTTP inside. The same run twice gives the same frames at
 * the same instants and of the same sizes (only TLS's own random bytes differ).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { bootCluster } from "../../src/cluster/boot.js";
import { CaptureSession } from "../../src/cluster/capture.js";
import { defaultCluster } from "../../src/cluster/load.js";
import { DEFAULT_EPOCH_SECONDS } from "../../src/base/index.js";
import { FileSink, PcapngWriter, readCapture } from "../../src/pcap/index.js";
import { tcpStream } from "../../src/l7/stream.js";
import { runUntilSettled, tlsClient, tlsServer } from "../../src/l7/tls.js";
import { CertificateBook } from "../../src/l7/tls-certificates.js";
import { TlsKeyLog } from "../../src/l7/tls-keylog.js";

const haveTshark = spawnSync("tshark", ["--version"], { stdio: "ignore" }).status === 0;
const PREFS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-d", "udp.port==8472,vxlan", "-d", "tcp.port==443,tls"];

function tshark(file: string, filter: string, fields: string[], extra: string[] = []): string[] {
  const out = execFileSync("tshark", ["-r", file, ...PREFS, ...extra, "-Y", filter, "-T", "fields", ...fields.flatMap((f) => ["-e", f])], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return out.split("\n").filter((l) => l.length > 0);
}

/** One pcapng file per interface that has frames, as a user would export one device's traffic. */
function splitByInterface(file: string, dir: string): Array<{ name: string; path: string }> {
  const cap = readCapture(readFileSync(file));
  const out: Array<{ name: string; path: string }> = [];
  cap.interfaces.forEach((iface, id) => {
    const packets = cap.packets.filter((p) => p.interfaceId === id);
    if (packets.length === 0) return;
    const path = join(dir, `if${id}.pcapng`);
    const w = new PcapngWriter(new FileSink(path));
    w.addInterface({ name: iface.name! });
    for (const p of packets) w.writePacket(0, Number(p.tsNs - EPOCH_NS), p.data, { flags: p.flags });
    w.close();
    out.push({ name: iface.name!, path });
  });
  return out;
}

/** Virtual time 0 in capture timestamps (DEFAULT_EPOCH_SECONDS). */
const EPOCH_NS = BigInt(DEFAULT_EPOCH_SECONDS) * 1_000_000_000n;
const BODY_BYTES = 40_000;

/**
 * The TCP payload length of the innermost TCP segment of an Ethernet frame (looking inside
 * VXLAN, UDP 8472); -1 when the frame holds no TCP.
 */
function tcpPayloadLength(frame: Uint8Array): number {
  let eth = 0;
  for (;;) {
    if (((frame[eth + 12]! << 8) | frame[eth + 13]!) !== 0x0800) return -1;
    const ip = eth + 14;
    const ihl = (frame[ip]! & 0x0f) * 4;
    const total = (frame[ip + 2]! << 8) | frame[ip + 3]!;
    const l4 = ip + ihl;
    if (frame[ip + 9] === 17 && ((frame[l4 + 2]! << 8) | frame[l4 + 3]!) === 8472) {
      eth = l4 + 8 + 8; // UDP header, VXLAN header, then the inner Ethernet frame
      continue;
    }
    if (frame[ip + 9] !== 6) return -1;
    return total - ihl - (frame[l4 + 12]! >> 4) * 4;
  }
}

/** One HTTPS exchange in a fresh cluster; captures go to `dir`. */
async function httpsRun(dir: string) {
  const { cluster } = bootCluster(defaultCluster());
  const client = cluster.pod("default", "client")!;
  const web = cluster.pod("default", "web-1")!;
  const all = CaptureSession.toFile(join(dir, "all.pcapng"), cluster.devices);
  const clientOnly = CaptureSession.toFile(join(dir, "client-eth0.pcapng"), [client.eth0!]);
  const book = new CertificateBook(cluster.spec.seed);
  const cert = book.generate(["shop.example.com"]);
  const keylog = new TlsKeyLog();
  const errors: string[] = [];
  let request = "";
  web.ns.tcp.listen(443, (conn) => {
    const { stream, app } = tcpStream(conn);
    tlsServer(stream, { contextFor: (n) => book.lookup(n), keylog: keylog.sink, alpn: ["http/1.1"] }, (plain) => {
      plain.setHandler({
        onData: (s, d) => {
          request += Buffer.from(d).toString("latin1");
          if (!request.endsWith("\r\n\r\n")) return;
          const body = "x".repeat(BODY_BYTES);
          s.send(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`));
          s.end();
        },
        onError: (_s, r) => errors.push(`server: ${r}`),
      });
    }).setHandler({ onError: (_s, r) => errors.push(`server handshake: ${r}`) });
    return app;
  });
  const conn = client.ns.tcp.connect(web.spec.podIP, 443, {});
  const { stream, app } = tcpStream(conn);
  conn.app = app; // before any answer can arrive: the SYN-ACK comes during the run
  let response = "";
  let ended = false;
  const plain = tlsClient(stream, { servername: "shop.example.com", ca: cert.certPem, keylog: keylog.sink, alpn: ["http/1.1"] });
  plain.setHandler({
    onOpen: (s) => s.send(Buffer.from("GET /cart HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: podwire\r\nAccept: */*\r\n\r\n")),
    onData: (_s, d) => {
      response += Buffer.from(d).toString("latin1");
    },
    onEnd: (s) => {
      ended = true;
      s.end();
    },
    onError: (_s, r) => errors.push(`client: ${r}`),
  });
  const start = cluster.sim.now();
  const events = await runUntilSettled(cluster.sim, { untilNs: start + 10_000_000_000 });
  all.close();
  clientOnly.close();
  const keylogPath = join(dir, "keys.log");
  keylog.write(keylogPath);
  const cap = readCapture(readFileSync(join(dir, "all.pcapng")));
  const frames = cap.packets.map((p) => `${p.interfaceId} ${p.tsNs} ${p.data.length}`);
  const bytes = cap.packets.map((p) => Buffer.from(p.data));
  return { response, request, ended, errors, events, frames, bytes, keylogPath, connState: conn.state, tls: plain.tls, capturedFrames: all.frames };
}

test("HTTPS across the overlay: the exchange completes on the virtual clock, and twice gives the same frames at the same instants", async (t) => {
  const dirs = [mkdtempSync(join(tmpdir(), "podwire-tls-")), mkdtempSync(join(tmpdir(), "podwire-tls-"))];
  try {
    const a = await httpsRun(dirs[0]!);
    const b = await httpsRun(dirs[1]!);
    t.deepEqual(a.errors, []);
    t.true(a.request.startsWith("GET /cart HTTP/1.1\r\nHost: shop.example.com\r\n"));
    t.true(a.response.startsWith("HTTP/1.1 200 OK\r\n"), a.response.slice(0, 80));
    t.is(a.response.length, a.response.indexOf("\r\n\r\n") + 4 + BODY_BYTES);
    t.true(a.ended, "close_notify and FIN from the server");
    t.is(a.connState, "CLOSED");
    t.is(a.tls!.protocol, "TLSv1.3");
    t.true(a.frames.length > 60, `${a.frames.length} frames`);
    // Reproducible: same count, same interfaces, same virtual times, same lengths.
    t.deepEqual(b.frames, a.frames);
    t.is(b.events, a.events);
    // Byte for byte, only frames carrying TLS records differ (OpenSSL's randoms and keys);
    // every ARP, SYN, ACK and FIN without payload is identical.
    let differing = 0;
    a.bytes.forEach((fa, i) => {
      const fb = b.bytes[i]!;
      if (fa.equals(fb)) return;
      differing++;
      const payload = tcpPayloadLength(fa);
      if (payload === 0) t.fail(`frame ${i + 1} differs without carrying TCP payload`);
    });
    t.true(differing > 0, "TLS's own randomness shows");
    t.true(a.bytes.filter((f) => tcpPayloadLength(f) === 0).length > 30, "enough frames compared byte for byte");
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

(haveTshark ? test : test.skip)("tshark: every frame dissects cleanly with checksums on, the SNI is visible, and the key log decrypts the HTTP", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-tls-"));
  try {
    const run = await httpsRun(dir);
    t.deepEqual(run.errors, []);
    const allFile = join(dir, "all.pcapng");
    t.is(tshark(allFile, "frame", ["frame.number"]).length, run.capturedFrames, "tshark reads every frame");
    // Reassembly off for the whole capture: it holds each segment once per device it crossed,
    // which reassembly across devices would take for overlapping retransmissions.
    const noReassembly = ["-o", "tcp.desegment_tcp_streams:FALSE"];
    t.deepEqual(tshark(allFile, "_ws.malformed || _ws.expert.severity == error", ["frame.number", "_ws.expert.message"], noReassembly), [], "malformed frames");
    const bad = "ip.checksum.status == 0 || udp.checksum.status == 0 || tcp.checksum.status == 0";
    t.deepEqual(tshark(allFile, bad, ["frame.number", "frame.interface_name"]), [], "bad checksums");
    t.true(tshark(allFile, "tcp.checksum.status == 1", ["frame.number"]).length > 100, "checksums were checked");
    // Device by device, with reassembly: no expert error and no TCP anomaly at all (no
    // retransmission, no out-of-order, no lost segment).
    const perDevice = splitByInterface(allFile, dir);
    t.true(perDevice.length >= 8, perDevice.map((d) => d.name).join(", "));
    for (const d of perDevice) {
      t.deepEqual(tshark(d.path, "_ws.malformed || _ws.expert.severity == error || tcp.analysis.flags", ["frame.number", "_ws.expert.message"]), [], d.name);
    }
    const file = join(dir, "client-eth0.pcapng");
    // The ClientHello names the host in the clear; without keys nothing of HTTP shows.
    t.deepEqual(tshark(file, "tls.handshake.type == 1", ["tls.handshake.extensions_server_name"]), ["shop.example.com"]);
    t.deepEqual(tshark(file, "tls.handshake.type == 1", ["tls.handshake.extensions_alpn_str"]), ["http/1.1"]);
    t.deepEqual(tshark(file, "http", ["frame.number"]), []);
    t.true(tshark(file, "tls.record.opaque_type == 23", ["frame.number"]).length >= 3, "application data records (TLS 1.3: the outer type)");
    // With the key log, Wireshark decrypts the request and the response.
    const keys = ["-o", `tls.keylog_file:${run.keylogPath}`];
    t.deepEqual(tshark(file, "http.request", ["http.request.method", "http.request.uri", "http.host"], keys), ["GET\t/cart\tshop.example.com"]);
    t.deepEqual(tshark(file, "http.response", ["http.response.code", "http.content_length"], keys), [`200\t${BODY_BYTES}`]);
    t.deepEqual(tshark(file, "_ws.malformed || _ws.expert.severity == error", ["frame.number", "_ws.expert.message"], keys), [], "decrypted: no errors");
    // Inside VXLAN on the node network, the capture of worker-1's eth0 decrypts too.
    const underlay = perDevice.find((d) => d.name === "worker-1/eth0")!;
    t.deepEqual(tshark(underlay.path, "vxlan && http.request", ["http.request.uri"], keys), ["/cart"]);
    t.deepEqual(tshark(underlay.path, "vxlan && http.response", ["http.response.code"], keys), ["200"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
