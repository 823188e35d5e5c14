/**
 * Wires capture taps on emulated devices to a pcapng writer: one interface description
 * block per device (named `node/device`, e.g. `worker-1/cni0`), frames stamped with the
 * virtual clock, direction in the comment when asked. The pcap layer knows nothing of
 * devices; this is where the two meet.
 */
import type { CaptureDirection, CaptureTap, NetDevice, PacketBuffer } from "../netdev/index.js";
import { FileSink, PcapngWriter } from "../pcap/index.js";
import type { ByteSink } from "../pcap/index.js";

export interface CaptureOptions {
  /** Add a comment to each frame saying where it was seen and which way it went. */
  comments?: boolean;
}

export class CaptureSession implements CaptureTap {
  private readonly ids = new Map<NetDevice, number>();
  private readonly writer: PcapngWriter;
  private readonly devices: NetDevice[];
  private readonly sink: ByteSink;
  frames = 0;
  bytes = 0;
  /** A comment for the next frame written (e.g. the start of a scenario). */
  private pendingComment: string | null = null;

  constructor(
    sink: ByteSink,
    devices: readonly NetDevice[],
    private readonly options: CaptureOptions = {},
  ) {
    this.sink = sink;
    this.writer = new PcapngWriter(sink, { userappl: "podwire" });
    this.devices = [...devices];
    for (const dev of this.devices) {
      this.ids.set(dev, this.writer.addInterface({ name: dev.qualifiedName, description: `${dev.kind} device ${dev.name} in ${dev.owner || "(none)"}` }));
      dev.taps.push(this);
    }
  }

  static toFile(path: string, devices: readonly NetDevice[], options: CaptureOptions = {}): CaptureSession {
    return new CaptureSession(new FileSink(path), devices, options);
  }

  /** Sets a comment to attach to the next captured frame. */
  annotateNext(comment: string): void {
    this.pendingComment = comment;
  }

  capture(dev: NetDevice, direction: CaptureDirection, pkt: PacketBuffer, note?: string): void {
    const id = this.ids.get(dev);
    if (id === undefined) return;
    const data = pkt.buf.subarray(pkt.head, pkt.tail);
    let comment: string | undefined;
    if (this.pendingComment !== null) {
      comment = this.pendingComment;
      this.pendingComment = null;
    }
    if (this.options.comments) {
      const where = `${direction === "rx" ? "received on" : "sent from"} ${dev.qualifiedName}${note ? `: ${note}` : ""}`;
      comment = comment ? `${comment} | ${where}` : where;
    }
    this.writer.writePacket(id, dev.sim.now(), data, comment === undefined ? undefined : { comment });
    this.frames++;
    this.bytes += data.length;
  }

  /** Removes the taps and finishes the file (renamed into place). */
  close(): void {
    this.untap();
    this.writer.close();
  }

  /** Removes the taps and throws the capture away: an existing file at the path stays as it was. */
  abort(): void {
    this.untap();
    if (this.sink.abort) this.sink.abort();
    else this.writer.close();
  }

  private untap(): void {
    for (const dev of this.devices) {
      const i = dev.taps.indexOf(this);
      if (i >= 0) dev.taps.splice(i, 1);
    }
  }
}
