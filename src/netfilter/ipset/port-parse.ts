/**
 * Port parts of ipset entries. Hash types store `[proto:]port[-port]`, where a bare number
 * means tcp (as ipset's parser defaults), names of protocols without ports need the pseudo
 * port 0, and numbers read like strtoul. bitmap:port stores bare ports; a `tcp:`/`udp:`
 * prefix is accepted and dropped, as ipset does.
 */
import { ipsetError } from "./errors.js";
import { parseUint } from "./numbers.js";
import { IPPROTO_TCP, protoByName, protoHasPorts } from "./protocols.js";

export interface PortSpan {
  proto: number;
  first: number;
  last: number;
}

function parsePort(text: string, whole: string): number {
  const port = parseUint(text, 65535);
  if (port < 0) {
    throw ipsetError(
      "E_IPSET_PORT",
      `${JSON.stringify(text)} in ${JSON.stringify(whole)} is not a port number from 0 to 65535`,
      "write the port as a number; service names are not resolved",
      "entry",
    );
  }
  return port;
}

function parsePortRange(text: string, whole: string): { first: number; last: number } {
  const dash = text.indexOf("-");
  if (dash < 0) {
    const p = parsePort(text, whole);
    return { first: p, last: p };
  }
  const a = parsePort(text.slice(0, dash), whole);
  const b = parsePort(text.slice(dash + 1), whole);
  return a <= b ? { first: a, last: b } : { first: b, last: a };
}

/** `[proto:]port[-port]` of a hash type. */
export function parseProtoPort(text: string): PortSpan {
  const colon = text.indexOf(":");
  if (colon < 0) return { proto: IPPROTO_TCP, ...parsePortRange(text, text) };
  const protoText = text.slice(0, colon);
  const proto = protoByName(protoText);
  if (proto < 0) {
    const icmp = /^(icmp|1)$/i.test(protoText);
    throw ipsetError(
      "E_IPSET_PROTO",
      `unknown protocol ${JSON.stringify(protoText)} in ${JSON.stringify(text)}`,
      icmp ? "icmp type/code entries are not emulated" : "use tcp, udp, sctp or udplite (or gre, esp, ah with port 0)",
      "entry",
    );
  }
  const span = { proto, ...parsePortRange(text.slice(colon + 1), text) };
  if (!protoHasPorts(proto) && (span.first !== 0 || span.last !== 0)) {
    throw ipsetError("E_IPSET_PORT", `protocol ${protoText} has no ports in ${JSON.stringify(text)}`, `write ${protoText}:0`, "entry");
  }
  return span;
}

/** A bitmap:port entry: `port`, `port-port`, optionally prefixed by `tcp:` or `udp:`. */
export function parseBarePorts(text: string): { first: number; last: number } {
  const m = /^(tcp|udp):(.*)$/i.exec(text);
  return parsePortRange(m ? m[2]! : text, text);
}
