/** One NAT target range — `ip[-ip][:port[-port]]`, 0 meaning "not given" — as nf_nat_range2 holds it. */
export interface NatRange {
  minIp: number;
  maxIp: number;
  minPort: number;
  maxPort: number;
}
