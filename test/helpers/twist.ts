/**
 * @module test/helpers/twist
 *
 * Points on the bn254 G2 twist E'(Fp2): y^2 = x^3 + 3/(9+u) that are NOT in the order-r subgroup, for
 * subgroup-check tests. #E'(Fp2) = r · h2 with the cofactor h2 = 10069 · 5864401 · 1875725156269 · p177
 * (squarefree, so the group is cyclic): a point with a component of order ℓ | h2 is obtained as
 * [r·h2/ℓ]·P from a random twist point P. Scalar multiplications here use plain double-and-add, so they
 * do not depend on noble's scalar range checks or on either subgroup test under test.
 */
import type { Fp2 } from "@noble/curves/abstract/tower.js";
import { bn254 } from "@noble/curves/bn254.js";
import type { G2Point } from "../../src/verifier/points.ts";

export const R = bn254.fields.Fr.ORDER;
/** The prime factors of the G2 cofactor h2 (each to the first power). */
export const G2_COFACTOR_PRIMES = [
  10069n,
  5864401n,
  1875725156269n,
  197620364512881247228717050342013327560683201906968909n,
] as const;
export const G2_COFACTOR = G2_COFACTOR_PRIMES.reduce((product, prime) => product * prime, 1n);

/** k·P by double-and-add over the bits of k (any k ≥ 0, no range limit). */
export function timesByDoubling(point: G2Point, k: bigint): G2Point {
  let result = bn254.G2.Point.ZERO;
  for (const bit of k.toString(2)) {
    result = result.double();
    if (bit === "1") result = result.add(point);
  }
  return result;
}

/** The first twist point with x = start + i + 7u (i = 0, 1, ...): almost surely not in G2. */
export function twistPoint(start: bigint): G2Point {
  const { Fp2 } = bn254.fields;
  const { b } = bn254.G2.Point.CURVE();
  for (let i = start; ; i++) {
    const x = Fp2.fromBigTuple([i, 7n]);
    const rhs = Fp2.add(Fp2.mul(Fp2.sqr(x), x), b);
    let y: Fp2;
    try {
      y = Fp2.sqrt(rhs);
    } catch {
      continue; // rhs is not a square: no point with this x
    }
    if (Fp2.eql(Fp2.sqr(y), rhs)) return new bn254.G2.Point(x, y, Fp2.ONE);
  }
}

/** A point of order exactly `prime` (a prime factor of h2), from twist points found from `start`. */
export function torsionPoint(prime: bigint, start: bigint): G2Point {
  for (let seed = start; ; seed += 1000n) {
    const point = timesByDoubling(twistPoint(seed), (R * G2_COFACTOR) / prime);
    if (!point.is0()) return point;
  }
}

/** A point with a component outside G2: on the twist, r·P ≠ O. */
export function twistPointOutsideSubgroup(start = 1n): G2Point {
  for (let seed = start; ; seed += 1000n) {
    const point = twistPoint(seed);
    if (!timesByDoubling(point, R).is0()) return point;
  }
}

/** Affine copy (z = 1), as a parser builds points, so no cached state of `point` is reused. */
export function affine(point: G2Point): G2Point {
  const { x, y } = point.toAffine();
  return new bn254.G2.Point(x, y, bn254.fields.Fp2.ONE);
}
