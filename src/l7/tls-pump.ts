/**
 * Drives a simulator whose sockets speak TLS. The simulator runs virtual time synchronously,
 * but Node's TLS answers asynchronously (its stream plumbing hops through process.nextTick
 * and setImmediate before OpenSSL's output comes back). So the pump runs the simulator one
 * instant at a time; whenever an instant handed bytes to a TLS socket (or an application
 * wrote to one), it stops the clock and waits for the event loop until every TLS socket in
 * the process is idle, then goes on. TLS output therefore always leaves at the virtual
 * instant of the input that caused it (plus the application response time, tls.ts), never
 * at whatever instant the clock had reached when Node got round to it — the same exchange
 * gives the same frames at the same times, except for the bytes TLS itself draws at random
 * (client/server random, key shares, session tickets), which OpenSSL does not let a caller
 * seed.
 *
 * "Idle" is exact, not a guess: all of TLS's deferred work in this process is nextTicks
 * (drained before an immediate runs) and immediates, and `process.getActiveResourcesInfo()`
 * counts pending immediates; idle is a full turn of the event loop in which no TLS socket
 * did anything and no immediate is left pending.
 */
import type { Simulator } from "../netdev/index.js";

/** What one simulator's TLS sockets owe the pump. */
interface SimTlsState {
  /** A TLS socket was given work since the pump last settled. */
  dirty: boolean;
}

const states = new WeakMap<Simulator, SimTlsState>();
/** TLS work in sockets without a simulator (streams joined in memory). */
const detached: SimTlsState = { dirty: false };
/** Bumped by every TLS socket event anywhere in the process: settling waits for a turn without one. */
let activity = 0;

/**
 * Records that a TLS socket on `sim` was handed bytes or a request (called by tls.ts): the
 * pump will let the event loop run before the simulator's clock moves on.
 */
export function noteTlsWork(sim: Simulator | undefined): void {
  activity++;
  if (sim === undefined) {
    detached.dirty = true;
    return;
  }
  let s = states.get(sim);
  if (s === undefined) states.set(sim, (s = { dirty: true }));
  s.dirty = true;
}

/** Records TLS activity that needs no particular simulator's attention (output, callbacks). */
export function noteTlsActivity(): void {
  activity++;
}

/** Turns in a row with no TLS activity but someone else's immediates pending, after which settling stops waiting for them. */
const FOREIGN_IMMEDIATE_TURNS = 1000;

function pendingImmediates(): number {
  let n = 0;
  for (const r of process.getActiveResourcesInfo()) if (r === "Immediate") n++;
  return n;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

let settling: Promise<void> | null = null;

/**
 * Resolves once Node's TLS has nothing left to do in this process. Concurrent callers share
 * one wait (two pumps each waiting for the other's immediate would never see the loop idle).
 */
export function settleTls(): Promise<void> {
  if (settling === null) {
    settling = (async () => {
      try {
        let quietTurns = 0;
        for (;;) {
          const before = activity;
          await nextTurn();
          if (activity !== before) {
            quietTurns = 0;
            continue;
          }
          if (pendingImmediates() === 0 || ++quietTurns >= FOREIGN_IMMEDIATE_TURNS) return;
        }
      } finally {
        settling = null;
      }
    })();
  }
  return settling;
}

export interface PumpOptions {
  /** Run until the queue is empty or the next event is after this (ns); default: until empty. */
  untilNs?: number;
  /** Livelock guard, as Simulator.run's. */
  maxEvents?: number;
}

/**
 * The asynchronous Simulator.run: processes events in time order up to `untilNs`, letting
 * TLS sockets finish their work at each instant that gave them some. Returns the number of
 * events processed. Without TLS sockets it processes exactly what `sim.run(untilNs)` would,
 * in the same order; like it, it leaves the clock at `untilNs` when that is finite.
 */
export async function runUntilSettled(sim: Simulator, opts: PumpOptions = {}): Promise<number> {
  const untilNs = opts.untilNs ?? Infinity;
  const maxEvents = opts.maxEvents ?? 10_000_000;
  let n = 0;
  for (;;) {
    const s = states.get(sim);
    if ((s !== undefined && s.dirty) || detached.dirty) {
      if (s !== undefined) s.dirty = false;
      detached.dirty = false;
      await settleTls();
      continue;
    }
    const t = sim.nextEventNs;
    if (t === Infinity || t > untilNs || n >= maxEvents) break;
    // One instant at a time: TLS work it causes is finished before the clock moves.
    n += sim.run(t, maxEvents - n);
  }
  if (untilNs !== Infinity && n < maxEvents && sim.now() < untilNs) sim.run(untilNs, 0);
  return n;
}

/** Whether TLS sockets on `sim` were given work the pump has not settled yet (for callers that run the simulator themselves). */
export function tlsWorkPending(sim: Simulator): boolean {
  return states.get(sim)?.dirty === true;
}
