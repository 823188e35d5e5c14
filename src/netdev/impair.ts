/**
 * Impairments of a link, applied as a frame leaves a device — what a netem qdisc on it, or
 * a faulty cable, NIC or switch behind it, does to the frames: some are lost, some are
 * duplicated. A duplicate is the same frame sent again `duplicateDelayNs` later (as a switch
 * flooding during a loop, a bonding failover or a retransmitting middlebox delivers one), so
 * it arrives after the frames sent in between; a capture on the device shows it when it
 * leaves (tcpdump sees frames after the qdisc). Draws come from a seeded RNG of their own,
 * so an impaired run is as reproducible as any other and the rest of the run draws the same.
 */
import { Rng } from "../base/index.js";
import type { NetDevice } from "./device.js";
import type { PacketBuffer } from "./packet-buffer.js";
import type { TimerTask } from "./simulator.js";

export interface ImpairmentSettings {
  /** Probability that a frame is lost (netem `loss`), 0–1. */
  loss?: number;
  /** Probability that a frame is sent twice, 0–1. */
  duplicate?: number;
  /** How much later the copy leaves (virtual ns). */
  duplicateDelayNs?: number;
  /** Only frames this accepts are impaired (e.g. one flow); default every frame. */
  match?: (buf: Uint8Array, off: number, len: number) => boolean;
  /** The RNG's seed. */
  seed?: number;
}

export class LinkImpairment {
  /** Frames lost and duplicated so far. */
  lost = 0;
  duplicated = 0;
  private readonly rng: Rng;

  constructor(readonly settings: ImpairmentSettings) {
    this.rng = new Rng(settings.seed ?? 1);
  }

  /**
   * Called as `dev` is about to send `pkt`: false when the frame is lost (it is released);
   * true when it goes on — after a copy has perhaps been scheduled through `send`.
   */
  apply(dev: NetDevice, pkt: PacketBuffer, send: (copy: PacketBuffer) => void): boolean {
    const s = this.settings;
    if (s.match !== undefined && !s.match(pkt.buf, pkt.head, pkt.tail - pkt.head)) return true;
    if (s.loss !== undefined && s.loss > 0 && this.rng.nextFloat() < s.loss) {
      this.lost++;
      dev.drop(pkt, "impairment-loss", "tx");
      return false;
    }
    if (s.duplicate !== undefined && s.duplicate > 0 && this.rng.nextFloat() < s.duplicate) {
      this.duplicated++;
      const copy = dev.sim.pool.clone(pkt);
      const task: TimerTask = { fire: () => send(copy) };
      dev.sim.schedule(s.duplicateDelayNs ?? 0, task);
    }
    return true;
  }
}
