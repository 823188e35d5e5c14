/**
 * Runs the real `nft` in scratch network namespaces (`pw-nft-<pid>-<random>`, deleted after
 * each use). `nftUnavailable` says why the kernel tests cannot run here, or is null.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";

const TIMEOUT = 20_000;

function findTool(name: string): string | null {
  for (const dir of ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]) if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  return null;
}

const IP = findTool("ip");
const NFT = findTool("nft");

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, timeout: TIMEOUT, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], maxBuffer: 64 << 20 });
}

function firstLine(e: unknown): string {
  const err = e as { stderr?: string; message?: string };
  return (err.stderr || err.message || String(e)).trim().split("\n")[0] ?? "";
}

/** Runs `fn` with a fresh namespace, always deleting it. */
export function withNamespace<T>(fn: (ns: string) => T): T {
  const ns = `pw-nft-${process.pid}-${randomBytes(4).toString("hex")}`;
  run(IP!, ["netns", "add", ns]);
  try {
    return fn(ns);
  } finally {
    try {
      run(IP!, ["netns", "delete", ns]);
    } catch {
      // already gone
    }
  }
}

export type NftResult = { ok: true; listing: string } | { ok: false; error: string };

/** Loads each script with `nft -f -` in turn in one fresh namespace, then lists the ruleset. */
export function kernelLoad(...scripts: string[]): NftResult {
  return withNamespace((ns) => {
    for (const s of scripts) {
      try {
        run(IP!, ["netns", "exec", ns, NFT!, "-f", "-"], s);
      } catch (e) {
        return { ok: false, error: firstLine(e) };
      }
    }
    // Element expiry times depend on the clock: not part of the comparison.
    const listing = run(IP!, ["netns", "exec", ns, NFT!, "list", "ruleset"]).replace(/ expires [0-9dhms]+/g, "");
    return { ok: true, listing };
  });
}

function unavailable(): string | null {
  if (process.env.PODWIRE_KERNEL_TESTS === "off") return "PODWIRE_KERNEL_TESTS=off";
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (typeof process.getuid === "function" && process.getuid() !== 0) return `not root (uid ${process.getuid()})`;
  if (!IP || !NFT) return `missing tools: ${[!IP && "ip", !NFT && "nft"].filter(Boolean).join(", ")}`;
  try {
    const r = kernelLoad("add table ip pw-probe\nadd chain ip pw-probe c { type filter hook input priority 0 ; }\n");
    if (!r.ok) return `the kernel refuses a minimal nftables table: ${r.error}`;
    return null;
  } catch (e) {
    return `cannot create a network namespace and run nft: ${firstLine(e)}`;
  }
}

export const nftUnavailable: string | null = unavailable();

export function nftVersion(): string {
  return NFT ? run(NFT, ["--version"]).trim() : "";
}
