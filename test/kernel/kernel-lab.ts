/**
 * The real-kernel half of the differential suite: the same three-namespace topology the
 * podwire half builds (see podwire-lab.ts), made of real network namespaces and veths,
 * with python3 helpers as the client and the servers.
 *
 *   C (eth0 10.0.1.2/24) ── veth ── R (r0 10.0.1.1/24 | r1 10.0.2.1/24, forwarding) ── veth ── S (eth0 10.0.2.10–.14/24)
 *
 * C and S route everything via R; R routes the Service network 10.96.0.0/16 out of r1
 * (so a VIP that no rule translates ends in an ARP failure, as on a node). S runs a UDP
 * and TCP server on every endpoint address and port in `SERVER_PORTS` that answers with
 * `ep=<its address:port> peer=<the client address:port it saw>`.
 *
 * Everything is created under the name prefix `pw-k-<pid>-`; leftovers of dead processes
 * are removed before starting.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Batch, ENDPOINTS, type Outcome, SERVER_PORTS } from "./common.js";

const TIMEOUT_MS = 30_000;

function findTool(name: string): string | null {
  for (const dir of ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/bin", "/usr/local/sbin"]) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8", timeout: 5000 });
  const p = r.stdout?.trim();
  return r.status === 0 && p ? p : null;
}

const IP = findTool("ip");
const RESTORE = findTool("iptables-restore");
const CONNTRACK = findTool("conntrack");
const SYSCTL = findTool("sysctl");
const PYTHON = findTool("python3");

function run(cmd: string, args: string[], input?: string, timeout = TIMEOUT_MS): string {
  return execFileSync(cmd, args, { input, timeout, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], maxBuffer: 64 << 20 });
}

function errText(e: unknown): string {
  const err = e as { message?: string; stderr?: string };
  return `${(err.stderr || err.message || String(e)).trim().split("\n").slice(0, 3).join(" | ")}`;
}

// ---------------------------------------------------------------- python helpers

const CLIENT_PY = String.raw`
import errno, json, select, socket, struct, sys, threading, time
IP_RECVERR = 11
MSG_ERRQUEUE = 0x2000
job = json.load(sys.stdin)
T = job["timeout"]

def errq(s):
    try:
        _, anc, _, _ = s.recvmsg(512, 512, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
    except OSError:
        return None
    for lvl, typ, d in anc:
        if lvl == socket.IPPROTO_IP and typ == IP_RECVERR and len(d) >= 16:
            ee_errno, origin, etype, ecode = struct.unpack_from("=IBBB", d, 0)
            frm = ""
            if len(d) >= 24 and struct.unpack_from("=H", d, 16)[0] == socket.AF_INET:
                frm = socket.inet_ntoa(d[20:24])
            if origin == 2:
                return {"kind": "icmp", "type": etype, "code": ecode, "from": frm}
            return {"kind": "error", "detail": "errqueue origin %d errno %d" % (origin, ee_errno)}
    return None

def udp(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", p["sport"]))
        s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        s.connect((p["dst"], p["dport"]))
        s.send(b"probe")
        end = time.monotonic() + T
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return {"kind": "timeout"}
            r, _, _ = select.select([s], [], [], left)
            if not r:
                return {"kind": "timeout"}
            try:
                return {"kind": "reply", "text": s.recv(2048).decode()}
            except OSError as e:
                q = errq(s)
                return q if q else {"kind": "error", "detail": "udp errno %d" % e.errno}
    finally:
        s.close()

def tcp(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", p["sport"]))
        s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        s.settimeout(T)
        try:
            s.connect((p["dst"], p["dport"]))
        except socket.timeout:
            return {"kind": "timeout"}
        except OSError as e:
            q = errq(s)
            if q:
                return q
            if e.errno == errno.ECONNREFUSED:
                return {"kind": "reset"}
            return {"kind": "error", "detail": "connect errno %d" % e.errno}
        s.sendall(b"hello")
        data = b""
        try:
            while True:
                d = s.recv(2048)
                if not d:
                    break
                data += d
        except socket.timeout:
            return {"kind": "error", "detail": "no EOF after %r" % data}
        except OSError as e:
            return {"kind": "error", "detail": "recv errno %d after %r" % (e.errno, data)}
        return {"kind": "reply", "text": data.decode()}
    finally:
        s.close()

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff

def ping(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    try:
        ident = p["sport"] & 0xffff
        payload = bytes((i + 8) & 0xff for i in range(56))
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
        pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + payload), ident, 1) + payload
        s.sendto(pkt, (p["dst"], 0))
        end = time.monotonic() + T
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return {"kind": "timeout"}
            r, _, _ = select.select([s], [], [], left)
            if not r:
                return {"kind": "timeout"}
            b, _ = s.recvfrom(4096)
            ihl = (b[0] & 15) * 4
            src = socket.inet_ntoa(b[12:16])
            t, c = b[ihl], b[ihl + 1]
            if t == 0 and struct.unpack_from("!H", b, ihl + 4)[0] == ident:
                return {"kind": "echo", "from": src}
            if t in (3, 11) and len(b) >= ihl + 8 + 20 + 8:
                inner = b[ihl + 8:]
                iihl = (inner[0] & 15) * 4
                if inner[9] == 1 and len(inner) >= iihl + 8 and struct.unpack_from("!H", inner, iihl + 4)[0] == ident:
                    return {"kind": "icmp", "type": t, "code": c, "from": src}
    finally:
        s.close()

FN = {"udp": udp, "tcp": tcp, "icmp": ping}

def one(p):
    try:
        return FN[p["proto"]](p)
    except Exception as e:
        return {"kind": "error", "detail": "%s: %s" % (type(e).__name__, e)}

out = []
for batch in job["batches"]:
    res = [None] * len(batch["probes"])
    if batch["parallel"]:
        def work(i, p):
            res[i] = one(p)
        ths = [threading.Thread(target=work, args=(i, p)) for i, p in enumerate(batch["probes"])]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
    else:
        for i, p in enumerate(batch["probes"]):
            res[i] = one(p)
    out.append(res)
time.sleep(0.1)
json.dump(out, sys.stdout)
`;

const SERVER_PY = String.raw`
import selectors, socket, sys
addrs = sys.argv[1].split(",")
ports = [int(x) for x in sys.argv[2].split(",")]
sel = selectors.DefaultSelector()
for a in addrs:
    for p in ports:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        u.bind((a, p))
        sel.register(u, selectors.EVENT_READ, ("udp", a, p, None))
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((a, p))
        t.listen(256)
        t.setblocking(False)
        sel.register(t, selectors.EVENT_READ, ("tcp", a, p, None))
# Exit when the test process goes away (our stdin is its pipe).
sel.register(sys.stdin, selectors.EVENT_READ, ("stdin", "", 0, None))
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        kind, a, p, peer = key.data
        s = key.fileobj
        if kind == "stdin":
            if not sys.stdin.buffer.read1(4096):
                sys.exit(0)
            continue
        try:
            if kind == "udp":
                data, peer = s.recvfrom(2048)
                s.sendto(("ep=%s:%d peer=%s:%d" % (a, p, peer[0], peer[1])).encode(), peer)
            elif kind == "tcp":
                c, peer = s.accept()
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ, ("conn", a, p, peer))
            else:
                data = s.recv(2048)
                sel.unregister(s)
                if data:
                    s.sendall(("ep=%s:%d peer=%s:%d" % (a, p, peer[0], peer[1])).encode())
                s.close()
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            if kind == "conn":
                try:
                    sel.unregister(s)
                except Exception:
                    pass
                s.close()
`;

// ---------------------------------------------------------------- availability

const PREFIX = `pw-k-${process.pid}-`;
let nsCounter = 0;

function listNamespaces(): string[] {
  if (!IP) return [];
  try {
    return run(IP, ["netns", "list"])
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[0] ?? "")
      .filter((n) => n !== "");
  } catch {
    return [];
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Deletes `pw-k-<pid>-*` namespaces and `pw-kernel-<pid>-*` temp dirs whose process is gone (left by a crashed run). */
export function deleteLeftovers(): void {
  try {
    for (const d of readdirSync(tmpdir())) {
      const m = /^pw-kernel-(\d+)-/.exec(d);
      if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) rmSync(join(tmpdir(), d), { recursive: true, force: true });
    }
  } catch {
    // nothing to clean
  }
  for (const ns of listNamespaces()) {
    const m = /^pw-k-(\d+)-/.exec(ns);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    deleteNamespace(ns);
  }
}

