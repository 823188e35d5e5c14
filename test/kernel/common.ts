/**
 * What both halves of the kernel differential suite share: the topology's addresses, the
 * probe and outcome vocabulary, a restore-text builder, and the normalisations applied
 * before comparing.
 */

/** S's addresses: the "Pod" endpoints. */
export const ENDPOINTS = ["10.0.2.10", "10.0.2.11", "10.0.2.12", "10.0.2.13", "10.0.2.14"] as const;
/** Ports S serves (UDP and TCP) on every endpoint address. */
export const SERVER_PORTS = [8080, 8081, 9090] as const;

export const CLIENT_IP = "10.0.1.2";
export const ROUTER_C = "10.0.1.1";
export const ROUTER_S = "10.0.2.1";

/** One flow from C. For `icmp`, `sport` is the echo identifier and `dport` is ignored. */
export interface Probe {
  proto: "udp" | "tcp" | "icmp";
  dst: string;
  dport: number;
  sport: number;
}

/** Probes sent one after another, or all at once (`parallel`). */
export interface Batch {
  parallel: boolean;
  probes: Probe[];
}

export type Outcome =
  /** A UDP answer or a TCP answer followed by EOF: the endpoint (address:port) and the peer it saw. */
  | { kind: "reply"; ep: string; peer: string }
  /** An ICMP echo reply from `from`. */
  | { kind: "echo"; from: string }
  /** An ICMP error about the probe (destination unreachable, time exceeded). */
  | { kind: "icmp"; type: number; code: number; from: string }
  /** TCP: the connection attempt was answered with RST (ECONNREFUSED, no ICMP). */
  | { kind: "reset" }
  | { kind: "timeout" }
  | { kind: "error"; detail: string };

export interface OutcomeView {
  /** Replace the port of the peer the server saw by `*` (MASQUERADE --random-fully picks it at random). */
  anyPeerPort?: boolean;
}

export function outcomeKey(o: Outcome, view: OutcomeView = {}): string {
  switch (o.kind) {
    case "reply":
      return `reply ep=${o.ep} peer=${view.anyPeerPort ? o.peer.replace(/:\d+$/, ":*") : o.peer}`;
    case "echo":
      return `echo from=${o.from}`;
    case "icmp":
      return `icmp type=${o.type} code=${o.code} from=${o.from}`;
    case "reset":
      return "reset";
    case "timeout":
      return "timeout";
    case "error":
      return `error ${o.detail}`;
  }
}

/** Unique client ports per process, so no flow of one case meets a leftover of another. */
let nextPort = 20000;
export function freshPort(): number {
  const p = nextPort++;
  if (nextPort > 32000) nextPort = 20000;
  return p;
}

export function udp(dst: string, dport: number): Probe {
  return { proto: "udp", dst, dport, sport: freshPort() };
}
export function tcp(dst: string, dport: number): Probe {
  return { proto: "tcp", dst, dport, sport: freshPort() };
}
export function ping(dst: string): Probe {
  return { proto: "icmp", dst, dport: 0, sport: freshPort() };
}

// ---------------------------------------------------------------- rules

export interface TableSpec {
  policies?: Partial<Record<string, "ACCEPT" | "DROP">>;
  /** User chains to declare. */
  chains?: string[];
  rules?: string[];
}

const BUILTIN: Record<"nat" | "filter", string[]> = {
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  filter: ["INPUT", "FORWARD", "OUTPUT"],
};

/**
 * iptables-restore text with both a `*nat` and a `*filter` section (always both, so that
 * loading it into the shared kernel router replaces everything the previous case loaded).
 */
export function restoreText(spec: { nat?: TableSpec; filter?: TableSpec }): string {
  const lines: string[] = [];
  for (const table of ["nat", "filter"] as const) {
    const t = spec[table] ?? {};
    lines.push(`*${table}`);
    for (const c of BUILTIN[table]) lines.push(`:${c} ${t.policies?.[c] ?? "ACCEPT"} [0:0]`);
    for (const c of t.chains ?? []) lines.push(`:${c} - [0:0]`);
    for (const r of t.rules ?? []) lines.push(r);
    lines.push("COMMIT");
  }
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------- conntrack

export interface ConntrackView {
  /** Replace these addresses (anywhere in a line) by a token, e.g. endpoints chosen at random → `EP`. */
  addrTokens?: Map<string, string>;
  /** Replace the reply tuple's destination port by `*` when the reply destination is this address (MASQUERADE --random-fully). */
  anyReplyDportFor?: string;
}

/**
 * One `conntrack -L` line in comparable form: the timeout column (wall-clock dependent) and
 * `use=` (a kernel reference count) are dropped, as are `zone=` and the entry's `id=` should
 * a tool print them. ICMP tuples keep their `id=` (the echo identifier, part of the tuple).
 */
export function normaliseConntrackLine(line: string, view: ConntrackView = {}): string {
  const words = line.trim().split(/\s+/);
  // proto name, proto number, seconds left, ...
  const rest = words.slice(3).filter((w) => !/^(use|zone)=/.test(w));
  // An entry id printed by `-o id` comes last: `id=N` after mark=; ICMP's `id=` sits inside the tuples.
  if (rest.length > 0 && /^id=/.test(rest[rest.length - 1]!) && rest.some((w) => w.startsWith("mark="))) rest.pop();
  let out = [words[0], words[1], ...rest];
  if (view.anyReplyDportFor !== undefined) {
    // Reply tuple: the second src=…dst=…sport=…dport= group.
    let srcSeen = 0;
    let replyDst = "";
    out = out.map((w) => {
      if (w.startsWith("src=")) srcSeen++;
      if (srcSeen === 2 && w.startsWith("dst=")) replyDst = w.slice(4);
      if (srcSeen === 2 && w.startsWith("dport=") && replyDst === view.anyReplyDportFor) return "dport=*";
      return w;
    });
  }
  let s = out.join(" ");
  if (view.addrTokens) {
    s = s.replace(/\b(src|dst)=(\d+\.\d+\.\d+\.\d+)\b/g, (m, k: string, a: string) => {
      const tok = view.addrTokens!.get(a);
      return tok === undefined ? m : `${k}=${tok}`;
    });
  }
  return s;
}

export function normaliseConntrack(lines: string[], view: ConntrackView = {}): string[] {
  return lines
    .filter((l) => /^\w+\s+\d+\s/.test(l.trim()))
    .map((l) => normaliseConntrackLine(l, view))
    .sort();
}

/** Multiset difference for messages: lines only in `a` and only in `b`. */
export function diffLines(a: string[], b: string[]): { onlyA: string[]; onlyB: string[] } {
  const count = new Map<string, number>();
  for (const l of a) count.set(l, (count.get(l) ?? 0) + 1);
  const onlyB: string[] = [];
  for (const l of b) {
    const n = count.get(l) ?? 0;
    if (n > 0) count.set(l, n - 1);
    else onlyB.push(l);
  }
  const onlyA: string[] = [];
  for (const [l, n] of count) for (let i = 0; i < n; i++) onlyA.push(l);
  return { onlyA, onlyB };
}

/**
 * A loose binomial sanity bound: with `n` flows and probability `p` per endpoint, the count
 * lies within 5 standard deviations (+1) of the mean. Fails with probability < 1e-6 per check.
 */
export function withinBinomial(count: number, n: number, p: number): boolean {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  return Math.abs(count - mean) <= 5 * sd + 1;
}
