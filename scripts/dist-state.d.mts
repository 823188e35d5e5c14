// Types of scripts/dist-state.mjs, for the tests that import it.
export declare const ROOT: string;
export declare const STAMP: string;
export declare function distState(dirs?: string[], root?: string): { fresh: true; reason: null } | { fresh: false; reason: string | null };
export declare function listSources(root: string, dir: string): { files: string[]; dirs: string[] };
