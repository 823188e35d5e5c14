/**
 * The dashboard in a real browser (Debian's chromium, driven headless by playwright-core —
 * nothing is downloaded): the page draws every node and Pod of the embedded cluster; a trace
 * picked by clicking the topology is animated hop by hop, and its hops are `podwire trace
 * --json`'s for the same flow; the pcapng the page links to is `trace --pcap`'s file and
 * dissects cleanly in tshark with checksum validation. The server and the browser are closed
 * on every path. Skipped, with the reason printed, where Chromium is missing.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import type { Browser, Page } from "playwright-core";
import { defaultCluster } from "../../src/cluster/load.js";
import { type ServeHandle, startServe } from "../../src/serve/index.js";
import { podwire } from "../helpers/run-cli.js";

const CHROMIUM = process.env.PODWIRE_CHROMIUM ?? "/usr/bin/chromium";
const TSHARK_PREFS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-d", "udp.port==8472,vxlan"];

async function chromiumProblem(): Promise<string | null> {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install -y chromium, or set PODWIRE_CHROMIUM)`;
  try {
    await import("playwright-core");
  } catch (err) {
    return `playwright-core does not load: ${(err as Error).message}`;
  }
  return null;
}

const problem = await chromiumProblem();
if (problem !== null) console.log(`test/serve/browser.test.ts: skipping the browser test: ${problem}`);
const haveTshark = spawnSync("tshark", ["--version"], { stdio: "ignore" }).status === 0;

/** A hop as the page shows it, read back from the DOM. */
interface ShownHop {
  netns: string;
  device: string;
  action: string;
  timeNs: string;
  packetId: string;
  frame: string;
  visited: string | null;
  target: string | null;
  targetExists: boolean;
  packet: string | null;
  rules: { chain: string; position: string; text: string }[];
  nat: string | null;
  conntrack: string | null;
  drop: string | null;
}

interface JsonHop {
  netns: string;
  device: string;
  action: string;
  timeNs: number;
  packetId: number | null;
  frame: number | null;
  packet: { summary: string } | null;
  rules: { table: string; chain: string; position: number | null; rule: string }[] | null;
  nat: { kind: string; from: string; to: string; reply: boolean } | null;
  conntrack: { state: string } | null;
  drop: { reason: string } | null;
}

/**
 * Reads the hop list in the page. Plain JavaScript in a string: the test's TypeScript goes
 * through tsx, whose helpers (`__name`) do not exist in the page.
 */
const READ_HOPS = `[...document.querySelectorAll("#hops > li")].map((li) => {
  const text = (sel) => li.querySelector(sel)?.textContent ?? null;
  const target = li.getAttribute("data-target");
  return {
    netns: li.getAttribute("data-netns"),
    device: li.getAttribute("data-device"),
    action: li.getAttribute("data-action"),
    timeNs: li.getAttribute("data-time-ns"),
    packetId: li.getAttribute("data-packet-id"),
    frame: li.getAttribute("data-frame"),
    visited: li.getAttribute("data-visited"),
    target,
    targetExists: target !== null && target !== "" && document.querySelector('svg [data-place="' + CSS.escape(target) + '"]') !== null,
    packet: text(".hop-packet"),
    rules: [...li.querySelectorAll(".hop-rule")].map((r) => ({ chain: r.getAttribute("data-chain"), position: r.getAttribute("data-position"), text: r.textContent })),
    nat: text(".hop-nat"),
    conntrack: text(".hop-conntrack"),
    drop: text(".hop-drop"),
  };
})`;

function shownHops(page: Page): Promise<ShownHop[]> {
  return page.evaluate(READ_HOPS) as Promise<ShownHop[]>;
}

/** The page's hops against `trace --json`'s, field by field. */
function compareHops(t: ExecutionContext, shown: ShownHop[], expected: JsonHop[]): void {
  t.is(shown.length, expected.length, "one list item per hop");
  const wrong: string[] = [];
  expected.forEach((h, i) => {
    const s = shown[i]!;
    const want = {
      netns: h.netns,
      device: h.device,
      action: h.action,
      timeNs: String(h.timeNs),
      packetId: h.packetId === null ? "" : String(h.packetId),
      frame: h.frame === null ? "" : String(h.frame),
      packet: h.packet?.summary ?? null,
      rules: (h.rules ?? []).map((r) => ({ chain: r.chain, position: r.position === null ? "" : String(r.position) })),
      nat: h.nat === null ? null : `${h.nat.reply ? "un-" : ""}${h.nat.kind} ${h.nat.from} → ${h.nat.to}`,
      conntrack: h.conntrack?.state ?? null,
      drop: h.drop === null ? null : `dropped: ${h.drop.reason}`,
    };
    const got = {
      netns: s.netns,
      device: s.device,
      action: s.action,
      timeNs: s.timeNs,
      packetId: s.packetId,
      frame: s.frame,
      packet: s.packet,
      rules: s.rules.map((r) => ({ chain: r.chain, position: r.position })),
      nat: s.nat,
      conntrack: s.conntrack === null ? null : /^conntrack (\S+)/.exec(s.conntrack)![1]!,
      drop: s.drop,
    };
    if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`hop ${i + 1}: page ${JSON.stringify(got)}, trace --json ${JSON.stringify(want)}`);
    (h.rules ?? []).forEach((r, j) => {
      if (!s.rules[j]?.text.includes(r.rule)) wrong.push(`hop ${i + 1} rule ${j + 1}: the page does not show ${r.rule}`);
    });
    // The animation went through this hop, to the place in the topology where it happened.
    if (s.visited !== "true") wrong.push(`hop ${i + 1}: not animated`);
    if (!s.targetExists || !s.target!.startsWith(`${h.netns}|`)) wrong.push(`hop ${i + 1}: animated at ${s.target}, not in ${h.netns}`);
  });
  t.deepEqual(wrong, []);
}

