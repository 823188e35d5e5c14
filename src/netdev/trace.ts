/** Trace events: what happened to a packet at one hop. Recorded only while tracing is on. */

export type TraceAction =
  | "send"
  | "arp-request"
  | "arp-reply"
  | "arp-resolved"
  | "bridge-forward"
  | "bridge-flood"
  | "bridge-local"
  | "route"
  | "forward"
  | "encap"
  | "decap"
  | "deliver"
  | "reply"
  | "icmp-error"
  | "drop"
  | "transmit"
  | "receive"
  | "loopback"
  | "netfilter";

export interface TraceEvent {
  /** Virtual time in ns. */
  time: number;
  /** The node or Pod namespace, e.g. `worker-1` or `pod/default/client`. */
  netns: string;
  /** The device involved, when one is. */
  device: string;
  action: TraceAction;
  /** Human explanation, e.g. `10.244.2.0/24 via 10.244.2.0 dev flannel.1`. */
  detail: string;
  /** tcpdump-style summary of the frame at this point. */
  summary: string;
}

export class Tracer {
  readonly events: TraceEvent[] = [];
  record(e: TraceEvent): void {
    this.events.push(e);
  }
  clear(): void {
    this.events.length = 0;
  }
}
