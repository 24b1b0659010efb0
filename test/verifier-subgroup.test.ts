/**
 * The ψ-based G2 subgroup test (src/verifier/subgroup.ts) cross-checked against noble's own
 * `isTorsionFree` (ψ(P) == [6x²]P) and against the definition r·P == O computed by double-and-add:
 * random subgroup points, random twist points, points of each prime order dividing the twist cofactor,
 * and subgroup points plus such a torsion component (the cases a weak test would let through).
 */
import { bn254 } from "@noble/curves/bn254.js";
import { describe, expect, it } from "vitest";
import { parseG2, VerifierInputError } from "../src/verifier/index.ts";
import type { G2Point } from "../src/verifier/points.ts";
import { BN254_SEED, isInG2Subgroup, psi } from "../src/verifier/subgroup.ts";
import { g2Json } from "./fixtures/verifier/fixture.ts";
import { createRng } from "./helpers/random.ts";
import {
  affine,
  G2_COFACTOR,
  G2_COFACTOR_PRIMES,
  R,
  timesByDoubling,
  torsionPoint,
  twistPoint,
} from "./helpers/twist.ts";

const G2 = bn254.G2.Point;
const rng = createRng(20250501);
const randomScalar = () => rng.bigint(1n, R - 1n);

/** All three tests must agree; returns their common answer. */
function agreedMembership(point: G2Point): boolean {
  const fast = isInG2Subgroup(affine(point));
  expect(affine(point).isTorsionFree()).toBe(fast);
  expect(timesByDoubling(point, R).is0()).toBe(fast);
  return fast;
}

describe("G2 subgroup membership (ψ test of ePrint 2022/348)", () => {
  it("the constants: h2 is the product of the listed primes, p - r = 6x², #E'(Fp2) = r·h2", () => {
    expect(G2_COFACTOR).toBe(bn254.G2.Point.CURVE().h);
    const p = bn254.fields.Fp.ORDER;
    expect(p - R).toBe(6n * BN254_SEED ** 2n);
    // Twist order for BN: r·(2p - r); the G2 cofactor is 2p - r.
    expect(G2_COFACTOR).toBe(2n * p - R);
  });

  it("ψ on projective coordinates acts as [p] = [6x²] on G2 and matches the affine form", () => {
    const point = G2.BASE.multiply(randomScalar());
    const sixXSquared = 6n * BN254_SEED ** 2n;
    expect(psi(point).equals(point.multiplyUnsafe(sixXSquared))).toBe(true);
    expect(psi(point).equals(psi(affine(point)))).toBe(true);
    expect(psi(point).assertValidity()).toBeUndefined();
  });

  it("accepts random subgroup points (and the generator), like noble and r·P == O", () => {
    expect(agreedMembership(G2.BASE)).toBe(true);
    for (let i = 0; i < 12; i++) expect(agreedMembership(G2.BASE.multiply(randomScalar()))).toBe(true);
  });

  it("rejects random twist points, like noble and r·P == O", () => {
    for (let i = 0; i < 12; i++) expect(agreedMembership(twistPoint(BigInt(1 + 97 * i)))).toBe(false);
  });

  it("rejects points of each prime order dividing the cofactor, alone and added to a subgroup point", () => {
    for (const [i, prime] of G2_COFACTOR_PRIMES.entries()) {
      const torsion = torsionPoint(prime, BigInt(3 + i));
      expect(timesByDoubling(torsion, prime).is0()).toBe(true); // order exactly `prime`
      expect(agreedMembership(torsion)).toBe(false);
      const mixed = G2.BASE.multiply(randomScalar()).add(torsion);
      expect(agreedMembership(mixed)).toBe(false);
    }
  });

  it("accepts cofactor-cleared twist points [h2]P", () => {
    for (let i = 0; i < 3; i++) {
      const cleared = timesByDoubling(twistPoint(BigInt(500 + 31 * i)), G2_COFACTOR);
      expect(cleared.is0()).toBe(false);
      expect(agreedMembership(cleared)).toBe(true);
    }
  });

  it("parseG2 uses it: a subgroup point plus a 10069-torsion point is refused, naming the field", () => {
    const good = G2.BASE.multiply(randomScalar());
    expect(parseG2(g2Json(good), "p").equals(good)).toBe(true);
    const bad = good.add(torsionPoint(10069n, 11n));
    expect(() => parseG2(g2Json(bad), "proof.pi_b")).toThrow(VerifierInputError);
    expect(() => parseG2(g2Json(bad), "proof.pi_b")).toThrow(
      /proof\.pi_b: point is not in the prime-order subgroup/,
    );
  });
});
