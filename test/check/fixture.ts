/** The cluster file the check tests share: one Service (or Pod) per case the check must judge. */
import { threeNodes } from "../fixtures/three-nodes.js";
export const CHECK_CLUSTER = `${threeNodes("check")}---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default, labels: {app: a, tier: web}}
spec: {nodeName: worker-1, containers: [{name: web, ports: [{name: http, containerPort: 8080}, {name: echo, containerPort: 7, protocol: UDP}]}]}
status: {podIP: 10.244.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: default, labels: {app: b, tier: web}}
spec: {nodeName: worker-2, containers: [{name: web, ports: [{name: http, containerPort: 8080}, {name: echo, containerPort: 7, protocol: UDP}, {name: assoc, containerPort: 9, protocol: SCTP}]}]}
status: {podIP: 10.244.2.10}
---
apiVersion: v1
kind: Pod
metadata: {name: coredns-0, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  nodeName: control-plane
  containers: [{name: coredns, ports: [{name: dns, containerPort: 53, protocol: UDP}, {name: dns-tcp, containerPort: 53, protocol: TCP}, {name: metrics, containerPort: 9153}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  selector: {tier: web}
  ports:
  - {name: http, port: 80, targetPort: http, nodePort: 30080}
  - {name: echo, port: 7, targetPort: echo, protocol: UDP, nodePort: 30007}
---
# No Pod has app: nobody.
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec: {selector: {app: nobody}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
# Endpoints on worker-2 only.
apiVersion: v1
kind: Service
metadata: {name: local-b, namespace: default}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: b}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30081}]
---
# Endpoints on worker-1 only.
apiVersion: v1
kind: Service
metadata: {name: itp-a, namespace: default}
spec:
  internalTrafficPolicy: Local
  selector: {app: a}
  ports: [{name: http, port: 80, targetPort: http}]
---
# The outside host (192.168.56.100) is not in the source ranges.
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: default}
spec:
  type: LoadBalancer
  selector: {tier: web}
  externalIPs: [192.168.56.201]
  loadBalancerSourceRanges: [10.0.0.0/8]
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30082}]
status:
  loadBalancer:
    ingress: [{ip: 192.168.56.200}]
---
# A classic mistake: targetPort 8081, while the Pod listens on 8080.
apiVersion: v1
kind: Service
metadata: {name: broken, namespace: default}
spec: {selector: {app: a}, ports: [{name: http, port: 80, targetPort: 8081}]}
---
apiVersion: v1
kind: Service
metadata: {name: hl, namespace: default}
spec: {clusterIP: None, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: hl-1, namespace: default, labels: {kubernetes.io/service-name: hl}}
addressType: IPv4
endpoints: [{addresses: [10.244.2.10], nodeName: worker-2, conditions: {ready: true}}]
ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {type: ExternalName, externalName: db.example.com}
`;
