export * from "./model.js";
export * from "./errors.js";
export { applyNftScript, parseNftRuleset } from "./script.js";
export { printRuleset, printRule, printStmt, printExpr } from "./print.js";
export { tokenize, type Token } from "./tokenize.js";
export { formatPriority } from "./priority.js";
export type { DataTypeName } from "./datatypes.js";
