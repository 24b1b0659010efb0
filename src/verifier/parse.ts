/**
 * @module verifier/parse
 *
 * Strict parsers from the snarkjs JSON shapes (Groth16 proof, `verification_key.json`, public
 * signals) to validated bn254 points and scalars. Browser-safe: depends only on `@noble/curves`.
 *
 * What "strict" means here (each rule is a line of the verifier attack checklist):
 * - numbers are canonical decimal strings (`/^(0|[1-9][0-9]*)$/`), below the scalar field order r
 *   for public signals and below the base field order q for coordinates; no hex, signs, leading
 *   zeros, fractions, JSON numbers, `null`, or empty strings;
 * - objects carry exactly the expected fields and arrays exactly the expected lengths;
 * - points are affine with projective z exactly `"1"` (G2: `["1","0"]`); the point at infinity is
 *   rejected explicitly (noble's bn254 accepts it in `assertValidity()`), and every point must lie on
 *   the curve and in the prime-order subgroup (for G2 this is a real check: the twist has a large
 *   cofactor and snarkjs/ffjavascript only checks the curve equation; G2 uses the ψ-based test of
 *   `subgroup.ts`, G1 noble's `assertValidity()`).
 *
 * Every failure throws {@link VerifierInputError} naming the offending field, e.g. `proof.pi_a[1]`.
 * Parsing says nothing about whether a proof is *valid*; that is the pairing check's job.
 */
import type { Fp2, Fp12 } from "@noble/curves/abstract/tower.js";
import type { WeierstrassPoint, WeierstrassPointCons } from "@noble/curves/abstract/weierstrass.js";
import { bn254 } from "@noble/curves/bn254.js";
import { CANONICAL_DECIMAL, FIELD_ORDER, MAX_DECIMAL_DIGITS } from "../core/field.ts";
import { VerifierInputError } from "./errors.ts";
import type { G1Point, G2Point } from "./points.ts";
import { isInG2Subgroup } from "./subgroup.ts";

/** BN254 scalar field order r: public signals must be below it. */
export const SCALAR_MODULUS: bigint = FIELD_ORDER;
/** BN254 base field order q: point coordinates must be below it. */
export const BASE_MODULUS: bigint = bn254.fields.Fp.ORDER;

type DecimalString = string;

/** Groth16 proof as written by snarkjs (`proof.json`). */
export interface SnarkjsProof {
  pi_a: [DecimalString, DecimalString, DecimalString];
  pi_b: [[DecimalString, DecimalString], [DecimalString, DecimalString], [DecimalString, DecimalString]];
  pi_c: [DecimalString, DecimalString, DecimalString];
  protocol: "groth16";
  curve: "bn128";
}

type SnarkjsFp2 = [DecimalString, DecimalString];
type SnarkjsFp6 = [SnarkjsFp2, SnarkjsFp2, SnarkjsFp2];

/** Groth16 verification key as written by snarkjs (`verification_key.json`). */
export interface SnarkjsVerifyingKey {
  protocol: "groth16";
  curve: "bn128";
  nPublic: number;
  vk_alpha_1: SnarkjsProof["pi_a"];
  vk_beta_2: SnarkjsProof["pi_b"];
  vk_gamma_2: SnarkjsProof["pi_b"];
  vk_delta_2: SnarkjsProof["pi_b"];
  /** Optional cache of e(alpha, beta); when present it must match the recomputed value. */
  vk_alphabeta_12?: [SnarkjsFp6, SnarkjsFp6];
  IC: SnarkjsProof["pi_a"][];
}

/** A parsed proof: A and C in G1, B in G2, all validated. */
export interface ParsedProof {
  readonly a: G1Point;
  readonly b: G2Point;
  readonly c: G1Point;
}

/** A parsed verification key with validated points. */
export interface ParsedVerifyingKey {
  readonly nPublic: number;
  readonly alpha: G1Point;
  readonly beta: G2Point;
  readonly gamma: G2Point;
  readonly delta: G2Point;
  /** IC[0] is the constant term; IC[i] multiplies public signal i-1. Length nPublic + 1. */
  readonly ic: readonly G1Point[];
  /** The key's own e(alpha, beta) claim, if it carried one (snarkjs always writes it). */
  readonly alphaBetaClaim: Fp12 | undefined;
}

const PROOF_FIELDS = ["pi_a", "pi_b", "pi_c", "protocol", "curve"] as const;
const VKEY_FIELDS = [
  "protocol",
  "curve",
  "nPublic",
  "vk_alpha_1",
  "vk_beta_2",
  "vk_gamma_2",
  "vk_delta_2",
  "IC",
] as const;
const VKEY_OPTIONAL_FIELDS = ["vk_alphabeta_12"] as const;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "string" ? `the string ${JSON.stringify(value.slice(0, 20))}` : `a ${typeof value}`;
}

