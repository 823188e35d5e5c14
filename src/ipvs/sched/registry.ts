/** Scheduler names to implementations (the kernel's registered ip_vs_scheduler list). */
import type { IpvsService } from "../model.js";
import { DestinationHashing, SourceHashing } from "./hash-tables.js";
import { LeastConnection, NeverQueue, ShortestExpectedDelay, WeightedLeastConnection } from "./least-conn.js";
import { MaglevHashing } from "./mh.js";
import { RoundRobin } from "./rr.js";
import type { Scheduler, SchedulerOptions } from "./scheduler.js";
import { WeightedRoundRobin } from "./wrr.js";

export const SCHEDULER_NAMES: readonly string[] = ["rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh"];

export function isSchedulerName(name: string): boolean {
  return SCHEDULER_NAMES.includes(name);
}

/** A fresh scheduler bound to `svc`'s current destinations (init_service); null for an unknown name. */
export function createScheduler(name: string, svc: IpvsService, opts: SchedulerOptions = {}): Scheduler | null {
  switch (name) {
    case "rr":
      return new RoundRobin();
    case "wrr":
      return new WeightedRoundRobin(svc);
    case "lc":
      return new LeastConnection();
    case "wlc":
      return new WeightedLeastConnection();
    case "sed":
      return new ShortestExpectedDelay();
    case "nq":
      return new NeverQueue();
    case "sh":
      return new SourceHashing(svc);
    case "dh":
      return new DestinationHashing(svc);
    case "mh":
      return new MaglevHashing(svc, opts);
    default:
      return null;
  }
}
