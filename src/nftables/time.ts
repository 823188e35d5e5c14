/** nft time values: `10800s`, `1h30m`, `1d2h3m4s5ms` in; the same units out, zero units left out (`3h`). */
const UNITS: [string, number][] = [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000], ["ms", 1]];

/** Milliseconds, or null when `text` is not a time. A bare number is seconds, as in nft. */
export function parseTime(text: string): number | null {
  if (/^[0-9]+$/.test(text)) return Number(text) * 1000;
  const re = /([0-9]+)(ms|d|h|m|s)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * UNITS.find(([u]) => u === m![2])![1];
    end = re.lastIndex;
  }
  return end === text.length && end > 0 ? total : null;
}

export function formatTime(ms: number): string {
  let out = "";
  let rest = ms;
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) out += `${n}${unit}`;
  }
  return out === "" ? "0s" : out;
}