/** Parses a canonical decimal string strictly below `modulus`. */
function parseDecimal(value: unknown, modulus: bigint, field: string, modulusName: string): bigint {
  if (typeof value !== "string") {
    throw new VerifierInputError(field, `expected a canonical decimal string, got ${describe(value)}`);
  }
  if (value.length > MAX_DECIMAL_DIGITS || !CANONICAL_DECIMAL.test(value)) {
    throw new VerifierInputError(field, `not a canonical decimal string: ${describe(value)}`);
  }
  const parsed = BigInt(value);
  if (parsed >= modulus) throw new VerifierInputError(field, `out of range: must be < ${modulusName}`);
  return parsed;
}

/** Parses a public signal: a canonical decimal string below r. */
export function parseScalar(value: unknown, field: string): bigint {
  return parseDecimal(value, SCALAR_MODULUS, field, "the scalar field order r");
}

function parseCoordinate(value: unknown, field: string): bigint {
  return parseDecimal(value, BASE_MODULUS, field, "the base field order q");
}

function expectArray(value: unknown, length: number, field: string): unknown[] {
  if (!Array.isArray(value)) throw new VerifierInputError(field, `expected an array, got ${describe(value)}`);
  if (value.length !== length) {
    throw new VerifierInputError(field, `expected ${length} elements, got ${value.length}`);
  }
  return value;
}

/** Checks that `value` is a plain object with exactly the required (plus allowed optional) fields. */
function expectRecord(
  value: unknown,
  field: string,
  required: readonly string[],
  optional: readonly string[] = [],
): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new VerifierInputError(field, `expected an object, got ${describe(value)}`);
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    throw new VerifierInputError(field, "expected a plain JSON object");
  }
  const record = value as Record<string, unknown>;
  for (const key of required) {
    if (!Object.hasOwn(record, key)) throw new VerifierInputError(`${field}.${key}`, "missing field");
  }
  for (const key of Object.keys(record)) {
    if (!required.includes(key) && !optional.includes(key)) {
      throw new VerifierInputError(`${field}.${key}`, "unexpected field");
    }
  }
  return record;
}

function expectLiteral(value: unknown, expected: string, field: string): void {
  if (value !== expected) {
    throw new VerifierInputError(field, `expected ${JSON.stringify(expected)}, got ${describe(value)}`);
  }
}

/** y^2 == x^3 + b (bn254 has a = 0 on both the curve and its twist). */
function isOnCurve<T>(Point: WeierstrassPointCons<T>, x: T, y: T): boolean {
  const { Fp } = Point;
  const { b } = Point.CURVE();
  return Fp.eql(Fp.sqr(y), Fp.add(Fp.mul(Fp.sqr(x), x), b));
}

/** noble's own validity check (on-curve and subgroup); cheap for G1, whose cofactor is 1. */
function passesNobleValidity<T>(point: WeierstrassPoint<T>): boolean {
  try {
    point.assertValidity();
    return true;
  } catch {
    return false;
  }
}

/** Builds an affine point and runs the on-curve, non-infinity and subgroup checks. */
function validatedPoint<T>(
  Point: WeierstrassPointCons<T>,
  x: T,
  y: T,
  field: string,
  inSubgroup: (point: WeierstrassPoint<T>) => boolean = passesNobleValidity,
): WeierstrassPoint<T> {
  const { Fp } = Point;
  // (0, 0) is the Ethereum encoding of infinity; name it rather than report "not on the curve".
  if (Fp.is0(x) && Fp.is0(y)) throw new VerifierInputError(field, "point at infinity is not allowed");
  if (!isOnCurve(Point, x, y)) throw new VerifierInputError(field, "point is not on the curve");
  const point = new Point(x, y, Fp.ONE);
  // Unreachable for on-curve (x, y, 1), but noble's bn254 treats infinity as valid: never rely on it.
  if (point.is0()) throw new VerifierInputError(field, "point at infinity is not allowed");
  if (!inSubgroup(point)) throw new VerifierInputError(field, "point is not in the prime-order subgroup");
  return point;
}

/** Parses a snarkjs G1 point `[x, y, "1"]`. */
export function parseG1(value: unknown, field: string): G1Point {
  const [xValue, yValue, zValue] = expectArray(value, 3, field);
  const x = parseCoordinate(xValue, `${field}[0]`);
  const y = parseCoordinate(yValue, `${field}[1]`);
  if (zValue === "0") throw new VerifierInputError(field, "point at infinity is not allowed");
  if (zValue !== "1") throw new VerifierInputError(`${field}[2]`, 'projective z must be exactly "1"');
  return validatedPoint(bn254.G1.Point, x, y, field);
}

