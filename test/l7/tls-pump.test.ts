/**
 * The pump: without TLS it is exactly Simulator.run; with TLS, what the event loop does
 * meanwhile (other work, other pumps) never moves a frame in virtual time.
 */
import test from "ava";
import { bootCluster } from "../../src/cluster/boot.js";
import { defaultCluster } from "../../src/cluster/load.js";
import type { Cluster } from "../../src/cluster/build.js";
import type { CaptureTap, NetDevice, PacketBuffer } from "../../src/netdev/index.js";
import { APP_RESPONSE_NS } from "../../src/netdev/index.js";
import { tcpStream } from "../../src/l7/stream.js";
import { runUntilSettled, tlsClient, tlsServer } from "../../src/l7/tls.js";
import { CertificateBook } from "../../src/l7/tls-certificates.js";
import { tlsWorkPending } from "../../src/l7/tls-pump.js";

/** Every frame on every device: where, which way, when, and (optionally) its bytes. */
function tapAll(cluster: Cluster, withBytes: boolean): string[] {
  const seen: string[] = [];
  const tap: CaptureTap = {
    capture(dev: NetDevice, direction, pkt: PacketBuffer) {
      const bytes = pkt.buf.subarray(pkt.head, pkt.tail);
      seen.push(`${dev.qualifiedName} ${direction} ${dev.sim.now()} ${bytes.length}${withBytes ? ` ${Buffer.from(bytes).toString("hex")}` : ""}`);
    },
  };
  for (const dev of cluster.devices) dev.taps.push(tap);
  return seen;
}

/** A plain HTTP request from default/client to web-0's port 8080 (its HTTP server). */
function plainRequest(cluster: Cluster): () => string {
  const client = cluster.pod("default", "client")!;
  const web = cluster.pod("default", "web-0")!;
  let response = "";
  client.ns.tcp.connect(web.spec.podIP, 8080, {
    onConnected: (c) => c.send(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: web\r\n\r\n")),
    onData: (_c, d) => {
      response += new TextDecoder().decode(d);
    },
    onPeerClosed: (c) => c.close(),
  });
  return () => response;
}

test("without TLS the pump processes exactly what sim.run does: the same frames, bytes and instants, the same clock after", async (t) => {
  const a = bootCluster(defaultCluster()).cluster;
  const b = bootCluster(defaultCluster()).cluster;
  const seenA = tapAll(a, true);
  const seenB = tapAll(b, true);
  const ra = plainRequest(a);
  const rb = plainRequest(b);
  const until = a.sim.now() + 2_000_000_000;
  const na = a.sim.run(until);
  const nb = await runUntilSettled(b.sim, { untilNs: until });
  t.true(ra().startsWith("HTTP/1.1 200 OK"));
  t.is(rb(), ra());
  t.is(nb, na);
  t.true(seenA.length > 20);
  t.deepEqual(seenB, seenA);
  t.is(b.sim.now(), a.sim.now());
  t.is(b.sim.now(), until);
});

/** An HTTPS exchange client → web-1:443; returns the frames seen and the response. */
async function httpsExchange(disturb: boolean) {
  const { cluster } = bootCluster(defaultCluster());
  const seen = tapAll(cluster, false);
  const book = new CertificateBook(cluster.spec.seed);
  const cert = book.generate(["shop.example.com"]);
  const client = cluster.pod("default", "client")!;
  const web = cluster.pod("default", "web-1")!;
  const helloArrived: number[] = [];
  web.ns.tcp.listen(443, (conn) => {
    const { stream, app } = tcpStream(conn);
    tlsServer(stream, { contextFor: (n) => { helloArrived.push(cluster.sim.now()); return book.lookup(n); } }, (plain) =>
      plain.setHandler({ onData: (s) => { s.send(new TextEncoder().encode("HTTP/1.1 204 No Content\r\n\r\n")); s.end(); } }),
    );
    return app;
  });
  const conn = client.ns.tcp.connect(web.spec.podIP, 443, {});
  const { stream, app } = tcpStream(conn);
  conn.app = app;
  let response = "";
  const plain = tlsClient(stream, { servername: "shop.example.com", ca: cert.certPem });
  plain.setHandler({
    onOpen: (s) => s.send(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: shop.example.com\r\n\r\n")),
    onData: (_s, d) => {
      response += new TextDecoder().decode(d);
    },
    onEnd: (s) => s.end(),
  });
  // Someone else's work on the event loop: a long chain of immediates and timers, as another
  // test or a server in the same process would make. It must not move any frame.
  let spins = 0;
  let stop = false;
  if (disturb) {
    const spin = (): void => {
      if (stop) return;
      spins++;
      if (spins % 7 === 0) setTimeout(spin, 0);
      else setImmediate(spin);
    };
    spin();
  }
  await runUntilSettled(cluster.sim, { untilNs: cluster.sim.now() + 5_000_000_000 });
  stop = true;
  return { seen, response, spins, helloArrived, state: conn.state, pending: tlsWorkPending(cluster.sim) };
}

test("TLS over the cluster: other work on the event loop changes no frame's instant, size or order", async (t) => {
  const quiet = await httpsExchange(false);
  const busy = await httpsExchange(true);
  t.is(quiet.response, "HTTP/1.1 204 No Content\r\n\r\n");
  t.is(busy.response, quiet.response);
  t.true(busy.spins > 10, `${busy.spins} foreign callbacks ran meanwhile`);
  t.deepEqual(busy.seen, quiet.seen);
  t.deepEqual(busy.helloArrived, quiet.helloArrived);
  t.is(quiet.state, "CLOSED");
  t.false(quiet.pending);
});

test("TLS's answer leaves APP_RESPONSE_NS after the ClientHello reached the server, like any application's answer", async (t) => {
  const run = await httpsExchange(false);
  const [arrived] = run.helloArrived;
  // web-1's frames out after the ClientHello reached its socket: the bare ACK at once, then
  // the ServerHello flight (the large frame) APP_RESPONSE_NS after it.
  const serverTx = run.seen
    .map((l) => l.split(" "))
    .filter(([dev, dir, at]) => dev === "default/web-1/eth0" && dir === "tx" && Number(at) >= arrived!)
    .map(([, , at, len]) => ({ at: Number(at), len: Number(len) }));
  t.true(serverTx.length >= 2, JSON.stringify(serverTx));
  const [ack, flight] = serverTx;
  t.true(ack!.len < 100, "the ACK of the ClientHello");
  t.true(flight!.len > 500, "the ServerHello flight");
  t.is(flight!.at - ack!.at, APP_RESPONSE_NS);
});
