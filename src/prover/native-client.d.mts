/** Types of native-client.mjs (see that module's header). */
import type { Groth16Proof } from "./backend.ts";

export function nativeProverPath(): string;
export type NativeProverStatus =
  | { readonly available: true; readonly path: string }
  | { readonly available: false; readonly path: string; readonly reason: string };
export function nativeProverStatus(path?: string): NativeProverStatus;

export class NativeProverError extends Error {}

export interface NativeKeyInfo {
  readonly ok: true;
  readonly sha256: string;
  readonly nVars: number;
  readonly nPublic: number;
  readonly domainSize: number;
  readonly nCoefs: number;
}

export interface NativeProofReply {
  readonly ok: true;
  readonly proof: Groth16Proof;
  readonly publicSignals: string[];
  readonly timings: {
    readonly abcMs: number;
    readonly nttMs: number;
    readonly msmMs: number;
    readonly proveMs: number;
    /** Process CPU time of the proof, all threads. */
    readonly cpuMs: number;
    readonly threads: number;
    readonly maxRssKb: number;
  };
}

export class NativeProverProcess {
  constructor(options?: { path?: string; nice?: number; threads?: number });
  readonly path: string;
  readonly loaded: Set<string>;
  /** Children started so far. */
  readonly started: number;
  get pid(): number | undefined;
  load(name: string, zkeyPath: string): Promise<NativeKeyInfo>;
  loadBytes(name: string, zkey: Uint8Array): Promise<NativeKeyInfo>;
  unload(name: string): Promise<{ ok: true }>;
  prove(name: string, wtns: Uint8Array): Promise<NativeProofReply>;
  close(): Promise<void>;
}
