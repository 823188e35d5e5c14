/**
 * A stub resolver as glibc's getaddrinfo(AF_UNSPEC) runs it over UDP (resolv/res_send.c,
 * send_dg): the A and AAAA queries of a name leave back to back from one socket (sendmmsg,
 * the same source port, so one conntrack flow), and the lookup waits until both answers are
 * in or `options timeout:` (default 5 s, RES_TIMEOUT) passes. Then:
 *
 * - one answer in and the other missing: glibc decides the name server cannot take two
 *   outstanding queries from one source, switches to RES_SNGLKUP (`single-request`) and
 *   sends both again, one after the other, from the same socket (`goto retry`); if that
 *   times out with one answer too, to RES_SNGLKUPREOP (a new socket for the second query);
 * - no answer at all: the next try, up to `options attempts:` (default 2, RES_DFLRETRY).
 *
 * With `options single-request` the second query leaves only once the first is answered;
 * `single-request-reopen` implies it (send_dg: `single_request = RES_SNGLKUP |
 * single_request_reopen`) and sends the second from a new socket, so it is a new flow.
 * Answers are matched on the query ID and type and must come from the name server's address
 * and port 53 (res_ourserver_p). The name is asked as given (a fully qualified name: no
 * search list), without EDNS, with recursion desired.
 */
import type { NetworkNamespace, UdpHandler } from "../netns/index.js";
import type { PacketBuffer, TimerTask } from "../netdev/index.js";
import { DNS_CLASS_IN, DNS_TYPE_A, DNS_TYPE_AAAA, DnsRepr } from "../wire/index.js";
import { udpEnvelope } from "./apps.js";

export interface ResolverOptions {
  /** The name server (resolv.conf `nameserver`): the kube-dns Service's ClusterIP in a Pod. */
  nameserver: number;
  /** `options timeout:N` in seconds (default 5). */
  timeoutS?: number;
  /** `options attempts:N` (default 2). */
  attempts?: number;
  /** `options single-request`. */
  singleRequest?: boolean;
  /** `options single-request-reopen`. */
  singleRequestReopen?: boolean;
}

/** One query datagram the resolver sent. */
export interface SentQuery {
  atNs: number;
  type: "A" | "AAAA";
  id: number;
  srcPort: number;
}

export interface LookupResult {
  name: string;
  /** A records from the answer. */
  addresses: number[];
  /** Which answers arrived (AAAA: an answer, NODATA included). */
  answeredA: boolean;
  answeredAAAA: boolean;
  /** Both answers arrived. */
  ok: boolean;
  startNs: number;
  endNs: number;
  queries: SentQuery[];
  /** Poll timeouts the lookup sat through. */
  timeouts: number;
  /** The RES_SNGLKUP / RES_SNGLKUPREOP fallbacks glibc switched to on a partial timeout. */
  fellBackTo: ("single-request" | "single-request-reopen")[];
}

const NS_PER_S = 1_000_000_000;
const DNS_PORT = 53;

interface Slot {
  type: "A" | "AAAA";
  qtype: number;
  id: number;
  answered: boolean;
}

export class GlibcResolver {
  readonly timeoutNs: number;
  readonly attempts: number;
  private singleRequest: boolean;
  private singleRequestReopen: boolean;

  constructor(
    readonly ns: NetworkNamespace,
    readonly opts: ResolverOptions,
  ) {
    this.timeoutNs = (opts.timeoutS ?? 5) * NS_PER_S;
    this.attempts = opts.attempts ?? 2;
    this.singleRequestReopen = opts.singleRequestReopen === true;
    this.singleRequest = opts.singleRequest === true || this.singleRequestReopen;
  }

  /** getaddrinfo(name, AF_UNSPEC): calls `done` on the virtual clock when the lookup ends. */
  lookup(name: string, done: (r: LookupResult) => void): void {
    new Lookup(this, name, this.singleRequest, this.singleRequestReopen, done).start();
  }
}

/** One getaddrinfo call: __res_context_send's tries around send_dg. */
class Lookup implements UdpHandler {
  private readonly sim;
  private readonly result: LookupResult;
  private port = 0;
  private slots: Slot[] = [];
  /** The next slot to send in single-request mode; 2 when both are out. */
  private nextToSend = 0;
  private attempt = 0;
  /** Bumped whenever a wait is abandoned, so a stale poll timer does nothing. */
  private generation = 0;
  private finished = false;

  constructor(
    private readonly r: GlibcResolver,
    name: string,
    private singleRequest: boolean,
    private singleRequestReopen: boolean,
    private readonly done: (r: LookupResult) => void,
  ) {
    this.sim = r.ns.sim;
    this.result = { name, addresses: [], answeredA: false, answeredAAAA: false, ok: false, startNs: this.sim.now(), endNs: 0, queries: [], timeouts: 0, fellBackTo: [] };
  }

