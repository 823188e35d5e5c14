/**
 * A frame in flight: bytes `buf[head..tail)` with free headroom before `head`, so that
 * encapsulation prepends headers in place instead of copying the frame (as an skb does).
 */
import type { NetDevice } from "./device.js";
import type { PacketTrace } from "./trace.js";

/** Room before the frame: outer Ethernet + IPv4 + UDP + VXLAN is 50 bytes; leave plenty. */
export const HEADROOM = 128;
export const DEFAULT_BUFFER_SIZE = 2048 + HEADROOM;

/**
 * A conntrack entry that counts the packets holding it (skb->_nfct's nf_conntrack_get /
 * nf_conntrack_put); any other object in `ct` is just held.
 */
interface CountedCt {
  ctGet?(): void;
  ctPut?(): void;
}

/** nf_conntrack_put of the packet's entry, if it counts references. */
function putCt(ct: object | null): void {
  if (ct !== null) (ct as CountedCt).ctPut?.();
}

export class PacketBuffer {
  buf: Uint8Array;
  head = HEADROOM;
  tail = HEADROOM;
  /** The device the frame last arrived on (skb->dev on receive). */
  ingress: NetDevice | null = null;
  /** The bridge port a bridged frame came in on (for physdev-style matches later). */
  bridgePort: NetDevice | null = null;
  /** Netfilter mark (skb->mark). */
  mark = 0;
  /**
   * The conntrack entry (skb->_nfct), opaque to this layer; null when untracked or not yet
   * seen. Whoever sets it takes a reference (nf_conntrack_get); this class puts it back
   * whenever the packet lets go of it (reset, scrub, release) and takes one for a copy.
   */
  ct: object | null = null;
  /** Direction of this packet in its connection: 0 original, 1 reply. */
  ctDir = 0;
  /** The packet's conntrack state as XT_CONNTRACK_STATE bits (0 until conntrack has seen it). */
  ctState = 0;
  /** The IPVS connection that handled this packet (skb->ipvs_property), opaque here; null otherwise. */
  ipvs: object | null = null;
  /** br_netfilter already ran PREROUTING on this frame (the stack must not run it again). */
  brNfDone = false;
  /**
   * A bridged frame DNATed to a destination behind the same bridge, waiting in the
   * neighbour layer (nf_bridge->bridged_dnat): the bridge's xmit resumes it from
   * `bridgePort` with `brNfSrcMac` (its own source MAC, nf_bridge->neigh_header) put back.
   */
  brNfBridgedDnat = false;
  brNfSrcMac = 0;
  /** Whether hops of this packet are recorded in the trace. */
  trace = false;
  /** Where the scheduled delivery of this packet goes (see Simulator.deliverLater). */
  deliverTo: NetDevice | null = null;
  /** What the scheduled delivery does there (a STEP_* of timing.ts; 0 = receive). */
  deliverStep = 0;
  /** Set when the packet is owned by a pool and currently free. */
  free = false;
  /**
   * skb->ip_summed == CHECKSUM_PARTIAL: the sender left its TCP checksum to the device (the
   * bytes here always carry the final checksum; the flag records who is to compute it).
   */
  csumPartial = false;
  /** The softirq CPUs (softirq.ts) whose pass this packet is in, and when that pass ends; null outside one. */
  softirq: object | null = null;
  passEnd = 0;
  /** Conntrack confirmation waits for the end of the softirq pass (set by the confirm hook). */
  confirmLate = false;
  /** While tracing: which traced packet this is and the frames it was captured as; null otherwise. */
  traceLinks: PacketTrace | null = null;

  constructor(size = DEFAULT_BUFFER_SIZE) {
    this.buf = new Uint8Array(size);
  }

  get length(): number {
    return this.tail - this.head;
  }

  /** A view of the frame's bytes (allocates a view object: not for the fast path). */
  bytes(): Uint8Array {
    return this.buf.subarray(this.head, this.tail);
  }

  /** Empties the buffer and clears metadata. */
  reset(): void {
    this.head = HEADROOM;
    this.tail = HEADROOM;
    this.ingress = null;
    this.bridgePort = null;
    this.mark = 0;
    putCt(this.ct);
    this.ct = null;
    this.ctDir = 0;
    this.ctState = 0;
    this.ipvs = null;
    this.brNfDone = false;
    this.brNfBridgedDnat = false;
    this.brNfSrcMac = 0;
    this.trace = false;
    this.deliverTo = null;
    this.deliverStep = 0;
    this.traceLinks = null;
    this.csumPartial = false;
    this.softirq = null;
    this.passEnd = 0;
    this.confirmLate = false;
  }

  /**
   * Forgets the conntrack state, as skb_scrub_packet does when a packet enters or leaves a
   * tunnel: the inner and outer packets are different flows to netfilter.
   */
  scrub(): void {
    putCt(this.ct);
    this.ct = null;
    this.ctDir = 0;
    this.ctState = 0;
    this.ipvs = null;
    this.brNfDone = false;
  }

  /** Drops `n` bytes from the front (e.g. an outer header after decapsulation). */
  pull(n: number): void {
    this.head += n;
  }

  /** Sets the frame to a copy of `bytes`, starting after the headroom. */
  setBytes(bytes: Uint8Array): void {
    this.head = HEADROOM;
    this.buf.set(bytes, this.head);
    this.tail = this.head + bytes.length;
  }

  /** Copies frame and metadata into `dst` (used when a bridge floods one frame to many ports). */
  copyTo(dst: PacketBuffer): void {
    dst.head = this.head;
    dst.tail = this.tail;
    dst.buf.set(this.buf.subarray(this.head, this.tail), this.head);
    dst.ingress = this.ingress;
    dst.bridgePort = this.bridgePort;
    dst.mark = this.mark;
    putCt(dst.ct);
    dst.ct = this.ct;
    if (this.ct !== null) (this.ct as CountedCt).ctGet?.();
    dst.ctDir = this.ctDir;
    dst.ctState = this.ctState;
    dst.ipvs = this.ipvs;
    dst.brNfDone = this.brNfDone;
    dst.brNfBridgedDnat = this.brNfBridgedDnat;
    dst.brNfSrcMac = this.brNfSrcMac;
    dst.trace = this.trace;
    dst.csumPartial = this.csumPartial;
    dst.softirq = this.softirq;
    dst.passEnd = this.passEnd;
    dst.confirmLate = this.confirmLate;
    dst.traceLinks = this.traceLinks === null ? null : this.traceLinks.forClone();
  }
}

/** Recycles packet buffers so the steady-state fast path allocates nothing. */
export class PacketPool {
  private readonly freeList: PacketBuffer[] = [];
  allocated = 0;

  acquire(): PacketBuffer {
    const p = this.freeList.pop();
    if (p) {
      p.free = false;
      p.reset();
      return p;
    }
    this.allocated++;
    return new PacketBuffer();
  }

  release(p: PacketBuffer): void {
    if (p.free) throw new Error("packet released twice");
    p.free = true;
    p.deliverTo = null;
    p.ingress = null;
    p.bridgePort = null;
    putCt(p.ct);
    p.ct = null;
    p.ipvs = null;
    this.freeList.push(p);
  }

  clone(p: PacketBuffer): PacketBuffer {
    const c = this.acquire();
    p.copyTo(c);
    return c;
  }
}