function parseFp2(value: unknown, field: string): Fp2 {
  const [c0, c1] = expectArray(value, 2, field);
  return bn254.fields.Fp2.fromBigTuple([
    parseCoordinate(c0, `${field}[0]`),
    parseCoordinate(c1, `${field}[1]`),
  ]);
}

/** Parses a snarkjs G2 point `[[x0, x1], [y0, y1], ["1", "0"]]` (x = x0 + x1·u). */
export function parseG2(value: unknown, field: string): G2Point {
  const [xValue, yValue, zValue] = expectArray(value, 3, field);
  const x = parseFp2(xValue, `${field}[0]`);
  const y = parseFp2(yValue, `${field}[1]`);
  const [z0, z1] = expectArray(zValue, 2, `${field}[2]`);
  if (z0 === "0" && z1 === "0") throw new VerifierInputError(field, "point at infinity is not allowed");
  if (z0 !== "1" || z1 !== "0") {
    throw new VerifierInputError(`${field}[2]`, 'projective z must be exactly ["1", "0"]');
  }
  // The on-curve check above makes the faster ψ-based subgroup test applicable (subgroup.ts).
  return validatedPoint(bn254.G2.Point, x, y, field, isInG2Subgroup);
}

/** Parses a snarkjs Groth16 proof object; `path` prefixes error field names. */
export function parseProof(value: unknown, path = "proof"): ParsedProof {
  const record = expectRecord(value, path, PROOF_FIELDS);
  expectLiteral(record.protocol, "groth16", `${path}.protocol`);
  expectLiteral(record.curve, "bn128", `${path}.curve`);
  return {
    a: parseG1(record.pi_a, `${path}.pi_a`),
    b: parseG2(record.pi_b, `${path}.pi_b`),
    c: parseG1(record.pi_c, `${path}.pi_c`),
  };
}

/** Parses public signals: exactly `expectedCount` canonical decimal strings below r. */
export function parsePublicSignals(value: unknown, expectedCount: number, path = "publicSignals"): bigint[] {
  if (!Array.isArray(value)) throw new VerifierInputError(path, `expected an array, got ${describe(value)}`);
  if (value.length !== expectedCount) {
    throw new VerifierInputError(
      path,
      `expected ${expectedCount} signals (vkey.nPublic), got ${value.length}`,
    );
  }
  return value.map((signal, index) => parseScalar(signal, `${path}[${index}]`));
}

function parseFp12(value: unknown, field: string): Fp12 {
  const { Fp6, Fp12 } = bn254.fields;
  const halves = expectArray(value, 2, field).map((half, i) => {
    const [c0, c1, c2] = expectArray(half, 3, `${field}[${i}]`).map((fp2, j) =>
      parseFp2(fp2, `${field}[${i}][${j}]`),
    ) as [Fp2, Fp2, Fp2];
    return Fp6.create({ c0, c1, c2 });
  });
  const [c0, c1] = halves as [Fp12["c0"], Fp12["c1"]];
  return Fp12.create({ c0, c1 });
}

function parseNPublic(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new VerifierInputError(field, `expected a non-negative integer, got ${describe(value)}`);
  }
  return value;
}

/**
 * Parses a snarkjs `verification_key.json`. Checks the structure and every point; it does NOT
 * refuse weak keys (see `prepareVerifyingKey`) nor check `vk_alphabeta_12` (needs a pairing).
 */
export function parseVerifyingKey(value: unknown, path = "vkey"): ParsedVerifyingKey {
  const record = expectRecord(value, path, VKEY_FIELDS, VKEY_OPTIONAL_FIELDS);
  expectLiteral(record.protocol, "groth16", `${path}.protocol`);
  expectLiteral(record.curve, "bn128", `${path}.curve`);
  const nPublic = parseNPublic(record.nPublic, `${path}.nPublic`);
  if (!Array.isArray(record.IC)) {
    throw new VerifierInputError(`${path}.IC`, `expected an array, got ${describe(record.IC)}`);
  }
  if (record.IC.length !== nPublic + 1) {
    throw new VerifierInputError(
      `${path}.IC`,
      `expected nPublic + 1 = ${nPublic + 1} points, got ${record.IC.length}`,
    );
  }
  return {
    nPublic,
    alpha: parseG1(record.vk_alpha_1, `${path}.vk_alpha_1`),
    beta: parseG2(record.vk_beta_2, `${path}.vk_beta_2`),
    gamma: parseG2(record.vk_gamma_2, `${path}.vk_gamma_2`),
    delta: parseG2(record.vk_delta_2, `${path}.vk_delta_2`),
    ic: record.IC.map((point, index) => parseG1(point, `${path}.IC[${index}]`)),
    alphaBetaClaim: Object.hasOwn(record, "vk_alphabeta_12")
      ? parseFp12(record.vk_alphabeta_12, `${path}.vk_alphabeta_12`)
      : undefined,
  };
}
