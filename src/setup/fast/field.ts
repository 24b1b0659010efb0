/**
 * @module setup/fast/field
 *
 * BN254 scalar-field (Fr) arithmetic on `bigint` for the fast development setup: modular products, powers,
 * batch inversion, the 2-adic roots of unity exactly as ffjavascript/wasmcurves pick them (so Lagrange
 * bases line up index for index with snarkjs's FFTs), and the 32-byte little-endian scalar encoding the
 * wasm curve code consumes.
 *
 * Security caveat: nothing here is constant-time. The values it handles in this module's callers are the
 * toxic waste of an INSECURE development setup, which is known by construction; never reuse this code for
 * secrets that must stay secret.
 */
import { FIELD_ORDER } from "../../core/field.ts";

/** BN254 scalar field modulus r. */

/** BN254 base field modulus q. */
export const FQ_MODULUS = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;

/** 2-adicity of r - 1: the largest power-of-two FFT domain is 2^28. */
export const FR_TWO_ADICITY = 28;

/** Bytes of one scalar in the wasm encoding (little-endian, standard form). */
export const SCALAR_BYTES = 32;

const r = FIELD_ORDER;

/** a mod r in 0..r-1 (also for negative a). */
export function frReduce(a: bigint): bigint {
  const m = a % r;
  return m < 0n ? m + r : m;
}

export function frMul(a: bigint, b: bigint): bigint {
  return (a * b) % r;
}

export function frAdd(a: bigint, b: bigint): bigint {
  const s = a + b;
  return s >= r ? s - r : s;
}

export function frSub(a: bigint, b: bigint): bigint {
  const d = a - b;
  return d < 0n ? d + r : d;
}

/** base^exponent mod r by square-and-multiply (exponent >= 0). */
export function frPow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = frReduce(base);
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % r;
    b = (b * b) % r;
    e >>= 1n;
  }
  return result;
}

/** Multiplicative inverse (Fermat); throws on zero. */
export function frInv(a: bigint): bigint {
  const v = frReduce(a);
  if (v === 0n) throw new RangeError("cannot invert 0 in Fr");
  return frPow(v, r - 2n);
}

/** Inverses of all values with one field inversion (Montgomery's trick); throws if any value is 0. */
export function frBatchInverse(values: readonly bigint[]): bigint[] {
  const n = values.length;
  const prefix: bigint[] = new Array(n);
  let acc = 1n;
  for (let i = 0; i < n; i++) {
    prefix[i] = acc;
    acc = (acc * (values[i] as bigint)) % r;
  }
  let inv = frInv(acc);
  const out: bigint[] = new Array(n);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = (inv * (prefix[i] as bigint)) % r;
    inv = (inv * (values[i] as bigint)) % r;
  }
  return out;
}

let cachedRoots: bigint[] | undefined;

/**
 * Primitive 2^bits-th root of unity, chosen as wasmcurves' `build_fft.js` and ffjavascript's `Fr.w` do:
 * w[28] = nqr^t with nqr the smallest non-residue >= 2 and r - 1 = t * 2^28, then w[i] = w[i+1]^2.
 */
export function rootOfUnity(bits: number): bigint {
  if (!Number.isInteger(bits) || bits < 0 || bits > FR_TWO_ADICITY) {
    throw new RangeError(`bits must be an integer in 0..${FR_TWO_ADICITY}, got ${String(bits)}`);
  }
  if (!cachedRoots) {
    const t = (r - 1n) >> BigInt(FR_TWO_ADICITY);
    let nqr = 2n;
    while (frPow(nqr, (r - 1n) >> 1n) === 1n) nqr += 1n;
    const roots: bigint[] = new Array(FR_TWO_ADICITY + 1);
    roots[FR_TWO_ADICITY] = frPow(nqr, t);
    for (let i = FR_TWO_ADICITY - 1; i >= 0; i--)
      roots[i] = frMul(roots[i + 1] as bigint, roots[i + 1] as bigint);
    if (roots[0] !== 1n) throw new Error("roots of unity: w[0] != 1");
    cachedRoots = roots;
  }
  return cachedRoots[bits] as bigint;
}

/** Writes scalars (each already in 0..r-1) as consecutive 32-byte little-endian words. */
export function encodeScalars(values: readonly bigint[]): Uint8Array {
  const out = new Uint8Array(values.length * SCALAR_BYTES);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    let v = values[i] as bigint;
    const at = i * SCALAR_BYTES;
    for (let limb = 0; limb < 4; limb++) {
      view.setBigUint64(at + limb * 8, BigInt.asUintN(64, v), true);
      v >>= 64n;
    }
  }
  return out;
}
