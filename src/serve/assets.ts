/**
 * The dashboard's files (src/serve/assets: the page, its script and its style), read once
 * at start and served by podwire itself — no CDN, nothing fetched from elsewhere. From the
 * compiled dist/src/serve/ the files are found in the package's src/serve/assets.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface Asset {
  type: string;
  body: Uint8Array;
}

const FILES: Record<string, string> = {
  "/index.html": "text/html; charset=utf-8",
  "/assets/app.js": "text/javascript; charset=utf-8",
  "/assets/style.css": "text/css; charset=utf-8",
};

export function assetsDir(): string {
  const candidates = [new URL("./assets/", import.meta.url), new URL("../../../src/serve/assets/", import.meta.url)];
  for (const c of candidates) if (existsSync(new URL("index.html", c))) return fileURLToPath(c);
  throw new Error(`the dashboard's files are missing (looked in ${candidates.map((c) => fileURLToPath(c)).join(" and ")})`);
}

export function loadAssets(): Map<string, Asset> {
  const dir = assetsDir();
  const out = new Map<string, Asset>();
  for (const [path, type] of Object.entries(FILES)) {
    const file = path === "/index.html" ? "index.html" : path.slice("/assets/".length);
    out.set(path, { type, body: readFileSync(`${dir}${file}`) });
  }
  return out;
}