function deleteNamespace(ns: string): void {
  try {
    run(IP!, ["netns", "delete", ns]);
  } catch {
    // already gone
  }
}

/** Why the kernel comparison cannot run here, or null when it can. */
function unavailable(): string | null {
  if (process.env.PODWIRE_KERNEL_TESTS === "off") return "PODWIRE_KERNEL_TESTS=off";
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (typeof process.getuid === "function" && process.getuid() !== 0) return `not root (uid ${process.getuid()})`;
  const missing = [!IP && "ip", !RESTORE && "iptables-restore", !CONNTRACK && "conntrack", !SYSCTL && "sysctl", !PYTHON && "python3"].filter(Boolean);
  if (missing.length > 0) return `missing tools: ${missing.join(", ")}`;
  deleteLeftovers();
  const ns = `${PREFIX}probe${nsCounter++}`;
  try {
    run(IP!, ["netns", "add", ns]);
  } catch (e) {
    return `cannot create a network namespace: ${errText(e)}`;
  }
  try {
    run(IP!, ["-n", ns, "link", "add", "a0", "type", "veth", "peer", "name", "a1"]);
    run(IP!, ["netns", "exec", ns, SYSCTL!, "-q", "-w", "net.ipv4.ip_forward=1"]);
    run(IP!, ["netns", "exec", ns, RESTORE!], "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.96.0.1/32 -p udp -j DNAT --to-destination 10.0.2.10:8080\nCOMMIT\n");
    run(IP!, ["netns", "exec", ns, CONNTRACK!, "-L"]);
    run(IP!, ["netns", "exec", ns, PYTHON!, "-c", "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)"]);
    return null;
  } catch (e) {
    return `cannot set up veth / iptables-restore / conntrack / raw sockets in a namespace: ${errText(e)}`;
  } finally {
    deleteNamespace(ns);
  }
}

