/**
 * The order ipvsadm lists services and real servers in: libipvs ipvs_cmp_services /
 * ipvs_cmp_dests sorted with glibc qsort (a merge sort). The comparators subtract
 * unsigned addresses and return the difference as a C int, so addresses more than 2^31
 * apart compare "backwards" (10.0.0.1 sorts after 192.168.0.1); that is reproduced here.
 */
import type { IpvsDest, IpvsService } from "./model.js";

/** (a - b) as a C int for unsigned 32-bit a and b. */
function cdiff(a: number, b: number): number {
  return ((a >>> 0) - (b >>> 0)) | 0;
}

export function compareServices(a: IpvsService, b: IpvsService): number {
  let r = cdiff(a.fwmark, b.fwmark);
  if (r !== 0) return r;
  r = a.protocol - b.protocol;
  if (r !== 0) return r;
  r = cdiff(a.addr, b.addr);
  if (r !== 0) return r;
  return a.port - b.port;
}

export function compareDests(a: IpvsDest, b: IpvsDest): number {
  const r = cdiff(a.addr, b.addr);
  if (r !== 0) return r;
  return a.port - b.port;
}

/** glibc msort_with_tmp: top-down merge sort, left run first on ties. Returns a new array. */
export function glibcMergeSort<T>(items: readonly T[], cmp: (a: T, b: T) => number): T[] {
  const a = [...items];
  const tmp = new Array<T>(a.length);
  const sort = (lo: number, n: number): void => {
    if (n <= 1) return;
    const n1 = n >> 1;
    const n2 = n - n1;
    sort(lo, n1);
    sort(lo + n1, n2);
    let i = lo;
    let j = lo + n1;
    const iEnd = lo + n1;
    const jEnd = lo + n;
    let k = 0;
    while (i < iEnd && j < jEnd) tmp[k++] = cmp(a[i]!, a[j]!) <= 0 ? a[i++]! : a[j++]!;
    while (i < iEnd) tmp[k++] = a[i++]!;
    for (let m = 0; m < k; m++) a[lo + m] = tmp[m]!;
  };
  sort(0, a.length);
  return a;
}
