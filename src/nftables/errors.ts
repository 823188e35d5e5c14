/**
 * Error codes of the nft parser and of applying a script, and a helper that builds a
 * `PodwireError` pointing at one token of one line (as nft's own `file:line:col: Error:`).
 */
import { PodwireError, type InputLocation } from "../base/errors.js";

export const NFT_ERROR = {
  /** Bad token, unexpected word, missing `}` — nft's "syntax error". */
  SYNTAX: "E_NFT_SYNTAX",
  /** An expression, statement or keyword podwire does not model. */
  UNSUPPORTED: "E_NFT_UNSUPPORTED",
  /** A value that does not parse for its data type, or is out of range. */
  BAD_VALUE: "E_NFT_BAD_VALUE",
  /** A table, chain, set or element that does not exist (nft: ENOENT). */
  NOT_FOUND: "E_NFT_NOT_FOUND",
  /** `create` of an existing object (nft: EEXIST). */
  EXISTS: "E_NFT_EXISTS",
  /** Deleting a chain or set that is still referenced (nft: EBUSY). */
  IN_USE: "E_NFT_IN_USE",
  /** Statements nft or the kernel refuse in this context (nat in a filter chain, port mapping without a transport match, ELOOP). */
  SEMANTIC: "E_NFT_SEMANTIC",
} as const;

export type NftErrorCode = (typeof NFT_ERROR)[keyof typeof NFT_ERROR];

export interface NftLocation {
  file: string;
  line: number;
  column: number;
}

export function nftError(code: NftErrorCode, detail: string, where: NftLocation | undefined, hint?: string): PodwireError {
  const loc: InputLocation | undefined = where ? { file: where.file, line: where.line, column: where.column } : undefined;
  return new PodwireError(code, detail, loc, hint);
}
