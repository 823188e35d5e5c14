/**
 * Round robin (net/netfilter/ipvs/ip_vs_rr.c): continue after the last chosen destination,
 * wrapping once around the list, and take the first one with weight > 0 that is not
 * overloaded. The cursor starts at the list head; deleting the destination under the
 * cursor moves it to the previous entry (ip_vs_rr_del_dest).
 */
import { DEST_F_OVERLOAD } from "../constants.js";
import type { IpvsDest, IpvsService } from "../model.js";
import type { Scheduler } from "./scheduler.js";

export class RoundRobin implements Scheduler {
  readonly name = "rr";
  /** The last destination chosen; null is the list head. */
  private cursor: IpvsDest | null = null;
  /** Where `cursor` sat when chosen: checked before use, as a destination added or removed since shifts it. */
  private cursorAt = -1;

  addDest(): void {}

  delDest(svc: IpvsService, dest: IpvsDest, formerIndex: number): void {
    if (this.cursor === dest) {
      this.cursor = formerIndex > 0 ? svc.dests[formerIndex - 1]! : null;
      this.cursorAt = formerIndex - 1;
    }
  }

  updDest(): void {}

  schedule(svc: IpvsService): IpvsDest | null {
    const dests = svc.dests;
    const n = dests.length;
    const cursor = this.cursor;
    const last = cursor === null ? -1 : dests[this.cursorAt] === cursor ? this.cursorAt : dests.indexOf(cursor);
    // From the entry after `last` to the end, then (unless we started at the head) from the
    // first entry up to and including `last`: n candidates either way.
    for (let k = 1; k <= n; k++) {
      const at = last < 0 ? k - 1 : (last + k) % n;
      const d = dests[at]!;
      if ((d.flags & DEST_F_OVERLOAD) === 0 && d.weight > 0) {
        this.cursor = d;
        this.cursorAt = at;
        return d;
      }
    }
    return null;
  }
}
