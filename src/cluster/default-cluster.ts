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
# web-1 10.244.2.2 and coredns-0 10.244.0.2 (and, further down, api-0 10.244.2.3 and the
# ingress controller 10.244.1.4).
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
---
# A second application for the L7 routes below.
apiVersion: v1
kind: Pod
metadata:
  labels:
    app: api
  name: api-0
  namespace: default
spec:
  containers:
  - image: nginx
    name: api
    ports:
    - containerPort: 8080
      name: http
      protocol: TCP
  nodeName: worker-2
---
apiVersion: v1
kind: Service
metadata:
  labels:
    app: api
  name: api
  namespace: default
spec:
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: http
  selector:
    app: api
  type: ClusterIP
---
# The ingress controller: ingress-nginx's image makes podwire run its HTTP reverse proxy in
# the Pod (IngressClass controller k8s.io/ingress-nginx); the annotation adds podwire's
# GatewayClass controller, so the same Pod also serves the Gateway below.
apiVersion: v1
kind: Pod
metadata:
  annotations:
    podwire.dev/l7-controller: podwire.dev/gateway-controller
  labels:
    app.kubernetes.io/component: controller
    app.kubernetes.io/instance: ingress-nginx
    app.kubernetes.io/name: ingress-nginx
  name: ingress-nginx-controller-0
  namespace: ingress-nginx
spec:
  containers:
  - args:
    - /nginx-ingress-controller
    - --controller-class=k8s.io/ingress-nginx
    - --ingress-class=nginx
    image: registry.k8s.io/ingress-nginx/controller:v1.11.2
    name: controller
    ports:
    - containerPort: 80
      name: http
      protocol: TCP
    - containerPort: 443
      name: https
      protocol: TCP
  nodeName: worker-1
---
# Its LoadBalancer Service: outside hosts reach 192.168.56.200 (routed through worker-1, as
# a layer-2 load balancer would announce it), or NodePorts 31080/31443 on any node.
apiVersion: v1
kind: Service
metadata:
  labels:
    app.kubernetes.io/component: controller
    app.kubernetes.io/name: ingress-nginx
  name: ingress-nginx-controller
  namespace: ingress-nginx
spec:
  externalTrafficPolicy: Cluster
  ports:
  - name: http
    nodePort: 31080
    port: 80
    protocol: TCP
    targetPort: http
  - name: https
    nodePort: 31443
    port: 443
    protocol: TCP
    targetPort: https
  selector:
    app.kubernetes.io/component: controller
    app.kubernetes.io/instance: ingress-nginx
    app.kubernetes.io/name: ingress-nginx
  type: LoadBalancer
status:
  loadBalancer:
    ingress:
    - ip: 192.168.56.200
---
# The default IngressClass: Ingresses without ingressClassName get it.
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  annotations:
    ingressclass.kubernetes.io/is-default-class: "true"
  name: nginx
spec:
  controller: k8s.io/ingress-nginx
---
# One Ingress, two hosts: shop.example.com (the web app, with /api going to the api app)
# and api.example.com (the api app). TLS for both: the Secret is not in this file, so
# podwire generates a self-signed certificate for the run.
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  namespace: default
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - backend:
          service:
            name: web
            port:
              number: 80
        path: /
        pathType: Prefix
      - backend:
          service:
            name: api
            port:
              name: http
        path: /api
        pathType: Prefix
  - host: api.example.com
    http:
      paths:
      - backend:
          service:
            name: api
            port:
              number: 80
        path: /
        pathType: Prefix
  tls:
  - hosts:
    - shop.example.com
    - api.example.com
    secretName: shop-tls
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: podwire
spec:
  controllerName: podwire.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gateway
  namespace: default
spec:
  gatewayClassName: podwire
  listeners:
  - name: http
    port: 80
    protocol: HTTP
  - hostname: www.example.com
    name: https
    port: 443
    protocol: HTTPS
    tls:
      certificateRefs:
      - name: www-tls
      mode: Terminate
---
# www.example.com through the Gateway: requests with the header x-canary: "true" go to the
# api app; the rest are split 90/10 between web and api.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: www
  namespace: default
spec:
  hostnames:
  - www.example.com
  parentRefs:
  - name: gateway
  rules:
  - backendRefs:
    - name: web
      port: 80
      weight: 90
    - name: api
      port: 80
      weight: 10
    matches:
    - path:
        type: PathPrefix
        value: /
  - backendRefs:
    - name: api
      port: 80
    matches:
    - headers:
      - name: x-canary
        value: "true"
      path:
        type: PathPrefix
        value: /
`;
