/**
 * The errors the ipset emulation raises. Every one is a `PodwireError` whose code starts with
 * `E_IPSET_`; `location.field` names the part of the command at fault (`name`, `type`,
 * `entry`, or an option name such as `timeout`) so the restore applier can turn it into a
 * column.
 */
import { PodwireError, type InputLocation } from "../../base/errors.js";

export type IpsetErrorCode =
  | "E_IPSET_SYNTAX"
  | "E_IPSET_UNKNOWN_SET"
  | "E_IPSET_SET_EXISTS"
  | "E_IPSET_NAME"
  | "E_IPSET_TYPE"
  | "E_IPSET_TYPE_MISMATCH"
  | "E_IPSET_FAMILY"
  | "E_IPSET_OPTION"
  | "E_IPSET_VALUE"
  | "E_IPSET_ENTRY"
  | "E_IPSET_PORT"
  | "E_IPSET_PROTO"
  | "E_IPSET_RANGE"
  | "E_IPSET_DUPLICATE"
  | "E_IPSET_NOT_MEMBER"
  | "E_IPSET_FULL";

/** Which part of a command an error is about; the restore applier maps it to a column. */
export type IpsetField = "command" | "name" | "to" | "type" | "entry" | string;

export function ipsetError(code: IpsetErrorCode, detail: string, hint: string, field?: IpsetField): PodwireError {
  const location: InputLocation | undefined = field === undefined ? undefined : { field };
  return new PodwireError(code, detail, location, hint);
}
