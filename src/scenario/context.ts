/**
 * What a scenario runs with: its cluster booted from its own YAML (with the mode, the seed
 * and, for `--fixed`, the fix applied by the scenario), every frame logged and numbered as
 * the capture numbers it, and the capture itself when `--pcap` asked for one.
 */
import { type RunningCluster, bootCluster } from "../cluster/boot.js";
import { CaptureSession } from "../cluster/capture.js";
import { parseClusterYaml } from "../cluster/load.js";
import type { KubeProxyFlags } from "../cluster/services.js";
import type { ClusterSpec, ProxyMode } from "../cluster/spec.js";
import { FrameLog, type LoggedFrame } from "./frame-log.js";
import { describeFrame } from "./frame-facts.js";
import type { Scenario, ScenarioEvidence } from "./types.js";

export interface ScenarioRunOptions {
  fixed: boolean;
  mode: ProxyMode;
  seed: number;
  /** Where to write the capture; null for none. */
  pcapPath: string | null;
}

export class ScenarioContext {
  readonly fixed: boolean;
  readonly mode: ProxyMode;
  readonly seed: number;
  private running: RunningCluster | null = null;
  private log: FrameLog | null = null;
  private capture: CaptureSession | null = null;

  constructor(
    readonly scenario: Scenario,
    private readonly options: ScenarioRunOptions,
  ) {
    this.fixed = options.fixed;
    this.mode = options.mode;
    this.seed = options.seed;
  }

  /** The scenario's cluster file as a spec, with the run's mode and seed. */
  spec(): ClusterSpec {
    const spec = parseClusterYaml(this.scenario.yaml, `scenario/${this.scenario.name}.yaml`);
    spec.proxyMode = this.mode;
    spec.seed = this.seed;
    return spec;
  }

  /**
   * Boots the cluster (once): `tweak` may change the spec first (a sysctl, a setting the fix
   * changes), `flags` are kube-proxy's command-line flags. Starts the frame log and capture.
   */
  boot(tweak?: (spec: ClusterSpec) => void, flags: KubeProxyFlags = {}): RunningCluster {
    if (this.running !== null) throw new Error(`scenario ${this.scenario.name} booted twice`);
    const spec = this.spec();
    tweak?.(spec);
    this.running = bootCluster(spec, flags);
    const devices = this.running.cluster.devices;
    // Same devices, same order: the log's frame numbers are the capture's.
    if (this.options.pcapPath !== null) this.capture = CaptureSession.toFile(this.options.pcapPath, devices);
    this.log = new FrameLog(devices);
    return this.running;
  }

  get cluster(): RunningCluster {
    if (this.running === null) throw new Error(`scenario ${this.scenario.name} used its cluster before booting it`);
    return this.running;
  }

  get frames(): FrameLog {
    if (this.log === null) throw new Error(`scenario ${this.scenario.name} read frames before booting`);
    return this.log;
  }

  /**
   * Logs and captures the devices created since boot (a Pod created at run time), after
   * the ones already followed, in the cluster's creation order.
   */
  followNewDevices(): void {
    const devices = this.cluster.cluster.devices;
    this.log?.addDevices(devices);
    this.capture?.addDevices(devices);
  }

  /** Annotates the next captured frame (e.g. "lookup 3 of 20"). */
  annotate(comment: string): void {
    this.capture?.annotateNext(comment);
  }

  /** Evidence pointing at a logged frame. */
  frameEvidence(f: LoggedFrame, detail?: string): ScenarioEvidence {
    return { frame: f.number, netns: f.device.owner, device: f.device.name, detail: detail ?? describeFrame(f.bytes) };
  }

  /** Stops logging and finishes the capture (renamed into place); a run that threw aborts it instead. */
  finish(ok: boolean): { path: string; frames: number } | null {
    this.log?.close();
    if (this.capture === null) return null;
    if (ok) this.capture.close();
    else this.capture.abort();
    return ok && this.options.pcapPath !== null ? { path: this.options.pcapPath, frames: this.capture.frames } : null;
  }
}
