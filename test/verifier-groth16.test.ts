/**
 * Differential and adversarial tests for the verifier SDK's single-proof Groth16 path
 * (`src/verifier`), against snarkjs 0.7.6 on proofs of `test/fixtures/verifier/square.circom`.
 *
 * Every valid proof must verify with both; every mutation from the "Verifier" section of
 * docs/security-checklist must make the SDK return false or throw `VerifierInputError` naming the
 * field. The expected snarkjs outcome is pinned per case too: where snarkjs *accepts* a
 * non-canonical encoding (e.g. "007", a coordinate + q, a 2-element point), that is a documented
 * snarkjs gap the SDK closes.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { bn254 } from "@noble/curves/bn254.js";
import * as snarkjs from "snarkjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../src/util/canonical-json.ts";
import {
  BASE_MODULUS,
  type G1Point,
  type PreparedVerifyingKey,
  parseProof,
  parseVerifyingKey,
  prepareVerifyingKey,
  SCALAR_MODULUS,
  VerifierInputError,
  verifyGroth16,
  vkeyHash,
} from "../src/verifier/index.ts";
import {
  buildVerifierFixture,
  R as FIXTURE_R,
  g1Json,
  g2Json,
  type ProofItem,
  REPO_ROOT,
  rerandomize,
  type VerifierFixture,
} from "./fixtures/verifier/fixture.ts";
import { timesByDoubling, twistPointOutsideSubgroup } from "./helpers/twist.ts";

const R = SCALAR_MODULUS;
const Q = BASE_MODULUS;

let fixture: VerifierFixture;
let key: PreparedVerifyingKey;

beforeAll(async () => {
  fixture = await buildVerifierFixture(6);
  key = prepareVerifyingKey(fixture.vkey);
});

afterAll(async () => {
  await fixture?.release();
});

// ---------------------------------------------------------------- helpers

type Json = unknown;

/** Deep-copies `value` and replaces the element at `path`. */
function withValue<T>(value: T, path: readonly (string | number)[], replacement: Json): T {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let cursor = copy;
  for (const step of path.slice(0, -1)) cursor = cursor[step] as Record<string | number, unknown>;
  cursor[path[path.length - 1] as string | number] = replacement;
  return copy as T;
}

function withoutField<T extends object>(value: T, field: string): T {
  const copy = structuredClone(value) as Record<string, unknown>;
  delete copy[field];
  return copy as T;
}

function bump(decimal: string, by: bigint): string {
  return String(BigInt(decimal) + by);
}

/** The SDK's outcome: a boolean, or the typed error (any other exception fails the test). */
function sdkOutcome(
  prepared: PreparedVerifyingKey,
  signals: Json,
  proof: Json,
): boolean | VerifierInputError {
  try {
    return verifyGroth16(prepared, signals, proof);
  } catch (error) {
    if (error instanceof VerifierInputError) return error;
    throw error;
  }
}

