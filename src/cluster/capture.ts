/**
 * Wires capture taps on emulated devices to a pcapng writer: one interface description
 * block per device (named `node/device`, e.g. `worker-1/cni0`), frames stamped with the
 * virtual clock, each with its direction in epb_flags (and in a comment when asked), and
 * at the end one interface statistics block per device, as dumpcap writes them. The pcap
 * layer knows nothing of devices; this is where the two meet.
 */
import type { CaptureDirection, CaptureTap, NetDevice, PacketBuffer } from "../netdev/index.js";
import { EPB_FLAGS_INBOUND, EPB_FLAGS_OUTBOUND, FileSink, PcapngWriter } from "../pcap/index.js";
import type { ByteSink } from "../pcap/index.js";

/** Frames a device has dropped, all reasons together (its DeviceStats). */
function deviceDrops(dev: NetDevice): number {
  let drops = 0;
  for (const n of dev.stats.drops.values()) drops += n;
  return drops;
}

export interface CaptureOptions {
  /** Add a comment to each frame saying where it was seen and which way it went. */
  comments?: boolean;
  /**
   * Tell the simulator's tracer, while one is on, the number of each frame written, so trace
   * events name the frame of their packet on their device (one capture per trace should).
   */
  numberTraceFrames?: boolean;
}

export class CaptureSession implements CaptureTap {
  private readonly ids = new Map<NetDevice, number>();
  private readonly writer: PcapngWriter;
  private readonly devices: NetDevice[];
  private readonly sink: ByteSink;
  /** Each device's drop counter when the capture started, so the statistics cover the capture only. */
  private readonly dropBaselines: number[] = [];
  /** Frames written per interface id. */
  private readonly written: number[] = [];
  private readonly startNs: number;
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
    this.startNs = this.devices.length > 0 ? this.devices[0]!.sim.now() : 0;
    for (const dev of this.devices) {
      this.ids.set(dev, this.writer.addInterface({ name: dev.qualifiedName, description: `${dev.kind} device ${dev.name} in ${dev.owner || "(none)"}` }));
      this.dropBaselines.push(deviceDrops(dev));
      this.written.push(0);
      dev.taps.push(this);
    }
  }

  static toFile(path: string, devices: readonly NetDevice[], options: CaptureOptions = {}): CaptureSession {
    return new CaptureSession(new FileSink(path), devices, options);
  }

  /**
   * Captures devices created after the capture started too (a Pod created at run time): each
   * gets its interface description block now, which pcapng allows before its first packet.
   */
  addDevices(devices: readonly NetDevice[]): void {
    for (const dev of devices) {
      if (this.ids.has(dev)) continue;
      this.devices.push(dev);
      this.ids.set(dev, this.writer.addInterface({ name: dev.qualifiedName, description: `${dev.kind} device ${dev.name} in ${dev.owner || "(none)"}` }));
      this.dropBaselines.push(deviceDrops(dev));
      this.written.push(0);
      dev.taps.push(this);
    }
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
    const flags = direction === "rx" ? EPB_FLAGS_INBOUND : EPB_FLAGS_OUTBOUND;
    this.writer.writePacket(id, dev.sim.now(), data, comment === undefined ? { flags } : { flags, comment });
    this.written[id]!++;
    this.frames++;
    this.bytes += data.length;
    // Wireshark's frame.number: this frame's 1-based position in the file.
    if (this.options.numberTraceFrames && dev.sim.tracer !== null) dev.sim.tracer.frameCaptured(dev.qualifiedName, pkt, this.frames);
  }

  /**
   * Removes the taps, writes one interface statistics block per device and finishes the file
   * (renamed into place). As dumpcap fills them: isb_ifrecv is the number of frames the
   * capture received from the device (libpcap's ps_recv), isb_ifdrop the frames the device
   * itself dropped (its DeviceStats drop counters), both since the capture started, and
   * isb_usrdeliv the frames written (all of them: the capture never drops).
   */
  close(): void {
    this.untap();
    this.devices.forEach((dev, id) => {
      const endNs = dev.sim.now();
      const seen = this.written[id]!;
      this.writer.writeInterfaceStatistics(id, endNs, {
        comment: "Counters provided by podwire",
        startNs: this.startNs,
        endNs,
        ifRecv: seen,
        ifDrop: deviceDrops(dev) - this.dropBaselines[id]!,
        osDrop: 0,
        usrDeliv: seen,
      });
    });
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
