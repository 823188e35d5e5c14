/**
 * The cluster podwire runs when no file is given: the three-node cluster of the classic
 * Kubernetes networking diagram. It is plain Kubernetes YAML in the layout `kubectl get -o yaml`
 * prints (keys sorted), so `podwire` users can copy it as the start of their own cluster file.
 */

/** Name used as the `source` of the embedded default in specs and error locations. */
export const DEFAULT_CLUSTER_SOURCE = "<embedded default>";

export const DEFAULT_CLUSTER_YAML = `\
# podwire demo cluster.
#
# A cluster file is ordinary multi-document Kubernetes YAML: one podwire Cluster document for
# the network settings, then real v1 Nodes and Pods (output of \`kubectl get -o yaml\` works;
# fields podwire does not use are ignored). Services, EndpointSlices and other kinds may follow.
#
# Leave out spec.podCIDR or an InternalIP and podwire allocates one: node subnets in order
# from clusterCIDR, node addresses from x.x.x.10 of nodeNetwork. Pod IPs are allocated like
# host-local IPAM does (.1 is the cni0 bridge, the first Pod gets .2); status.podIP pins one.
apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata:
  name: podwire-demo
spec:
  clusterCIDR: 10.244.0.0/16
  externalHosts:
  - ip: 192.168.56.100
    name: outside
  nodeCIDRMaskSize: 24
  nodeMTU: 1500
  nodeNetwork: 192.168.56.0/24
  overlay: vxlan
  proxyMode: iptables
  seed: 1
  serviceCIDR: 10.96.0.0/12
---
apiVersion: v1
kind: Node
metadata:
  labels:
    kubernetes.io/hostname: control-plane
    kubernetes.io/os: linux
    node-role.kubernetes.io/control-plane: ""
  name: control-plane
spec:
  podCIDR: 10.244.0.0/24
  podCIDRs:
  - 10.244.0.0/24
  taints:
  - effect: NoSchedule
    key: node-role.kubernetes.io/control-plane
status:
  addresses:
  - address: 192.168.56.10
    type: InternalIP
  - address: control-plane
    type: Hostname
---
apiVersion: v1
kind: Node
metadata:
  labels:
    kubernetes.io/hostname: worker-1
    kubernetes.io/os: linux
  name: worker-1
spec:
  podCIDR: 10.244.1.0/24
  podCIDRs:
  - 10.244.1.0/24
status:
  addresses:
  - address: 192.168.56.11
    type: InternalIP
  - address: worker-1
    type: Hostname
---
apiVersion: v1
kind: Node
metadata:
  labels:
    kubernetes.io/hostname: worker-2
    kubernetes.io/os: linux
  name: worker-2
spec:
  podCIDR: 10.244.2.0/24
  podCIDRs:
  - 10.244.2.0/24
status:
  addresses:
  - address: 192.168.56.12
    type: InternalIP
  - address: worker-2
    type: Hostname
---
# Pods carry no status.podIP here: podwire allocates client 10.244.1.2, web-0 10.244.1.3,
# web-1 10.244.2.2 and coredns-0 10.244.0.2.
apiVersion: v1
kind: Pod
metadata:
  labels:
    app: client
  name: client
  namespace: default
spec:
  containers:
  - command:
    - sleep
    - infinity
    image: busybox
    name: client
  nodeName: worker-1
---
apiVersion: v1
kind: Pod
metadata:
  labels:
    app: web
  name: web-0
  namespace: default
spec:
  containers:
  - image: nginx
    name: web
    ports:
    - containerPort: 8080
      name: http
      protocol: TCP
  - command:
    - httpd
    - -f
    - -p
    - "9090"
    image: busybox
    name: sidecar
    ports:
    - containerPort: 9090
      name: metrics
      protocol: TCP
  nodeName: worker-1
---
apiVersion: v1
kind: Pod
metadata:
  labels:
    app: web
  name: web-1
  namespace: default
spec:
  containers:
  - image: nginx
    name: web
    ports:
    - containerPort: 8080
      name: http
      protocol: TCP
  nodeName: worker-2
---
apiVersion: v1
kind: Pod
metadata:
  labels:
    k8s-app: kube-dns
  name: coredns-0
  namespace: kube-system
spec:
  containers:
  - args:
    - -conf
    - /etc/coredns/Corefile
    image: registry.k8s.io/coredns/coredns:v1.11.1
    name: coredns
    ports:
    - containerPort: 53
      name: dns
      protocol: UDP
    - containerPort: 53
      name: dns-tcp
      protocol: TCP
    - containerPort: 9153
      name: metrics
      protocol: TCP
  nodeName: control-plane
  tolerations:
  - effect: NoSchedule
    key: node-role.kubernetes.io/control-plane
---
# The web Service: a ClusterIP for Pods, and NodePort 30080 on every node for the outside.
# Its clusterIP is allocated from serviceCIDR; the kubernetes and kube-dns Services are
# added by podwire as a real cluster has them.
apiVersion: v1
kind: Service
metadata:
  labels:
    app: web
  name: web
  namespace: default
spec:
  ports:
  - name: http
    nodePort: 30080
    port: 80
    protocol: TCP
    targetPort: http
  selector:
    app: web
  sessionAffinity: None
  type: NodePort
`;
