/** The commands of an `ipset restore` file, each with its line and the columns of its parts. */
import type { IpsetCreateOptions, IpsetEntryOptions } from "./model.js";

/** Column of each part of a command: `command`, `name`, `to`, `type`, `entry`, option names. */
export type Columns = Record<string, number>;

interface Base {
  line: number;
  columns: Columns;
}

export type IpsetCommand =
  | (Base & { op: "create"; name: string; type: string; options: IpsetCreateOptions })
  | (Base & { op: "add"; name: string; entry: string; options: IpsetEntryOptions })
  | (Base & { op: "del"; name: string; entry: string })
  | (Base & { op: "flush" | "destroy"; name: string | undefined })
  | (Base & { op: "rename" | "swap"; name: string; to: string });

export interface IpsetRestoreDoc {
  file: string;
  commands: IpsetCommand[];
}
