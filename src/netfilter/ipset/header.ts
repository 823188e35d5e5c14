/**
 * A set's header: create options checked and normalised the way the kernel stores them
 * (hashsize rounded up to a power of two, at least 64; bucketsize even, 2..12; a reversed
 * bitmap range swapped), and printed in `ipset save` order.
 */
import { ipsetError } from "./errors.js";
import type { IpsetCreateOptions, IpsetHeader } from "./model.js";
import { MAX_TIMEOUT, U32_MAX } from "./numbers.js";
import type { IpsetTypeSpec } from "./types/index.js";

const HASH_ONLY = ["family", "hashsize", "maxelem", "bucketsize", "initval"] as const;

function checkRange(field: string, value: number | undefined, max: number): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= 0 && value <= max)) {
    throw ipsetError("E_IPSET_VALUE", `${field} ${value} is out of range 0-${max}`, `give ${field} a whole number from 0 to ${max}`, field);
  }
}

function roundHashsize(requested: number): number {
  let size = 64;
  while (size < requested && size < 2 ** 31) size *= 2;
  return size;
}

function roundBucketsize(requested: number): number {
  if (requested < 2) return 2;
  if (requested > 12) return 12;
  return requested % 2 === 0 ? requested : requested + 1;
}

export function makeHeader(spec: IpsetTypeSpec, o: IpsetCreateOptions): IpsetHeader {
  if (spec.kind === "bitmap") {
    for (const f of HASH_ONLY) {
      if (o[f] !== undefined) throw ipsetError("E_IPSET_OPTION", `${spec.name} has no ${f} option`, "bitmap:port takes range, timeout, counters and comment", f);
    }
    if (o.range === undefined) throw ipsetError("E_IPSET_OPTION", "bitmap:port needs a range", "add e.g. `range 0-65535` to the create command", "type");
  } else if (o.range !== undefined) {
    throw ipsetError("E_IPSET_OPTION", `${spec.name} has no range option`, "only bitmap types take a range", "range");
  }
  if (o.family !== undefined && o.family !== "inet") {
    throw ipsetError("E_IPSET_FAMILY", `family ${o.family} is not emulated`, "podwire emulates IPv4 sets only: use family inet", "family");
  }
  checkRange("hashsize", o.hashsize, U32_MAX);
  checkRange("maxelem", o.maxelem, U32_MAX);
  checkRange("bucketsize", o.bucketsize, 255);
  checkRange("initval", o.initval, U32_MAX);
  checkRange("timeout", o.timeout, MAX_TIMEOUT);
  const min = o.range?.min ?? 0;
  const max = o.range?.max ?? 0;
  checkRange("range", min, 65535);
  checkRange("range", max, 65535);
  return {
    hashsize: roundHashsize(o.hashsize ?? 1024),
    maxelem: o.maxelem ?? 65536,
    bucketsize: roundBucketsize(o.bucketsize ?? 12),
    initval: o.initval,
    timeout: o.timeout,
    counters: o.counters ?? false,
    comment: o.comment ?? false,
    rangeMin: Math.min(min, max),
    rangeMax: Math.max(min, max),
  };
}

/** Whether `create … -exist` may keep an existing set: the kernel's "same set" test. */
export function sameHeader(a: IpsetHeader, b: IpsetHeader): boolean {
  return (
    a.maxelem === b.maxelem &&
    a.timeout === b.timeout &&
    a.counters === b.counters &&
    a.comment === b.comment &&
    a.rangeMin === b.rangeMin &&
    a.rangeMax === b.rangeMax
  );
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/** The header as `ipset save` prints it after `create NAME TYPE `. */
export function formatHeader(spec: IpsetTypeSpec, h: IpsetHeader): string {
  const parts: string[] = [];
  if (spec.kind === "bitmap") parts.push(`range ${h.rangeMin}-${h.rangeMax}`);
  else parts.push(`family inet hashsize ${h.hashsize} maxelem ${h.maxelem}`);
  if (h.timeout !== undefined) parts.push(`timeout ${h.timeout}`);
  if (h.counters) parts.push("counters");
  if (h.comment) parts.push("comment");
  if (spec.kind === "hash") parts.push(`bucketsize ${h.bucketsize}`);
  if (spec.kind === "hash" && h.initval !== undefined) parts.push(`initval ${hex32(h.initval)}`);
  return parts.join(" ");
}
