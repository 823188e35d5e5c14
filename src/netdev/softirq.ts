/**
 * The CPUs a namespace's receive processing runs on (the NET_RX softirq), for the races that
 * need two packets in flight at once. A frame that arrives on one of the namespace's devices
 * starts a softirq pass on a free CPU — at once, or when the earliest-free CPU is done — and
 * holds it for the pass: the bridge's forwarding step if it came in on a bridge port, and the
 * IPv4 stack's receive path if it goes up (timing.ts). The stack runs the netfilter hooks at
 * the start of its part and the packet leaves (its conntrack entry confirmed, the frame
 * transmitted or delivered) when the pass ends, so on two CPUs two packets can both sit
 * between conntrack's NEW entry and its confirmation; on one CPU they take turns.
 *
 * Frames are handed to the first free CPU (as RPS or two sending threads spread them); the
 * kernel's per-CPU backlogs and RPS flow hashing are not modelled. A namespace without a
 * SoftirqCpus (the default) runs every pass at once, with no contention and the hooks at the
 * end of the pass, as before this model existed.
 */
export class SoftirqCpus {
  /** When each CPU finishes the pass it holds (virtual ns). */
  readonly busyUntil: number[];
  /** Passes started, and those that waited for a CPU. */
  passes = 0;
  waited = 0;

  constructor(readonly cpus: number) {
    if (!Number.isInteger(cpus) || cpus < 1) throw new Error(`softirq CPUs must be a whole number ≥ 1, not ${cpus}`);
    this.busyUntil = new Array<number>(cpus).fill(-Infinity);
  }

  /** Takes the CPU that is free first for `durationNs` from `now` on; returns when the pass starts. */
  reserve(now: number, durationNs: number): number {
    let best = 0;
    for (let i = 1; i < this.busyUntil.length; i++) if (this.busyUntil[i]! < this.busyUntil[best]!) best = i;
    const start = Math.max(now, this.busyUntil[best]!);
    this.busyUntil[best] = start + durationNs;
    this.passes++;
    if (start > now) this.waited++;
    return start;
  }
}
