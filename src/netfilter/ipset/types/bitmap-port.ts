/** bitmap:port — bare port numbers inside the set's `range`. */
import { BitmapPortStore } from "../bitmap-store.js";
import { ipsetError } from "../errors.js";
import { element, type IpsetElement } from "../model.js";
import { parseBarePorts } from "../port-parse.js";
import { checkCount, splitEntry } from "./expand.js";
import type { IpsetTypeSpec } from "./spec.js";

export const BITMAP_PORT: IpsetTypeSpec = {
  name: "bitmap:port",
  kind: "bitmap",
  dims: ["port"],
  hasNet: false,
  newStore: (header) => new BitmapPortStore(header.rangeMin, header.rangeMax),
  parse(text, header, single) {
    const [portText] = splitEntry(text, "bitmap:port", 1);
    const ports = parseBarePorts(portText!);
    checkCount(ports.last - ports.first + 1, text, single);
    if (ports.first < header.rangeMin || ports.last > header.rangeMax) {
      throw ipsetError(
        "E_IPSET_RANGE",
        `${JSON.stringify(text)} is outside the set's range ${header.rangeMin}-${header.rangeMax}`,
        "add ports inside the range given at create, or recreate the set with a wider range",
        "entry",
      );
    }
    const out: IpsetElement[] = [];
    for (let port = ports.first; port <= ports.last; port++) out.push(element({ port }));
    return out;
  },
  format: (e) => String(e.port),
};
