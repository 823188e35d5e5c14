/**
 * Reads a `discovery.k8s.io/v1 EndpointSlice` document. Conditions keep their absence
 * (null), because kube-proxy gives absent Ready and Serving a meaning (true); a port without
 * a name or number is kept and ignored later, as kube-proxy ignores it.
 */
import { formatIpv4, parseIpv4Sloppy } from "../base/index.js";
import { DocField } from "./doc-fields.js";
import { PROTOCOLS, SERVICE_NAME_LABEL, type EndpointSlice, type KubeDocument, type Protocol, type SliceEndpoint, type SlicePort } from "./objects.js";

export function readEndpointSlice(doc: KubeDocument): EndpointSlice {
  const root = DocField.root(doc.body, doc.location);
  const meta = root.child("metadata");
  const name = meta.child("name").name("subdomain", "EndpointSlice");
  const namespace = meta.child("namespace").name("label", "namespace", "default");
  const labels = meta.child("labels");
  const serviceName = labels.child(SERVICE_NAME_LABEL).optionalString();
  const typeField = root.child("addressType");
  const addressType = typeField.string();
  if (!["IPv4", "IPv6", "FQDN"].includes(addressType)) {
    typeField.fail("E_ENDPOINTSLICE_FIELD", `addressType ${JSON.stringify(addressType)} is not IPv4, IPv6 or FQDN`, "use IPv4");
  }
  const ports = root.child("ports").items().map(readSlicePort);
  const endpoints = root.child("endpoints").items().map((f) => readEndpoint(f, addressType));
  return { namespace, name, serviceName, addressType, ports, endpoints, location: doc.location };
}

function readSlicePort(f: DocField): SlicePort {
  const name = f.child("name").optionalString();
  const protoField = f.child("protocol");
  const protocol = protoField.string("TCP");
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    protoField.fail("E_PROTOCOL", `${protoField.path} ${JSON.stringify(protocol)} is not a supported protocol`, "use TCP, UDP or SCTP");
  }
  const portField = f.child("port");
  const port = portField.absent ? null : portField.int();
  if (port !== null && (port < 0 || port > 65535)) portField.fail("E_PORT_RANGE", `${portField.path} ${port} is out of range`, "ports are 1 to 65535");
  return { name, protocol: protocol as Protocol, port };
}

function readEndpoint(f: DocField, addressType: string): SliceEndpoint {
  const addrFields = f.child("addresses").items();
  if (addrFields.length === 0) f.child("addresses").fail("E_ENDPOINTSLICE_FIELD", `${f.path} has no addresses`, "give the endpoint its Pod IP");
  const addresses = addrFields.map((a) => {
    const text = a.string();
    if (addressType !== "IPv4") return text;
    // Leading zeros are read as decimal (ParseIPSloppy) and the address normalised, as kube-proxy does.
    const ip = parseIpv4Sloppy(text);
    if (ip < 0) a.fail("E_ENDPOINT_IP", `${a.path} ${JSON.stringify(text)} is not an IPv4 address`, "write a dotted quad");
    return formatIpv4(ip);
  });
  const c = f.child("conditions");
  const hintsField = f.child("hints");
  const hints = hintsField.absent
    ? null
    : {
        forZones: hintsField.child("forZones").items().map((z) => z.child("name").string()),
        forNodes: hintsField.child("forNodes").items().map((n) => n.child("name").string()),
      };
  return {
    addresses,
    conditions: { ready: c.child("ready").optionalBool(), serving: c.child("serving").optionalBool(), terminating: c.child("terminating").optionalBool() },
    nodeName: f.child("nodeName").optionalString(),
    zone: f.child("zone").optionalString(),
    hints,
  };
}
