/**
 * @module setup/fast/curve
 *
 * Typed access to the BN254 curve of snarkjs's own ffjavascript (the copy snarkjs 0.7.6 bundles, reached
 * through `snarkjs.curves`, so points are encoded byte for byte as snarkjs encodes them). The fast setup uses
 * a single-threaded instance (no ffjavascript worker threads to terminate) for small main-thread work, and
 * hands its compiled wasm code to the fixed-base pool workers.
 *
 * Security caveat: ffjavascript arithmetic is variable-time; fine for the known toxic waste of INSECURE
 * development setups, not for real secrets.
 */

import * as snarkjs from "snarkjs";
import { SetupError } from "../setup-common.ts";

export { SetupError };

export type Group = "G1" | "G2";

/** An RNG with the interface ffjavascript's `fromRng` methods consume (ffjavascript's ChaCha). */
export interface CurveRng {
  nextU32(): number;
  nextU64(): bigint;
  nextBool(): boolean;
}

/** The ffjavascript `WasmCurve` group methods used here; points are Uint8Array in Montgomery form. */
export interface WasmGroup {
  /** Generator, jacobian. */
  readonly g: Uint8Array;
  readonly zero: Uint8Array;
  readonly zeroAffine: Uint8Array;
  readonly F: { readonly n8: number };
  toAffine(p: Uint8Array): Uint8Array;
  timesScalar(p: Uint8Array, s: Uint8Array | bigint): Uint8Array;
  add(a: Uint8Array, b: Uint8Array): Uint8Array;
  neg(a: Uint8Array): Uint8Array;
  eq(a: Uint8Array, b: Uint8Array): boolean;
  isZero(a: Uint8Array): boolean;
  fromRprLEM(buff: Uint8Array, offset?: number): Uint8Array;
  toRprLEM(buff: Uint8Array, offset: number, p: Uint8Array): void;
  toRprUncompressed(buff: Uint8Array, offset: number, p: Uint8Array): void;
  toRprCompressed(buff: Uint8Array, offset: number, p: Uint8Array): void;
  fromRng(rng: CurveRng): Uint8Array;
}

interface RawCurve {
  G1: WasmGroup;
  G2: WasmGroup;
  tm: { code?: Uint8Array };
  pairingEq(...points: Uint8Array[]): Promise<boolean>;
}

/** The single-threaded curve plus its wasm code. */
export interface FastCurve {
  readonly G1: WasmGroup;
  readonly G2: WasmGroup;
  readonly wasmCode: Uint8Array;
  /** e(a1, b1) * e(a2, b2) * ... == 1 (pairs of G1, G2 points). */
  pairingEq(...points: Uint8Array[]): Promise<boolean>;
}

let cached: Promise<FastCurve> | undefined;

async function build(): Promise<FastCurve> {
  const raw = (await snarkjs.curves.getCurveFromName("bn128", { singleThread: true })) as unknown as RawCurve;
  const code = raw.tm.code;
  if (!(code instanceof Uint8Array)) {
    throw new SetupError("ffjavascript single-thread curve exposes no wasm code (unsupported ffjavascript)");
  }
  return {
    G1: raw.G1,
    G2: raw.G2,
    wasmCode: code,
    pairingEq: (...points) => raw.pairingEq(...points),
  };
}

/** The shared single-threaded BN254 curve (built once per process, ~0.5 s). */
export function getCurve(): Promise<FastCurve> {
  cached ??= build().catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}
