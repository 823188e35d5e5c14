/**
 * The MAC reads and writes under their older netdev names (callers outside src, such as the
 * netdev tests, still use them). src itself reads Ethernet fields through wire's `eth`.
 */
export { getMac as macAt, setMac as writeMacAt } from "../wire/bytes.js";
