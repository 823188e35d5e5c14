/** Shared entry-splitting and range-expansion checks of the hash types. */
import { MAX_EXPANSION } from "../addr-parse.js";
import { ipsetError } from "../errors.js";
import type { IpsetTypeName } from "../model.js";

/** Splits an entry on commas, insisting on one part per dimension. */
export function splitEntry(text: string, type: IpsetTypeName, dims: number): string[] {
  const parts = text.split(",");
  if (parts.length !== dims || parts.some((p) => p === "")) {
    throw ipsetError(
      "E_IPSET_ENTRY",
      `${JSON.stringify(text)} does not have the ${dims} comma-separated part${dims === 1 ? "" : "s"} of a ${type} entry`,
      entryShape(type),
      "entry",
    );
  }
  return parts;
}

export function entryShape(type: IpsetTypeName): string {
  switch (type) {
    case "hash:ip":
      return "a hash:ip entry is IP, IP/CIDR or IP-IP";
    case "hash:ip,port":
      return "a hash:ip,port entry is IP,[PROTO:]PORT, e.g. 10.96.0.1,tcp:443";
    case "hash:ip,port,ip":
      return "a hash:ip,port,ip entry is IP,[PROTO:]PORT,IP, e.g. 10.244.1.5,tcp:8080,10.244.1.5";
    case "hash:ip,port,net":
      return "a hash:ip,port,net entry is IP,[PROTO:]PORT,IP/CIDR, e.g. 1.2.3.4,tcp:80,203.0.113.0/25";
    case "hash:net":
      return "a hash:net entry is IP/CIDR, IP or IP-IP";
    case "bitmap:port":
      return "a bitmap:port entry is PORT or PORT-PORT";
  }
}

/** Refuses expansions that are too big, or any expansion when one element is required. */
export function checkCount(count: number, text: string, single: boolean): void {
  if (single && count !== 1) {
    throw ipsetError("E_IPSET_ENTRY", `${JSON.stringify(text)} is not a single element`, "test one element at a time: no ranges", "entry");
  }
  if (count > MAX_EXPANSION) {
    throw ipsetError("E_IPSET_RANGE", `${JSON.stringify(text)} expands to ${count} elements`, `add at most ${MAX_EXPANSION} elements per entry`, "entry");
  }
}