  start(): void {
    this.openSocket();
    this.sendDg();
  }

  private openSocket(): void {
    const ns = this.r.ns;
    if (this.port !== 0) ns.unbindUdp(this.port);
    this.port = ns.ephemeralPort((p) => ns.udpPortInUse(p));
    ns.bindUdp(this.port, this);
  }

  /** send_dg, from its `retry:` label: fresh query IDs are not drawn again (the same messages), both answers reset. */
  private sendDg(): void {
    if (this.slots.length === 0) {
      const rng = this.sim.rng;
      this.slots = [
        { type: "A", qtype: DNS_TYPE_A, id: rng.nextU32() & 0xffff, answered: false },
        { type: "AAAA", qtype: DNS_TYPE_AAAA, id: rng.nextU32() & 0xffff, answered: false },
      ];
    }
    for (const s of this.slots) s.answered = false;
    this.nextToSend = 0;
    this.armTimeout();
    if (this.singleRequest) this.sendSlot(0);
    else {
      // sendmmsg: both datagrams in one call, back to back from one socket.
      this.sendSlot(0);
      this.sendSlot(1);
    }
  }

  private sendSlot(i: number): void {
    const s = this.slots[i]!;
    const query: DnsRepr = {
      id: s.id,
      flags: { qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0 },
      questions: [{ name: this.result.name, type: s.qtype, class: DNS_CLASS_IN }],
      answers: [],
    };
    const bytes = new Uint8Array(DnsRepr.bufferLen(query));
    DnsRepr.emit(query, bytes, 0);
    this.result.queries.push({ atNs: this.sim.now(), type: s.type, id: s.id, srcPort: this.port });
    this.r.ns.sendUdp(this.port, this.r.opts.nameserver, DNS_PORT, bytes);
    this.nextToSend = i + 1;
  }

  /** The poll deadline: `seconds` from the start of this round (evAddTime(&finish, &now, &timeout)). */
  private armTimeout(): void {
    const gen = ++this.generation;
    const timer: TimerTask = { fire: () => gen === this.generation && !this.finished && this.onTimeout() };
    this.sim.schedule(this.r.timeoutNs, timer);
  }

  onDatagram(ns: NetworkNamespace, pkt: PacketBuffer): void {
    const d = udpEnvelope(pkt);
    let reply: DnsRepr | null = null;
    // res_ourserver_p: only the name server's own address and port count.
    if (d.srcIp === this.r.opts.nameserver && d.srcPort === DNS_PORT) {
      try {
        reply = DnsRepr.parse(d.payload, 0, d.payload.length);
      } catch {
        reply = null;
      }
    }
    ns.sim.pool.release(pkt);
    if (reply === null || !reply.flags.qr || this.finished) return;
    const slot = this.slots.find((s) => s.id === reply!.id && reply!.questions[0]?.type === s.qtype && !s.answered);
    if (slot === undefined) return;
    slot.answered = true;
    if (slot.type === "A") {
      this.result.answeredA = true;
      this.result.addresses = reply.answers.filter((a) => a.type === DNS_TYPE_A && typeof a.data === "number").map((a) => a.data as number);
    } else {
      this.result.answeredAAAA = true;
    }
    if (this.slots.every((s) => s.answered)) {
      this.finish(true);
      return;
    }
    if (this.singleRequest && this.nextToSend < this.slots.length) {
      // The first answer is in: the second query goes now — from a new socket with reopen.
      if (this.singleRequestReopen) this.openSocket();
      this.sendSlot(this.nextToSend);
    }
  }

  private onTimeout(): void {
    this.result.timeouts++;
    const some = this.slots.some((s) => s.answered);
    if (some) {
      if (!this.singleRequest) {
        this.singleRequest = true;
        this.result.fellBackTo.push("single-request");
        this.sendDg();
        return;
      }
      if (!this.singleRequestReopen) {
        this.singleRequestReopen = true;
        this.result.fellBackTo.push("single-request-reopen");
        this.openSocket();
        this.sendDg();
        return;
      }
      this.finish(false);
      return;
    }
    // Nothing came back: the next try (__res_context_send's `for (try …)`).
    this.attempt++;
    if (this.attempt >= this.r.attempts) {
      this.finish(false);
      return;
    }
    this.sendDg();
  }

  private finish(ok: boolean): void {
    this.finished = true;
    this.generation++;
    this.result.ok = ok;
    this.result.endNs = this.sim.now();
    this.r.ns.unbindUdp(this.port);
    this.done(this.result);
  }
}
