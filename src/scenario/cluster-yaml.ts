/**
 * The nodes most scenarios run on: a tainted control plane and two workers (addresses and
 * podCIDRs allocated by podwire: 192.168.56.10-12, 10.244.0-2.0/24), as YAML documents a
 * scenario's cluster file includes after its Cluster document.
 */
export const THREE_NODES = `apiVersion: v1
kind: Node
metadata: {name: control-plane, labels: {node-role.kubernetes.io/control-plane: ""}}
spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}
---
apiVersion: v1
kind: Node
metadata: {name: worker-1}
---
apiVersion: v1
kind: Node
metadata: {name: worker-2}
`;