/** snarkjs's outcome; a crash counts as rejection. */
async function snarkjsAccepts(vkey: Json, signals: Json, proof: Json): Promise<boolean> {
  try {
    return (await snarkjs.groth16.verify(vkey, signals, proof)) === true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- valid proofs

describe("valid proofs (differential with snarkjs)", () => {
  it("every fixture proof verifies with snarkjs and with the SDK", async () => {
    expect(fixture.proofs.length).toBeGreaterThanOrEqual(6);
    for (const { publicSignals, proof } of fixture.proofs) {
      expect(await snarkjsAccepts(fixture.vkey, publicSignals, proof)).toBe(true);
      expect(verifyGroth16(key, publicSignals, proof)).toBe(true);
    }
  });

  it("covers full-size public signals (values near r)", () => {
    expect(FIXTURE_R).toBe(R);
    const signals = fixture.proofs.flatMap((item) => item.publicSignals.map(BigInt));
    expect(signals.some((signal) => signal > R / 2n)).toBe(true);
  });

  it("a second key verifies its own proof with both", async () => {
    const other = prepareVerifyingKey(fixture.otherVkey);
    const { publicSignals, proof } = fixture.otherProof;
    expect(await snarkjsAccepts(fixture.otherVkey, publicSignals, proof)).toBe(true);
    expect(verifyGroth16(other, publicSignals, proof)).toBe(true);
  });

  it("a re-randomised proof verifies with both although its bytes differ (dedupe by signals, not proof)", async () => {
    const item = fixture.proofs[0] as ProofItem;
    const randomized = rerandomize(item, key.key.delta, 123456789n, 987654321n);
    expect(randomized.proof.pi_a).not.toEqual(item.proof.pi_a);
    expect(await snarkjsAccepts(fixture.vkey, randomized.publicSignals, randomized.proof)).toBe(true);
    expect(verifyGroth16(key, randomized.publicSignals, randomized.proof)).toBe(true);
  });

  it("known-answer vector: a committed snarkjs proof and its key hash", async () => {
    const kat = JSON.parse(readFileSync(join(REPO_ROOT, "test/fixtures/verifier/kat.json"), "utf8"));
    const prepared = prepareVerifyingKey(kat.vkey);
    expect(verifyGroth16(prepared, kat.publicSignals, kat.proof)).toBe(true);
    expect(await snarkjsAccepts(kat.vkey, kat.publicSignals, kat.proof)).toBe(true);
    expect(vkeyHash(kat.vkey)).toBe(kat.vkeyHash);
    expect(prepared.hash).toBe(kat.vkeyHash);
    const changedSignals = withValue(kat.publicSignals, [0], bump(kat.publicSignals[0], 1n));
    expect(verifyGroth16(prepared, changedSignals, kat.proof)).toBe(false);
  });

  it("snarkjs's G2 generator and e(alpha, beta) agree with noble's encoding", () => {
    const gamma = parseVerifyingKey(fixture.vkey).gamma;
    expect(gamma.equals(bn254.G2.Point.BASE)).toBe(true);
    // prepareVerifyingKey compares vk_alphabeta_12 to noble's pairing: it would throw on a tower mismatch.
    expect(prepareVerifyingKey(fixture.otherVkey).nPublic).toBe(4);
  });
});

// ---------------------------------------------------------------- mutations

interface MutationCase {
  name: string;
  build: (f: VerifierFixture) => { signals: Json; proof: Json };
  /** undefined: the SDK must return false; otherwise the field its VerifierInputError must name. */
  sdkErrorField?: string;
  sdkReason?: RegExp;
  /** What snarkjs 0.7.6 does: "accepts" marks a snarkjs gap that the SDK closes. */
  snarkjs: "rejects" | "accepts";
}

const base = (f: VerifierFixture) => f.proofs[0] as ProofItem;
const signalCase = (
  name: string,
  index: number,
  value: (signal: string) => Json,
  snarkjsOutcome: MutationCase["snarkjs"] = "rejects",
  sdkErrorField: string | undefined = `publicSignals[${index}]`,
): MutationCase => ({
  name: `signal ${index}: ${name}`,
  build: (f) => {
    const item = base(f);
    const signal = item.publicSignals[index] as string;
    return { signals: withValue(item.publicSignals, [index], value(signal)), proof: item.proof };
  },
  sdkErrorField,
  snarkjs: snarkjsOutcome,
});
const proofCase = (
  name: string,
  mutate: (proof: ProofItem["proof"], f: VerifierFixture) => Json,
  sdkErrorField: string | undefined,
  snarkjsOutcome: MutationCase["snarkjs"] = "rejects",
  sdkReason?: RegExp,
): MutationCase => ({
  name: `proof: ${name}`,
  build: (f) => ({ signals: base(f).publicSignals, proof: mutate(base(f).proof, f) }),
  sdkErrorField,
  snarkjs: snarkjsOutcome,
  ...(sdkReason ? { sdkReason } : {}),
});

const COORDINATES: (readonly (string | number)[])[] = [
  ["pi_a", 0],
  ["pi_a", 1],
  ["pi_b", 0, 0],
  ["pi_b", 0, 1],
  ["pi_b", 1, 0],
  ["pi_b", 1, 1],
  ["pi_c", 0],
  ["pi_c", 1],
];
const pointField = (path: readonly (string | number)[]) => `proof.${path[0]}`;
const coordinateField = (path: readonly (string | number)[]) =>
  `proof.${path[0]}${path
    .slice(1)
    .map((step) => `[${step}]`)
    .join("")}`;
const coordinateOf = (proof: ProofItem["proof"], path: readonly (string | number)[]) =>
  path.reduce<unknown>((node, step) => (node as Record<string | number, unknown>)[step], proof) as string;

const MUTATIONS: MutationCase[] = [
  // Public signals: wrong values, out of range, non-canonical encodings, wrong counts.
  ...[0, 1, 2, 3].map((i) =>
    signalCase("+1 (a different valid signal)", i, (s) => bump(s, 1n), "rejects", ""),
  ),
  ...[0, 1, 2, 3].map((i) => signalCase("+r (same residue)", i, (s) => bump(s, R))),
  signalCase('"-1"', 1, () => "-1"),
  signalCase("r", 1, () => String(R)),
  signalCase("2^256", 1, () => String(2n ** 256n)),
  signalCase("a 200-digit number", 1, () => "1".padEnd(200, "0")),
  signalCase('"abc"', 1, () => "abc"),
  signalCase('"1.5"', 1, () => "1.5"),
  signalCase("null", 1, () => null),
  signalCase('""', 1, () => ""),
  signalCase("a JSON number", 1, (s) => Number(s), "accepts"),
  signalCase('" 2" (whitespace)', 1, (s) => ` ${s}`),
  signalCase('"+2"', 1, (s) => `+${s}`),
  signalCase('"007" (leading zeros)', 3, (s) => `00${s}`, "accepts"),
  signalCase('"0x7" (hex)', 3, (s) => `0x${BigInt(s).toString(16)}`, "accepts"),
  {
    name: "signals: one fewer than nPublic",
    build: (f) => ({ signals: base(f).publicSignals.slice(0, -1), proof: base(f).proof }),
    sdkErrorField: "publicSignals",
    snarkjs: "rejects",
  },
  {
    name: "signals: one more than nPublic",
    build: (f) => ({ signals: [...base(f).publicSignals, "0"], proof: base(f).proof }),
    sdkErrorField: "publicSignals",
    snarkjs: "rejects",
  },
  {
    name: "signals: not an array",
    build: (f) => ({ signals: base(f).publicSignals.join(","), proof: base(f).proof }),
    sdkErrorField: "publicSignals",
    snarkjs: "rejects",
  },
  // Proof points: each coordinate changed, out of range, encodings, shapes.
  ...COORDINATES.map((path) =>
    proofCase(
      `${coordinateField(path)} + 1 (off curve)`,
      (p) => withValue(p, path, bump(coordinateOf(p, path), 1n)),
      pointField(path),
      "rejects",
      /not on the curve/,
    ),
  ),
  ...COORDINATES.map((path) =>
    proofCase(
      `${coordinateField(path)} + q (same residue)`,
      (p) => withValue(p, path, bump(coordinateOf(p, path), Q)),
      coordinateField(path),
      "accepts",
      /out of range/,
    ),
  ),
  proofCase(
    'pi_a[0] "0x.." (hex)',
    (p) => withValue(p, ["pi_a", 0], `0x${BigInt(p.pi_a[0] as string).toString(16)}`),
    "proof.pi_a[0]",
    "accepts",
  ),
  proofCase(
    "pi_a = infinity [0, 1, 0]",
    (p) => withValue(p, ["pi_a"], ["0", "1", "0"]),
    "proof.pi_a",
    "rejects",
    /infinity/,
  ),
  proofCase(
    "pi_a = infinity (0, 0) affine",
    (p) => withValue(p, ["pi_a"], ["0", "0", "1"]),
    "proof.pi_a",
    "rejects",
    /infinity/,
  ),
  proofCase(
    "pi_c = infinity",
    (p) => withValue(p, ["pi_c"], ["0", "1", "0"]),
    "proof.pi_c",
    "rejects",
    /infinity/,
  ),
  proofCase(
    "pi_b = infinity",
    (p) =>
      withValue(
        p,
        ["pi_b"],
        [
          ["0", "0"],
          ["1", "0"],
          ["0", "0"],
        ],
      ),
    "proof.pi_b",
    "rejects",
    /infinity/,
  ),
  proofCase('pi_a z = "2"', (p) => withValue(p, ["pi_a", 2], "2"), "proof.pi_a[2]", "rejects", /z must be/),
  proofCase('pi_c z = "01"', (p) => withValue(p, ["pi_c", 2], "01"), "proof.pi_c[2]", "accepts", /z must be/),
  proofCase(
    'pi_b z = ["1", "1"]',
    (p) => withValue(p, ["pi_b", 2], ["1", "1"]),
    "proof.pi_b[2]",
    "rejects",
    /z must be/,
  ),
  proofCase(
    'pi_b z = ["2", "0"]',
    (p) => withValue(p, ["pi_b", 2], ["2", "0"]),
    "proof.pi_b[2]",
    "rejects",
    /z must be/,
  ),
  proofCase(
    "pi_a without z (2 elements)",
    (p) => withValue(p, ["pi_a"], p.pi_a.slice(0, 2)),
    "proof.pi_a",
    "accepts",
  ),
  proofCase("pi_a with 4 elements", (p) => withValue(p, ["pi_a"], [...p.pi_a, "1"]), "proof.pi_a", "accepts"),
  proofCase(
    "pi_b without z (2 rows)",
    (p) => withValue(p, ["pi_b"], p.pi_b.slice(0, 2)),
    "proof.pi_b",
    "accepts",
  ),
  proofCase(
    "pi_b[0] with 3 elements",
    (p) => withValue(p, ["pi_b", 0], [...(p.pi_b[0] as string[]), "0"]),
    "proof.pi_b[0]",
    "accepts",
  ),
  proofCase("pi_c = []", (p) => withValue(p, ["pi_c"], []), "proof.pi_c", "rejects"),
  proofCase(
    "pi_a is a string",
    (p) => withValue(p, ["pi_a"], (p.pi_a as string[]).join(",")),
    "proof.pi_a",
    "rejects",
  ),
  proofCase("missing pi_c", (p) => withoutField(p, "pi_c"), "proof.pi_c", "rejects", /missing/),
  proofCase("missing protocol", (p) => withoutField(p, "protocol"), "proof.protocol", "accepts", /missing/),
  proofCase("extra field", (p) => ({ ...p, extra: "1" }), "proof.extra", "accepts", /unexpected/),
  proofCase('protocol "plonk"', (p) => ({ ...p, protocol: "plonk" }), "proof.protocol", "accepts"),
  proofCase('curve "bls12381"', (p) => ({ ...p, curve: "bls12381" }), "proof.curve", "accepts"),
  proofCase("proof is null", () => null, "proof", "rejects"),
  proofCase("proof is an array", (p) => [p.pi_a, p.pi_b, p.pi_c], "proof", "rejects"),
  proofCase(
    "pi_b on the twist but outside the prime-order subgroup",
    (p) => withValue(p, ["pi_b"], g2Json(twistPointOutsideSubgroup())),
    "proof.pi_b",
    "rejects",
    /subgroup/,
  ),
  // Well-formed but wrong proofs: valid points, the equation must fail.
  proofCase("A negated", (p) => withValue(p, ["pi_a"], g1Json(parseProof(p).a.negate())), undefined),
  proofCase("C negated", (p) => withValue(p, ["pi_c"], g1Json(parseProof(p).c.negate())), undefined),
  proofCase("A and C swapped", (p) => ({ ...p, pi_a: p.pi_c, pi_c: p.pi_a }), undefined),
  proofCase(
    "A replaced by the G1 generator",
    (p) => withValue(p, ["pi_a"], g1Json(bn254.G1.Point.BASE)),
    undefined,
  ),
  proofCase(
    "B replaced by the G2 generator",
    (p) => withValue(p, ["pi_b"], g2Json(bn254.G2.Point.BASE)),
    undefined,
  ),
  proofCase("C doubled", (p) => withValue(p, ["pi_c"], g1Json(parseProof(p).c.double())), undefined),
  proofCase(
    "A from another proof",
    (p, f) => ({ ...p, pi_a: (f.proofs[1] as ProofItem).proof.pi_a }),
    undefined,
  ),
  proofCase("a proof of another statement", (_p, f) => (f.proofs[1] as ProofItem).proof, undefined),
  proofCase("a proof made with another key", (_p, f) => f.otherProof.proof, undefined),
];

describe("mutated proofs and signals (differential with snarkjs)", () => {
  it.each(MUTATIONS)("$name", async (mutation) => {
    const { signals, proof } = mutation.build(fixture);
    const outcome = sdkOutcome(key, signals, proof);
    if (mutation.sdkErrorField === undefined || mutation.sdkErrorField === "") {
      expect(outcome).toBe(false);
    } else {
      expect(outcome).toBeInstanceOf(VerifierInputError);
      const error = outcome as VerifierInputError;
      expect(error.field).toBe(mutation.sdkErrorField);
      if (mutation.sdkReason) expect(error.reason).toMatch(mutation.sdkReason);
    }
    expect(await snarkjsAccepts(fixture.vkey, signals, proof)).toBe(mutation.snarkjs === "accepts");
  });

  it("the non-subgroup twist point really is on the twist and rejected by noble's subgroup check", () => {
    const point = twistPointOutsideSubgroup();
    const { Fp2 } = bn254.fields;
    const { x, y } = point.toAffine();
    const rhs = Fp2.add(Fp2.mul(Fp2.sqr(x), x), bn254.G2.Point.CURVE().b);
    expect(Fp2.eql(Fp2.sqr(y), rhs)).toBe(true);
    expect(point.isTorsionFree()).toBe(false);
    expect(timesByDoubling(point, R).is0()).toBe(false); // independent of noble's check: r·P != O
    expect(() => point.assertValidity()).toThrow(/subgroup/);
    // Honest multiples of the generator pass the same check.
    expect(bn254.G2.Point.BASE.multiply(987654321n).isTorsionFree()).toBe(true);
  });

  it("a key substituted for the honest one rejects the honest proofs, and vice versa", async () => {
    const other = prepareVerifyingKey(fixture.otherVkey);
    const item = fixture.proofs[0] as ProofItem;
    expect(verifyGroth16(other, item.publicSignals, item.proof)).toBe(false);
    expect(await snarkjsAccepts(fixture.otherVkey, item.publicSignals, item.proof)).toBe(false);
    expect(verifyGroth16(key, fixture.otherProof.publicSignals, fixture.otherProof.proof)).toBe(false);
  });
});

// ---------------------------------------------------------------- keys

describe("verification keys", () => {
  it("refuses a key without a phase-2 contribution, whose proofs snarkjs accepts and anyone can forge", async () => {
    const vkey0 = fixture.uncontributedVkey;
    expect(vkey0.vk_delta_2).toEqual(vkey0.vk_gamma_2);
    const { publicSignals, proof } = fixture.uncontributedProof;
    expect(await snarkjsAccepts(vkey0, publicSignals, proof)).toBe(true);
    // Forgery for arbitrary signals: with delta == gamma, (A, B, C) = (alpha, beta, -vk_x) satisfies the equation.
    const parsed = parseVerifyingKey(vkey0);
    const forgedSignals = ["1", "2", "3", "4"];
    const vkX = parsed.ic
      .slice(1)
      .reduce((sum, point, i) => sum.add(point.multiply(BigInt(i + 1))), parsed.ic[0] as G1Point);
    const forged = { ...proof, pi_a: vkey0.vk_alpha_1, pi_b: vkey0.vk_beta_2, pi_c: g1Json(vkX.negate()) };
    expect(await snarkjsAccepts(vkey0, forgedSignals, forged)).toBe(true);
    expect(() => prepareVerifyingKey(vkey0)).toThrow(VerifierInputError);
    try {
      prepareVerifyingKey(vkey0);
    } catch (error) {
      expect((error as VerifierInputError).field).toBe("vkey.vk_delta_2");
    }
  });

  const refusedDelta = (name: string, edit: (vkey: VerifierFixture["vkey"]) => unknown, reason: RegExp) =>
    it(`refuses ${name}`, () => {
      const vkey = edit(fixture.vkey);
      expect(() => parseVerifyingKey(vkey)).not.toThrow(); // well-formed, but weak
      const error = (() => {
        try {
          prepareVerifyingKey(vkey);
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(VerifierInputError);
      expect((error as VerifierInputError).field).toBe("vkey.vk_delta_2");
      expect((error as VerifierInputError).reason).toMatch(reason);
    });
  refusedDelta("delta == gamma", (v) => ({ ...v, vk_delta_2: v.vk_gamma_2 }), /vk_gamma_2/);
  refusedDelta(
    "delta == -gamma",
    (v) => ({ ...v, vk_delta_2: g2Json(parseVerifyingKey(v).gamma.negate()) }),
    /vk_gamma_2/,
  );
  refusedDelta(
    "delta == G2 generator with a different gamma",
    (v) => ({
      ...v,
      vk_gamma_2: g2Json(bn254.G2.Point.BASE.multiply(5n)),
      vk_delta_2: g2Json(bn254.G2.Point.BASE),
    }),
    /generator/,
  );

  const malformedKey = (name: string, edit: (vkey: VerifierFixture["vkey"]) => unknown, field: string) =>
    it(`rejects a key with ${name} (${field})`, () => {
      const vkey = edit(fixture.vkey);
      for (const action of [() => prepareVerifyingKey(vkey), () => vkeyHash(vkey)]) {
        expect(action).toThrow(VerifierInputError);
        try {
          action();
        } catch (error) {
          expect((error as VerifierInputError).field).toBe(field);
        }
      }
    });
  malformedKey(
    "IC[2] off the curve",
    (v) => withValue(v, ["IC", 2, 1], bump(v.IC[2]?.[1] as string, 1n)),
    "vkey.IC[2]",
  );
  malformedKey(
    "IC[1] coordinate >= q",
    (v) => withValue(v, ["IC", 1, 0], bump(v.IC[1]?.[0] as string, Q)),
    "vkey.IC[1][0]",
  );
  malformedKey("an IC point missing", (v) => ({ ...v, IC: v.IC.slice(0, -1) }), "vkey.IC");
  malformedKey("nPublic != IC.length - 1", (v) => ({ ...v, nPublic: 3 }), "vkey.IC");
  malformedKey("nPublic as a string", (v) => ({ ...v, nPublic: "4" }), "vkey.nPublic");
  malformedKey("nPublic fractional", (v) => ({ ...v, nPublic: 4.5 }), "vkey.nPublic");
  malformedKey("no IC", (v) => withoutField(v, "IC"), "vkey.IC");
  malformedKey("an extra field", (v) => ({ ...v, vk_extra: "1" }), "vkey.vk_extra");
  malformedKey('protocol "plonk"', (v) => ({ ...v, protocol: "plonk" }), "vkey.protocol");
  malformedKey("vk_alpha_1 at infinity", (v) => ({ ...v, vk_alpha_1: ["0", "1", "0"] }), "vkey.vk_alpha_1");
  malformedKey(
    "vk_beta_2 outside the G2 subgroup",
    (v) => ({ ...v, vk_beta_2: g2Json(twistPointOutsideSubgroup()) }),
    "vkey.vk_beta_2",
  );
  malformedKey("vk_gamma_2 z != 1", (v) => withValue(v, ["vk_gamma_2", 2], ["0", "1"]), "vkey.vk_gamma_2[2]");
  malformedKey(
    "a non-canonical coordinate",
    (v) => withValue(v, ["vk_alpha_1", 0], `0${v.vk_alpha_1[0]}`),
    "vkey.vk_alpha_1[0]",
  );

  it("rejects a vk_alphabeta_12 that is not e(alpha, beta), and accepts a key without one", () => {
    const wrong = withValue(
      fixture.vkey,
      ["vk_alphabeta_12", 0, 0, 0],
      bump(fixture.vkey.vk_alphabeta_12[0]?.[0]?.[0] as string, 1n),
    );
    expect(() => prepareVerifyingKey(wrong)).toThrow(/vk_alphabeta_12/);
    const withoutCache = prepareVerifyingKey(withoutField(fixture.vkey, "vk_alphabeta_12"));
    const item = fixture.proofs[2] as ProofItem;
    expect(verifyGroth16(withoutCache, item.publicSignals, item.proof)).toBe(true);
  });

  it("only accepts prepared keys made by prepareVerifyingKey", () => {
    const item = fixture.proofs[0] as ProofItem;
    const forged = { ...key } as PreparedVerifyingKey;
    expect(() => verifyGroth16(forged, item.publicSignals, item.proof)).toThrow(TypeError);
    expect(() =>
      verifyGroth16(fixture.vkey as unknown as PreparedVerifyingKey, item.publicSignals, item.proof),
    ).toThrow(TypeError);
  });

  it("vkeyHash is the hex SHA-256 of the canonical JSON, independent of field order", () => {
    const expected = createHash("sha256").update(canonicalJson(fixture.vkey)).digest("hex");
    expect(vkeyHash(fixture.vkey)).toBe(expected);
    expect(vkeyHash(fixture.vkey)).toMatch(/^[0-9a-f]{64}$/);
    const reordered = Object.fromEntries(Object.entries(fixture.vkey).reverse());
    expect(vkeyHash(reordered)).toBe(expected);
    expect(vkeyHash(fixture.otherVkey)).not.toBe(expected);
    expect(key.hash).toBe(expected);
  });
});

// ---------------------------------------------------------------- browser safety

describe("browser safety of src/verifier", () => {
  // The bundle layer (bundle.ts, verify-bundle.ts, describe.ts) reuses the pure, browser-safe
  // circuits/dataset/query/util modules; test/verifier-browser.test.ts walks their full import graph.
  it("imports only @noble packages, sibling verifier modules and pure src modules", () => {
    const dir = join(REPO_ROOT, "src/verifier");
    for (const file of readdirSync(dir).filter((name) => name.endsWith(".ts"))) {
      const source = readFileSync(join(dir, file), "utf8");
      const specifiers = [...source.matchAll(/(?:import|export)[^"';]*?from\s*["']([^"']+)["']/g)].map(
        (m) => m[1],
      );
      for (const specifier of specifiers) {
        const allowed =
          /^@noble\/(curves|hashes)\//.test(specifier as string) ||
          /^\.\/[a-z0-9-]+\.ts$/.test(specifier as string) ||
          /^\.\.\/(circuits|core|dataset|query|util)\/[a-z0-9-]+\.ts$/.test(specifier as string) ||
          // The browser-safe half of the audit log (tree heads, inclusion proofs), as the layer table allows.
          /^\.\.\/audit\/(merkle|types)\.ts$/.test(specifier as string);
        expect(allowed, `${file} imports ${specifier}`).toBe(true);
      }
      expect(source).not.toMatch(/\brequire\(|\bimport\(|process\.|Buffer\b/);
    }
  });
});
