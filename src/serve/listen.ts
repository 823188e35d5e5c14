/**
 * `--listen HOST:PORT`: where the server listens. Loopback only unless `--allow-remote`:
 * the page drives a cluster and shows its traffic, so it is nobody else's by default.
 */
import { isIP } from "node:net";
import { PodwireError } from "../base/index.js";

export const DEFAULT_LISTEN = "127.0.0.1:8080";

export interface ListenAddress {
  host: string;
  /** 0: any free port (the server says which). */
  port: number;
  loopback: boolean;
}

/** Parses `HOST:PORT`, `[IPv6]:PORT` or `localhost:PORT`; port 0 asks for a free one. */
export function parseListen(text: string, allowRemote: boolean): ListenAddress {
  const bad = (why: string) => new PodwireError("E_ARG", `--listen ${JSON.stringify(text)}: ${why}`, { field: "--listen" }, `pass e.g. --listen ${DEFAULT_LISTEN}`);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text);
  if (m === null) throw bad("is not HOST:PORT");
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port > 65535) throw bad(`port ${port} is not from 0 to 65535`);
  if (m[1] !== undefined && isIP(host) !== 6) throw bad(`${host} is not an IPv6 address`);
  if (m[2] !== undefined && host !== "localhost" && isIP(host) !== 4) throw bad(`${host} is neither an IPv4 address nor localhost`);
  const loopback = isLoopback(host);
  if (!loopback && !allowRemote) {
    throw new PodwireError(
      "E_ARG",
      `--listen ${text}: ${host} is not a loopback address, so other machines could reach the dashboard and drive the cluster`,
      { field: "--listen" },
      "listen on 127.0.0.1, or add --allow-remote if you mean it",
    );
  }
  return { host, port, loopback };
}

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}
