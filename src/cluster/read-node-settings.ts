/**
 * The Cluster document's node settings: `sysctls:` (the kernel knobs every node runs with,
 * under their `sysctl` names) and `cni:` (the CNI bridge plugin's options as flannel's
 * cni-conf.json names them). Only knobs podwire honours are accepted; anything else is an
 * error naming the field, never silently ignored.
 */
import { parseKernelVersion } from "../conntrack/kernel.js";
import type { NodeSettings } from "./spec.js";
import type { Field } from "./yaml-field.js";

interface SysctlSpec {
  key: keyof NodeSettings;
  min: number;
  max: number;
  /** The kernel's default (what a node has when the file says nothing). */
  def: number;
  /** What it does in podwire, for the error hint. */
  what: string;
}

/** The sysctls podwire honours, with the Linux defaults (Documentation/networking/nf_conntrack-sysctl.rst, ipvs-sysctl.rst). */
export const NODE_SYSCTLS: Readonly<Record<string, SysctlSpec>> = {
  "net.netfilter.nf_conntrack_max": { key: "conntrackMax", min: 1, max: 2 ** 31 - 1, def: 262144, what: "size of the conntrack table" },
  "net.netfilter.nf_conntrack_tcp_be_liberal": { key: "tcpBeLiberal", min: 0, max: 1, def: 0, what: "out-of-window TCP segments are not INVALID" },
  "net.netfilter.nf_conntrack_udp_timeout": { key: "udpTimeout", min: 1, max: 2 ** 31 - 1, def: 30, what: "seconds an unreplied UDP flow is kept" },
  "net.netfilter.nf_conntrack_udp_timeout_stream": { key: "udpTimeoutStream", min: 1, max: 2 ** 31 - 1, def: 120, what: "seconds a UDP stream is kept" },
  "net.netfilter.nf_conntrack_tcp_timeout_established": { key: "tcpTimeoutEstablished", min: 1, max: 2 ** 31 - 1, def: 432000, what: "seconds an established TCP connection is kept" },
  "net.bridge.bridge-nf-call-iptables": { key: "bridgeNfCallIptables", min: 0, max: 1, def: 1, what: "bridged IPv4 frames go through iptables (br_netfilter)" },
  "net.ipv4.vs.conn_reuse_mode": { key: "ipvsConnReuseMode", min: 0, max: 1, def: 1, what: "IPVS reschedules a SYN that reuses a connection's port" },
  "net.ipv4.vs.expire_nodest_conn": { key: "ipvsExpireNodestConn", min: 0, max: 1, def: 0, what: "IPVS expires connections whose real server was removed" },
};

const CNI_FIELDS = ["hairpinMode", "mtu"] as const;

function sysctlList(): string {
  return Object.keys(NODE_SYSCTLS).join(", ");
}

/**
 * `sysctls:`, `cni:`, `kernelVersion:` and `nodeCPUs:` of the Cluster document's spec.
 * Absent ones give `{}` (the defaults).
 */
export function readNodeSettings(sysctls: Field, cni: Field, kernel?: Field, cpus?: Field): NodeSettings {
  const settings: NodeSettings = {};
  if (kernel !== undefined && !kernel.absent) {
    const text = kernel.requiredString();
    if (parseKernelVersion(text) === null) kernel.fail("E_KERNEL_VERSION", `${kernel.path} ${JSON.stringify(text.slice(0, 40))} is not a kernel version`, "write it as uname -r starts, e.g. 5.4.40");
    settings.kernelVersion = text;
  }
  if (cpus !== undefined && !cpus.absent) {
    const n = cpus.optInt();
    if (n === undefined || n < 1 || n > 1024) cpus.fail("E_RANGE", `${cpus.path} must be a whole number from 1 to 1024`, "the CPUs each node's receive processing runs on; leave it out to not model CPUs");
    settings.cpus = n;
  }
  if (!sysctls.absent) {
    for (const [name, value] of sysctls.entries()) {
      const spec = NODE_SYSCTLS[name];
      if (spec === undefined) {
        value.fail("E_UNKNOWN_FIELD", `podwire does not emulate the sysctl ${JSON.stringify(name)} (${value.path})`, `the sysctls podwire honours: ${sysctlList()}`);
      }
      const n = value.optInt();
      if (n === undefined || n < spec.min || n > spec.max) {
        value.fail("E_RANGE", `${value.path} must be a whole number from ${spec.min} to ${spec.max}`, `${name}: ${spec.what}; the kernel's default is ${spec.def}`);
      }
      settings[spec.key] = n as never;
    }
  }
  if (!cni.absent) {
    for (const [key, value] of cni.entries()) {
      if (!(CNI_FIELDS as readonly string[]).includes(key)) value.fail("E_UNKNOWN_FIELD", `unknown CNI setting ${value.path}`, `podwire reads: ${CNI_FIELDS.join(", ")}`);
    }
    const hairpin = cni.child("hairpinMode").optBool();
    if (hairpin !== undefined) settings.hairpinMode = hairpin;
    const mtuField = cni.child("mtu");
    const mtu = mtuField.optInt();
    if (mtu !== undefined && (mtu < 576 || mtu > 65535)) {
      mtuField.fail("E_RANGE", `${mtuField.path} must be a whole number from 576 to 65535`, "the Pods' MTU: the node MTU less the overlay's overhead (50 bytes for VXLAN), as flannel computes it");
    }
    if (mtu !== undefined) settings.cniMtu = mtu;
  }
  return settings;
}

/** The effective value of a sysctl-backed setting: the file's, or the kernel's default. */
export function nodeSysctl(settings: NodeSettings | undefined, name: keyof typeof NODE_SYSCTLS & string): number {
  const spec = NODE_SYSCTLS[name]!;
  const v = settings?.[spec.key];
  return typeof v === "number" ? v : spec.def;
}

/** The Cluster document lines (`sysctls:` / `cni:`) for settings, for `podwire cluster` to print. */
export function nodeSettingsYaml(settings: NodeSettings | undefined): string[] {
  if (!settings) return [];
  const lines: string[] = [];
  if (settings.hairpinMode !== undefined || settings.cniMtu !== undefined) {
    lines.push("  cni:");
    if (settings.hairpinMode !== undefined) lines.push(`    hairpinMode: ${settings.hairpinMode}`);
    if (settings.cniMtu !== undefined) lines.push(`    mtu: ${settings.cniMtu}`);
  }
  if (settings.kernelVersion !== undefined) lines.push(`  kernelVersion: ${JSON.stringify(settings.kernelVersion)}`);
  if (settings.cpus !== undefined) lines.push(`  nodeCPUs: ${settings.cpus}`);
  const set = Object.entries(NODE_SYSCTLS).filter(([, s]) => settings[s.key] !== undefined);
  if (set.length > 0) {
    lines.push("  sysctls:");
    for (const [name, s] of set.sort(([a], [b]) => a.localeCompare(b))) lines.push(`    ${name}: ${Number(settings[s.key])}`);
  }
  return lines;
}
