/**
 * Ports that cannot all be bound: two containers of one Pod on the same port (they share one
 * network namespace), two hostNetwork Pods of one node on the same port, or a hostNetwork
 * Pod on the port the node's VXLAN device receives on (flannel's UDP 8472). The kernel
 * would refuse the second bind (EADDRINUSE); podwire says which Pods, where in the file.
 */
import { FLANNEL_VXLAN_PORT as VXLAN_PORT } from "../netdev/index.js";
import type { PodDraft } from "./read-objects.js";
import type { NodeSpec, OverlayMode } from "./spec.js";
import type { Field } from "./yaml-field.js";

function portField(pod: PodDraft, container: number, port: number): Field {
  return pod.root.child("spec").child("containers").items()[container]!.child("ports").items()[port]!.child("containerPort");
}

function where(field: Field): string {
  const at = field.location();
  return `${at.file}:${at.line}`;
}

export function checkPortClashes(pods: readonly PodDraft[], placement: readonly NodeSpec[], overlay: OverlayMode): void {
  // One socket table per network namespace: each Pod's own, and each node's host network.
  const hostTables = new Map<string, Map<string, { pod: PodDraft; at: Field }>>();
  pods.forEach((pod, i) => {
    const own = new Map<string, { pod: PodDraft; at: Field }>();
    const node = placement[i]!;
    let table = own;
    if (pod.hostNetwork) {
      table = hostTables.get(node.name) ?? new Map();
      hostTables.set(node.name, table);
    }
    pod.containers.forEach((c, ci) => {
      c.ports.forEach((p, pi) => {
        const key = `${p.containerPort}/${p.protocol}`;
        const at = portField(pod, ci, pi);
        if (pod.hostNetwork && overlay === "vxlan" && p.protocol === "UDP" && p.containerPort === VXLAN_PORT) {
          at.fail("E_PORT_CLASH", `hostNetwork Pod ${pod.namespace}/${pod.name} uses UDP ${VXLAN_PORT}, where node ${node.name}'s VXLAN device (flannel.1) receives`, "use another port, or overlay: host-gw");
        }
        const first = table.get(key);
        if (first !== undefined) {
          const whose = first.pod === pod ? "another container of the same Pod" : `${first.pod.hostNetwork ? "hostNetwork " : ""}Pod ${first.pod.namespace}/${first.pod.name}`;
          const scope = pod.hostNetwork ? `node ${node.name}'s host network` : `Pod ${pod.namespace}/${pod.name}`;
          at.fail("E_PORT_CLASH", `port ${key} in ${scope} is already used by ${whose} (${where(first.at)})`, "give each a different containerPort: they share one network namespace");
        }
        table.set(key, { pod, at });
      });
    });
  });
}
