/**
 * @module setup/fast/lagrange
 *
 * The scalars behind every point of a prepared powers-of-tau file, computed in Fr from a known tau instead
 * of with FFTs in the exponent: powers tau^i, and Lagrange basis evaluations L_j(tau) over the 2^bits
 * domain {w^j} (w = `rootOfUnity(bits)`), L_j(tau) = w^j (tau^n - 1) / (n (tau - w^j)) — exactly what
 * snarkjs's `preparePhase2` (an inverse FFT of [tau^0 G, ..., tau^(n-1) G]) yields, index for index.
 *
 * Scalars are described by compact `ScalarSpec`s (a geometric series, or Lagrange evaluations) that the
 * fixed-base pool workers expand with the wasm Fr code, so chunks of 2^27-point sections are never held as
 * bigints; `evaluateSpec` is the bigint reference implementation of the same formulas.
 *
 * Security caveat: only meaningful when tau is known, i.e. for INSECURE development setups.
 */

import { encodeScalars, frBatchInverse, frInv, frMul, frPow, frReduce, frSub, rootOfUnity } from "./field.ts";

/** first * ratio^i for i < count. */
export interface GeometricSpec {
  readonly kind: "geometric";
  readonly count: number;
  readonly first: bigint;
  readonly ratio: bigint;
}

/** factor * x_i / (tau - x_i) - correction * x_i with x_i = wFirst * w^i, i < count. */
export interface LagrangeSpec {
  readonly kind: "lagrange";
  readonly count: number;
  readonly factor: bigint;
  readonly tau: bigint;
  readonly wFirst: bigint;
  readonly w: bigint;
  readonly correction: bigint;
}

/** Explicit scalars (32-byte little-endian words, each < r). */
export interface ListSpec {
  readonly kind: "list";
  readonly count: number;
  readonly scalars: Uint8Array;
}

export type ScalarSpec = GeometricSpec | LagrangeSpec | ListSpec;

/** scale * tau^i for i in [start, start + count). */
export function powersSpec(tau: bigint, start: number, count: number, scale = 1n): GeometricSpec {
  return { kind: "geometric", count, first: frMul(frPow(tau, BigInt(start)), frReduce(scale)), ratio: tau };
}

/**
 * scale * L_j(tau) for j in [start, start + count) over the domain of size 2^bits. tau must not be in the
 * domain (tau^(2^bits) != 1), which `assertToxicWaste` guarantees for every domain up to 2^28.
 */
export function lagrangeSpec(
  tau: bigint,
  bits: number,
  start: number,
  count: number,
  scale = 1n,
): LagrangeSpec {
  const n = 1n << BigInt(bits);
  const w = rootOfUnity(bits);
  const vanishing = frSub(frPow(tau, n), 1n);
  if (vanishing === 0n) throw new RangeError(`tau is a ${n}-th root of unity`);
  const factor = frMul(frMul(vanishing, frInv(n)), frReduce(scale));
  return { kind: "lagrange", count, factor, tau, wFirst: frPow(w, BigInt(start)), w, correction: 0n };
}

/**
 * The extra tauG1 block of size N = 2^bits that snarkjs derives from only N - 1 powers (tauG1 holds
 * 2N - 1 points; the missing tau^(N-1) G is taken as zero): (1/N) sum_{i<N-1} tau^i w^(-ij)
 * = L_j(tau) - (tau^(N-1) / N) w^j.
 */
export function truncatedLagrangeSpec(tau: bigint, bits: number, start: number, count: number): LagrangeSpec {
  const n = 1n << BigInt(bits);
  const full = lagrangeSpec(tau, bits, start, count);
  return { ...full, correction: frMul(frPow(tau, n - 1n), frInv(n)) };
}

/** An explicit list of scalars. */
export function listSpec(values: readonly bigint[]): ListSpec {
  return { kind: "list", count: values.length, scalars: encodeScalars(values.map(frReduce)) };
}

/** The sub-range [lo, hi) of a spec (for splitting work across workers). */
export function sliceSpec(spec: ScalarSpec, lo: number, hi: number): ScalarSpec {
  if (!(Number.isInteger(lo) && Number.isInteger(hi) && 0 <= lo && lo <= hi && hi <= spec.count)) {
    throw new RangeError(`bad slice [${lo}, ${hi}) of ${spec.count} scalars`);
  }
  const count = hi - lo;
  switch (spec.kind) {
    case "list":
      return { kind: "list", count, scalars: spec.scalars.slice(lo * 32, hi * 32) };
    case "geometric":
      return { ...spec, count, first: frMul(spec.first, frPow(spec.ratio, BigInt(lo))) };
    case "lagrange":
      return { ...spec, count, wFirst: frMul(spec.wFirst, frPow(spec.w, BigInt(lo))) };
  }
}

/** bigint reference expansion of a spec (tests, and small scalar sets on the main thread). */
export function evaluateSpec(spec: ScalarSpec): bigint[] {
  const out: bigint[] = new Array(spec.count);
  if (spec.kind === "list") {
    const view = new DataView(spec.scalars.buffer, spec.scalars.byteOffset, spec.scalars.byteLength);
    for (let i = 0; i < spec.count; i++) {
      let v = 0n;
      for (let limb = 3; limb >= 0; limb--) v = (v << 64n) | view.getBigUint64(i * 32 + limb * 8, true);
      out[i] = v;
    }
    return out;
  }
  if (spec.kind === "geometric") {
    let v = spec.first;
    for (let i = 0; i < spec.count; i++) {
      out[i] = v;
      v = frMul(v, spec.ratio);
    }
    return out;
  }
  const xs: bigint[] = new Array(spec.count);
  let x = spec.wFirst;
  for (let i = 0; i < spec.count; i++) {
    xs[i] = x;
    x = frMul(x, spec.w);
  }
  const inverses = frBatchInverse(xs.map((xi) => frSub(spec.tau, xi)));
  for (let i = 0; i < spec.count; i++) {
    const xi = xs[i] as bigint;
    out[i] = frSub(frMul(spec.factor, frMul(xi, inverses[i] as bigint)), frMul(spec.correction, xi));
  }
  return out;
}