export const kernelUnavailable: string | null = unavailable();

// ---------------------------------------------------------------- the lab

export interface KernelRun {
  outcomes: Outcome[][];
  /** `conntrack -L` lines of R. */
  conntrack: string[];
}

export class KernelLab {
  readonly c = `${PREFIX}c${nsCounter++}`;
  readonly r = `${PREFIX}r${nsCounter++}`;
  readonly s = `${PREFIX}s${nsCounter++}`;
  private readonly dir = mkdtempSync(join(tmpdir(), `pw-kernel-${process.pid}-`));
  private server: ChildProcess | null = null;
  private readonly created: string[] = [];

  private ip(...args: string[]): string {
    return run(IP!, args);
  }

  private exec(ns: string, cmd: string, args: string[], input?: string, timeout?: number): string {
    return run(IP!, ["netns", "exec", ns, cmd, ...args], input, timeout);
  }

  async start(): Promise<void> {
    writeFileSync(join(this.dir, "client.py"), CLIENT_PY);
    writeFileSync(join(this.dir, "server.py"), SERVER_PY);
    for (const ns of [this.c, this.r, this.s]) {
      this.ip("netns", "add", ns);
      this.created.push(ns);
      this.exec(ns, SYSCTL!, ["-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]);
      this.ip("-n", ns, "link", "set", "lo", "up");
    }
    this.exec(this.r, SYSCTL!, ["-q", "-w", "net.ipv4.ip_forward=1"]);
    // podwire does not model ICMP rate limiting (see the case that shows it): switch it off
    // where errors are generated so bursts of REJECTs compare one to one.
    for (const ns of [this.r, this.s]) this.exec(ns, SYSCTL!, ["-q", "-w", "net.ipv4.icmp_ratemask=0"]);
    this.ip("-n", this.c, "link", "add", "eth0", "type", "veth", "peer", "name", "r0", "netns", this.r);
    this.ip("-n", this.r, "link", "add", "r1", "type", "veth", "peer", "name", "eth0", "netns", this.s);
    this.ip("-n", this.c, "addr", "add", "10.0.1.2/24", "dev", "eth0");
    this.ip("-n", this.r, "addr", "add", "10.0.1.1/24", "dev", "r0");
    this.ip("-n", this.r, "addr", "add", "10.0.2.1/24", "dev", "r1");
    for (const ep of ENDPOINTS) this.ip("-n", this.s, "addr", "add", `${ep}/24`, "dev", "eth0");
    this.ip("-n", this.c, "link", "set", "eth0", "up");
    this.ip("-n", this.r, "link", "set", "r0", "up");
    this.ip("-n", this.r, "link", "set", "r1", "up");
    this.ip("-n", this.s, "link", "set", "eth0", "up");
    this.ip("-n", this.c, "route", "add", "default", "via", "10.0.1.1");
    this.ip("-n", this.s, "route", "add", "default", "via", "10.0.2.1");
    this.ip("-n", this.r, "route", "add", "10.96.0.0/16", "dev", "r1");
    await this.startServer();
  }

  private startServer(): Promise<void> {
    const child = spawn(IP!, ["netns", "exec", this.s, PYTHON!, "-u", join(this.dir, "server.py"), ENDPOINTS.join(","), SERVER_PORTS.join(",")], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.server = child;
    return new Promise((resolve, reject) => {
      let out = "";
      let err = "";
      const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 10_000);
      child.stdout!.setEncoding("utf8");
      child.stderr!.setEncoding("utf8");
      child.stderr!.on("data", (d: string) => (err += d));
      child.stdout!.on("data", (d: string) => {
        out += d;
        if (out.includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited (${code}): ${err}`));
      });
    });
  }

  /** `sysctl -w` in R (e.g. to restore a default for one case). */
  routerSysctl(...settings: string[]): void {
    this.exec(this.r, SYSCTL!, ["-q", "-w", ...settings]);
  }

  /** Replaces R's tables named in `rules` (iptables-restore without --noflush), empties conntrack and the neighbour tables. */
  load(rules: string): void {
    this.exec(this.r, RESTORE!, [], rules);
    // podwire starts every case with empty neighbour tables; so does the kernel lab.
    for (const ns of [this.c, this.r, this.s]) this.ip("-n", ns, "neigh", "flush", "all");
    this.flushConntrack();
  }

  flushConntrack(): void {
    try {
      this.exec(this.r, CONNTRACK!, ["-F"]);
    } catch {
      // "0 flow entries" is not an error on every version; a real failure shows in -L
    }
  }

  conntrack(): string[] {
    const out = this.exec(this.r, CONNTRACK!, ["-L"]);
    return out.split("\n").filter((l) => l.trim() !== "");
  }

  /** Runs the probes from C and returns what each one saw, then R's conntrack table. */
  probe(batches: Batch[], timeoutSec: number): KernelRun {
    const job = JSON.stringify({ timeout: timeoutSec, batches });
    const out = this.exec(this.c, PYTHON!, [join(this.dir, "client.py")], job, 120_000);
    const outcomes = (JSON.parse(out) as RawOutcome[][]).map((b) => b.map(toOutcome));
    return { outcomes, conntrack: this.conntrack() };
  }

  /** Saves R's ruleset with counters (for failure messages). */
  save(): string {
    try {
      return this.exec(this.r, findTool("iptables-save") ?? "iptables-save", ["-c"]);
    } catch (e) {
      return errText(e);
    }
  }

  stop(): void {
    if (this.server && this.server.exitCode === null) {
      this.server.removeAllListeners("exit");
      this.server.kill("SIGKILL");
    }
    for (const ns of this.created) deleteNamespace(ns);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

type RawOutcome = { kind: "reply"; text: string } | { kind: "icmp"; type: number; code: number; from: string } | { kind: "echo"; from: string } | { kind: "reset" } | { kind: "timeout" } | { kind: "error"; detail: string };

function toOutcome(r: RawOutcome): Outcome {
  if (r.kind !== "reply") return r;
  const m = /^ep=(\S+) peer=(\S+)$/.exec(r.text);
  if (!m) return { kind: "error", detail: `unparsable reply ${JSON.stringify(r.text)}` };
  return { kind: "reply", ep: m[1]!, peer: m[2]! };
}