/** Runs a trace from the page, then compares it, its animation and its capture with the CLI's. */
async function traceAndCompare(t: ExecutionContext, page: Page, dir: string, from: string, to: string, expectVxlan: boolean): Promise<void> {
  await page.selectOption("#pace", "20");
  await page.click("#send");
  await page.waitForSelector("body[data-trace=done]", { timeout: 60_000 });
  const file = join(dir, `${from.replace(/\W/g, "_")}.pcapng`);
  const cli = await podwire("trace", "--from", from, "--to", to, "--json", "--pcap", file);
  t.is(cli.code, 0, cli.stderr);
  const expected = JSON.parse(cli.stdout) as { ok: boolean; outcome: string; hops: JsonHop[] };
  t.true(expected.ok, expected.outcome);
  t.true((await page.textContent("#trace-outcome"))!.includes(expected.outcome));
  compareHops(t, await shownHops(page), expected.hops);

  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#pcap-link")]);
  const saved = join(dir, `downloaded-${from.replace(/\W/g, "_")}.pcapng`);
  await download.saveAs(saved);
  t.regex(download.suggestedFilename(), /^podwire-trace-[0-9]+\.pcapng$/);
  t.deepEqual(readFileSync(saved), readFileSync(file), "the page's pcapng is trace --pcap's file");
  if (!haveTshark) {
    t.log("tshark is not installed: the download is not dissected (apt-get install -y tshark)");
    return;
  }
  const tshark = (args: string[]) =>
    execFileSync("tshark", ["-r", saved, ...TSHARK_PREFS, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
      .split("\n")
      .filter((l) => l !== "");
  t.deepEqual(tshark(["-Y", "_ws.malformed || _ws.expert.severity == error", "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message"]), [], "malformed or erroneous frames");
  // Per frame: the checksum statuses tshark found (1 good, 0 bad), comma-joined per layer, and the VNI.
  const rows = tshark(["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", ...["frame.number", "ip.checksum.status", "udp.checksum.status", "tcp.checksum.status", "icmp.checksum.status", "vxlan.vni"].flatMap((f) => ["-e", f])]).map((l) => l.split("\t"));
  t.is(rows.length, frameCount(saved), "tshark reads every frame");
  const statuses = rows.flatMap((r) => r.slice(1, 5).join(",").split(",").filter((x) => x !== ""));
  // Wireshark's checksum statuses: 0 bad, 1 good, 2 unverified, 3 not present (a VXLAN outer UDP checksum of 0), 4 illegal.
  t.deepEqual(statuses.filter((x) => x === "0" || x === "4" || x === "2"), [], "no bad, illegal or unverified checksum");
  t.true(statuses.filter((x) => x === "1").length > 5, "checksums were checked and good");
  if (expectVxlan) t.true(rows.some((r) => r[5]!.split(",").includes("1")), "the overlay's frames decode as VXLAN VNI 1");
}

/** Enhanced packet blocks in a pcapng file, counted from its bytes. */
function frameCount(file: string): number {
  const b = readFileSync(file);
  let n = 0;
  for (let off = 0; off + 12 <= b.length; ) {
    const type = b.readUInt32LE(off);
    if (type === 6) n++;
    off += b.readUInt32LE(off + 4);
  }
  return n;
}

/** The server, browser and page the tests share; closed after them whatever happened. */
interface Shared {
  serve: ServeHandle;
  browser: Browser;
  page: Page;
  dir: string;
  errors: string[];
}

let shared: Partial<Shared> = {};
const browserTest = problem === null ? test.serial : test.skip;

if (problem === null) {
  test.before(async () => {
    const { chromium } = await import("playwright-core");
    shared.dir = mkdtempSync(join(tmpdir(), "podwire-browser-"));
    shared.serve = await startServe({ spec: defaultCluster(), listen: { host: "127.0.0.1", port: 0, loopback: true }, speed: 1, traffic: "mix", watch: null });
    shared.browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    const page = await shared.browser.newPage({ viewport: { width: 1600, height: 1000 }, acceptDownloads: true });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    shared.page = page;
    shared.errors = errors;
    await page.goto(shared.serve.url);
    await page.waitForSelector("body[data-ready=true]");
  });

  test.after.always(async () => {
    await shared.browser?.close();
    await shared.serve?.close();
    if (shared.dir) rmSync(shared.dir, { recursive: true, force: true });
    shared = {};
  });
}

browserTest("the page draws every node and Pod of the embedded cluster, with live counters", async (t) => {
  const { page, serve } = shared as Shared;
  const spec = defaultCluster();
  const nodes = await page.$$eval("svg .node[data-node]", (els) => els.map((e) => e.getAttribute("data-node")));
  t.deepEqual(nodes, spec.nodes.map((n) => n.name));
  const pods = await page.$$eval("svg [data-pod]", (els) => els.map((e) => e.getAttribute("data-pod")).sort());
  t.deepEqual(pods, spec.pods.map((p) => `${p.namespace}/${p.name}`).sort());
  for (const n of spec.nodes) {
    for (const dev of ["eth0", "cni0", "flannel.1"]) t.is(await page.locator(`svg [data-place="${n.name}|${dev}"]`).count(), 1, `${n.name} ${dev}`);
  }
  t.is(await page.locator("svg .service").count(), serve.live.observed.services.model.services.length, "every Service (kubernetes, kube-dns, web, …) as a virtual box");
  // The live counters arrive: conntrack sizes per node, packet rates on devices.
  await page.waitForFunction(`/conntrack [1-9][0-9]* entries/.test(document.querySelector('[data-conntrack="worker-1"]')?.textContent ?? "")`, null, { timeout: 20_000 });
  await page.waitForFunction(`[...document.querySelectorAll("svg .rate")].some((r) => /↓[0-9.]+k? ↑/.test(r.textContent ?? ""))`, null, { timeout: 20_000 });
});

browserTest("a NodePort trace picked by clicks: animated hop by hop as trace --json has it; its pcapng is trace --pcap's and dissects", async (t) => {
  const { page, dir } = shared as Shared;
  await page.click('svg [data-place="outside|eth0"]');
  await page.click('svg .node[data-node="worker-2"] rect');
  t.is(await page.inputValue("#from"), "ext/outside");
  t.is(await page.inputValue("#to"), "node/worker-2");
  await page.fill("#port", "30080");
  await traceAndCompare(t, page, dir, "ext/outside", "node/worker-2:30080", false);
  t.true((await page.textContent("#trace-service"))!.startsWith("kube-proxy on worker-2: accept, DNAT to 10.244."));
});

browserTest("a trace across nodes, picked from the lists: its VXLAN frames in the pcapng; no script errors", async (t) => {
  const { page, dir, errors } = shared as Shared;
  await page.selectOption("#from", "pod/default/client");
  await page.selectOption("#to", "pod/default/web-1");
  await page.fill("#port", "");
  await traceAndCompare(t, page, dir, "pod/default/client", "pod/default/web-1", true);
  t.deepEqual(errors, [], "no script errors in the page");
});

browserTest("the dashboard shows kube-proxy's sync when the watched file gains a Service, then draws it", async (t) => {
  const { appendFileSync, writeFileSync } = await import("node:fs");
  const { DEFAULT_CLUSTER_YAML } = await import("../../src/cluster/default-cluster.js");
  const { loadClusterFile } = await import("../../src/cluster/load.js");
  let serve: ServeHandle | null = null;
  const dir = mkdtempSync(join(tmpdir(), "podwire-browser-watch-"));
  const page = await (shared as Shared).browser.newPage();
  try {
    const file = join(dir, "cluster.yaml");
    writeFileSync(file, DEFAULT_CLUSTER_YAML);
    serve = await startServe({ spec: loadClusterFile(file), listen: { host: "127.0.0.1", port: 0, loopback: true }, speed: 5, traffic: "idle", watch: { file, strict: false, override: () => {} } });
    await page.goto(serve.url);
    await page.waitForSelector("body[data-ready=true]");
    t.is(await page.locator('svg .service[data-service="default/web-alt"]').count(), 0);
    await new Promise((r) => setTimeout(r, 1100)); // the poll compares modification times
    appendFileSync(file, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web-alt\n  namespace: default\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 8080\n    targetPort: http\n");
    await page.waitForSelector('#events li[data-kind="sync-landed"]', { timeout: 30_000 });
    await page.waitForSelector('svg .service[data-service="default/web-alt"]', { timeout: 10_000 });
    const kinds = await page.$$eval("#events li", (els) => els.map((e) => e.getAttribute("data-kind")).reverse());
    t.deepEqual(kinds, ["file-changed", "sync-queued", "sync-started", "sync-landed"]);
    t.regex((await page.textContent("#sync-state"))!, /rules in sync \(1 sync since start\)/);
    t.true(await page.locator('#to option[value="svc/default/web-alt"]').count() === 1, "the new Service can be traced to");
  } finally {
    await page.close();
    await serve?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
