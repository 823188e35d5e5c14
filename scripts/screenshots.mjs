#!/usr/bin/env node
// Screenshots of `podwire serve`'s dashboard for the README: docs/serve-topology.png (the
// embedded cluster with its live counters) and docs/serve-trace.png (a NodePort trace from
// the host outside, its path lit up and its hops listed). Runs the real command and Debian's
// chromium headless through playwright-core (PODWIRE_CHROMIUM names another binary).
//   node scripts/screenshots.mjs [--out docs]
// The pictures show a running cluster: its clock, rates and conntrack counts differ a little
// from run to run (the traffic is seeded; when the screenshot is taken is not).
import { spawn } from "node:child_process";
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const ROOT = new URL("../", import.meta.url).pathname;
const CHROMIUM = process.env.PODWIRE_CHROMIUM ?? "/usr/bin/chromium";
const outIndex = process.argv.indexOf("--out");
const OUT = outIndex > 0 ? process.argv[outIndex + 1] : join(ROOT, "docs");

if (!existsSync(CHROMIUM)) {
  console.error(`screenshots: ${CHROMIUM} is missing (apt-get install -y chromium, or set PODWIRE_CHROMIUM)`);
  process.exit(2);
}
if (!existsSync(OUT)) {
  console.error(`screenshots: --out ${OUT} does not exist`);
  process.exit(2);
}

/** Written beside the target and renamed into place, so a failed run leaves the old picture. */
function save(name, bytes) {
  const path = join(OUT, name);
  const tmp = join(OUT, `.${name}.${process.pid}.tmp`);
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
  console.log(`screenshots: wrote ${path}`);
}

const serve = spawn(process.execPath, [join(ROOT, "bin/podwire.js"), "serve", "--listen", "127.0.0.1:0", "--traffic", "mix", "--seed", "1"], { stdio: ["ignore", "pipe", "inherit"] });
let browser = null;
try {
  const url = await new Promise((resolve, reject) => {
    let out = "";
    serve.stdout.on("data", (d) => {
      out += d;
      const m = /at (http:\/\/\S+\/)\n/.exec(out);
      if (m) resolve(m[1]);
    });
    serve.on("exit", (code) => reject(new Error(`podwire serve exited (${code}) before it served`)));
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1600, height: 940 }, deviceScaleFactor: 1 });
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]");
  // A few seconds of traffic, so the rates and conntrack sizes have something to show.
  await page.waitForTimeout(4000);
  save("serve-topology.png", await page.screenshot());

  await page.click('svg [data-place="outside|eth0"]');
  await page.click('svg .node[data-node="worker-2"] rect');
  await page.fill("#port", "30080");
  await page.selectOption("#pace", "20");
  await page.click("#send");
  await page.waitForSelector("body[data-trace=done]", { timeout: 60_000 });
  // The hop where kube-proxy's DNAT happened, in view and marked.
  await page.evaluate(() => {
    const nat = [...document.querySelectorAll("#hops > li")].find((li) => li.querySelector(".hop-nat"));
    const list = document.getElementById("hops");
    if (nat) {
      nat.classList.add("current");
      list.scrollTop = nat.offsetTop - list.offsetTop - 60;
    }
    window.scrollTo(0, 0);
  });
  save("serve-trace.png", await page.screenshot());
} finally {
  await browser?.close();
  serve.kill("SIGTERM");
}
