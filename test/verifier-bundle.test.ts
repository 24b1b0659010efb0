/**
 * Proof bundles (docs/bundle.md) end to end: real proofs of every aggregate kind over a signed test
 * dataset, bundled with `makeBundle` and checked with the SDK's `verify` / `verifyBundles`.
 *
 * Differential: every valid bundle also verifies with snarkjs `groth16.verify`; every tampered one is
 * also checked with the interim snarkjs-based check (prover/check.ts: manifest signature, signals
 * recomputed from the bundle's claims, snarkjs on them) and the expected outcome is pinned per case.
 * Where that check accepts (it has no notion of the statement text, the vkeyHash label, the bundle's
 * form, or weak keys), the SDK is the stricter one and the case says so.
 */
import { bn254 } from "@noble/curves/bn254.js";
import * as snarkjs from "snarkjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedPublicSignals } from "../src/circuits/statement.ts";
import { buildManifest } from "../src/dataset/manifest.ts";
import { signManifest } from "../src/dataset/manifest-sign.ts";
import { serializeBundle } from "../src/prover/bundle.ts";
import { checkQueryProof } from "../src/prover/check.ts";
import type { QueryProof } from "../src/prover/prove-query.ts";
import {
  type BundleVerifyResult,
  describeStatement,
  findInvalidParsedBatchItems,
  groupDigits,
  InsecureKeysError,
  type ProofBundle,
  parseBundle,
  parseProof,
  parseVerifyingKey,
  prepareVerifyingKey,
  type RejectionCheck,
  VerifierInputError,
  type VerifyOptions,
  verify,
  verifyBundles,
  vkeyHash,
} from "../src/verifier/index.ts";
import { g1Json, g2Json, rerandomize } from "./fixtures/verifier/fixture.ts";
import {
  BUNDLE_KINDS,
  BUNDLE_REQUESTS,
  type BundleFixture,
  buildBundleFixture,
  mutableCopy,
  OPERATOR_KEY,
  RECORDS,
  SCHEMA,
  TEST_CIRCUIT_ID,
  withoutField,
  withValue,
} from "./helpers/bundles.ts";
import { torsionPoint, twistPointOutsideSubgroup } from "./helpers/twist.ts";

const R = bn254.fields.Fr.ORDER;
const Q = bn254.fields.Fp.ORDER;
const ATTACKER_SECRET = new Uint8Array(32).fill(66);

let fixture: BundleFixture;

beforeAll(async () => {
  fixture = await buildBundleFixture(BUNDLE_KINDS);
});

afterAll(async () => {
  await fixture?.release();
});

// ---------------------------------------------------------------- helpers

/** The fixture's keys are development keys (keys manifest insecure: true): the tests allow them explicitly. */
function options(extra: Partial<VerifyOptions> = {}): VerifyOptions {
  return {
    keys: { [TEST_CIRCUIT_ID]: fixture.vkey },
    keysManifest: fixture.keysManifest,
    operatorKey: OPERATOR_KEY,
    allowInsecureKeys: true,
    ...extra,
  };
}

/** The SDK's outcome: a result, or the typed error (any other exception fails the test). */
function sdkOutcome(
  bundle: unknown,
  opts: VerifyOptions = options(),
): BundleVerifyResult | VerifierInputError {
  try {
    return verify(bundle, opts);
  } catch (error) {
    if (error instanceof VerifierInputError) return error;
    throw error;
  }
}

/** The interim snarkjs-based check of prover/check.ts on the bundle's claims; a crash is a rejection. */
async function referenceAccepts(bundle: unknown, vkey: unknown = fixture.vkey): Promise<boolean> {
  try {
    const { manifest } = bundle as ProofBundle;
    const proof = bundle as unknown as QueryProof;
    type Vkey = Parameters<typeof checkQueryProof>[0]["vkey"];
    return (await checkQueryProof({ manifest, operatorKey: OPERATOR_KEY, vkey: vkey as Vkey, proof })).valid;
  } catch {
    return false;
  }
}

function recomputedSignals(bundle: ProofBundle): string[] {
  return expectedPublicSignals({
    manifest: bundle.manifest,
    circuitId: bundle.circuitId,
    query: bundle.query,
    answer: bundle.answer.suppressed
      ? { suppressed: true }
      : { suppressed: false, value: bundle.answer.value },
    minGroupSize: bundle.minGroupSize,
    nonce: bundle.nonce,
  });
}

function recomputedStatement(bundle: ProofBundle): string {
  return describeStatement({
    manifest: bundle.manifest,
    schema: SCHEMA,
    query: bundle.query,
    answer: bundle.answer,
    minGroupSize: bundle.minGroupSize,
  });
}

/** Re-derives signals and statement from the (edited) claims, as a careful forger would. */
function consistent(bundle: ReturnType<typeof mutableCopy>): ProofBundle {
  const edited = bundle as unknown as ProofBundle;
  bundle.publicSignals = recomputedSignals(edited);
  bundle.statement = recomputedStatement(edited);
  return edited;
}

function bump(decimal: string, by: bigint): string {
  return String(BigInt(decimal) + by);
}

/** A manifest of the test dataset signed by someone else. */
function attackerSignedManifest() {
  const { signature: _signature, operatorKey: _key, ...unsigned } = fixture.dataset.manifest;
  return signManifest(buildManifest({ ...unsigned, root: unsigned.root }), ATTACKER_SECRET);
}

// ---------------------------------------------------------------- valid bundles

describe("valid bundles", () => {
  it("every kind verifies with the SDK and with snarkjs groth16.verify, stating what was proven", async () => {
    for (const kind of BUNDLE_KINDS) {
      const bundle = fixture.bundle(kind);
      const result = verify(bundle, options());
      expect(result, kind).toMatchObject({ valid: true, statement: BUNDLE_REQUESTS[kind].statement });
      expect(bundle.statement).toBe(BUNDLE_REQUESTS[kind].statement);
      expect(await snarkjs.groth16.verify(fixture.vkey, [...bundle.publicSignals], bundle.proof)).toBe(true);
      expect(await referenceAccepts(bundle)).toBe(true);
    }
  });

  it("returns the verified facts, the dedupe key and the insecure-keys warning", () => {
    const bundle = fixture.bundle("count");
    const result = verify(bundle, options());
    if (!result.valid) throw new Error(result.reason);
    expect(result).toMatchObject({
      datasetId: "wiki-editors",
      epoch: 3,
      circuitId: TEST_CIRCUIT_ID,
      answer: { kind: "count", suppressed: false, value: "2" },
      nonce: String(2n ** 200n + 12345n),
      minGroupSize: 0,
      operatorKey: OPERATOR_KEY,
      vkeyHash: fixture.vkeyHash,
      createdAt: "2025-05-01T09:30:00.000Z",
      dedupeKey: `${fixture.vkeyHash}:${bundle.publicSignals.join(",")}`,
    });
    expect(result.query).toEqual({
      predicate: [
        { field: "country", op: "eq", value: "FR" },
        { field: "edits", op: "gte", value: 100 },
      ],
      aggregate: { kind: "count" },
    });
    expect(result.queryHash).toMatch(/^[0-9a-f]{64}$/);
    expect(result.warnings.join()).toMatch(/INSECURE .*accepted because allowInsecureKeys is set/);
  });

  it("fails closed on insecure keys: a typed error unless allowInsecureKeys is set", () => {
    expect(fixture.keysManifest.insecure).toBe(true);
    for (const refused of [
      options({ allowInsecureKeys: false }),
      { ...options(), allowInsecureKeys: undefined },
    ]) {
      const error = sdkOutcome(count(), refused);
      expect(error).toBeInstanceOf(InsecureKeysError);
      expect(error).toBeInstanceOf(VerifierInputError);
      expect(error).toMatchObject({
        field: "options.keysManifest",
        circuitId: TEST_CIRCUIT_ID,
        code: "insecure_keys",
      });
      expect((error as Error).message).toMatch(/INSECURE development setup .*can forge proofs/);
      expect(() => verifyBundles([count(), fixture.bundle("sum")], refused)).toThrow(InsecureKeysError);
    }
    expect(
      (sdkOutcome(count(), options({ allowInsecureKeys: "yes" as never })) as VerifierInputError).field,
    ).toBe("options.allowInsecureKeys");
    // Keys a keys manifest marks secure verify without the option and without a warning.
    const secure = {
      ...fixture.keysManifest,
      insecure: false,
      ptau: { ...fixture.keysManifest.ptau, insecure: false },
    };
    expect(verify(count(), options({ keysManifest: secure, allowInsecureKeys: undefined }))).toMatchObject({
      valid: true,
      warnings: [],
    });
  });

  it("trust from the pinned manifest alone, from both, without a keys manifest, after a JSON round trip", () => {
    const bundle = fixture.bundle("sum");
    const { manifest } = fixture.dataset;
    const viaManifest = { keys: { [TEST_CIRCUIT_ID]: fixture.vkey }, manifest };
    expect(verify(bundle, viaManifest).valid).toBe(true);
    expect(verify(bundle, options({ manifest })).valid).toBe(true);
    expect(
      verify(bundle, { keys: { [TEST_CIRCUIT_ID]: fixture.vkey }, operatorKey: OPERATOR_KEY }),
    ).toMatchObject({
      valid: true,
      warnings: [],
    });
    expect(
      verify(JSON.parse(JSON.stringify(bundle)), options({ operatorKey: OPERATOR_KEY.toUpperCase() })).valid,
    ).toBe(true);
  });

  it("a bundle has exactly the documented fields and no key material", () => {
    const bundle = fixture.bundle("membership");
    expect(Object.keys(bundle).sort()).toEqual(
      [
        "answer",
        "circuitId",
        "createdAt",
        "format",
        "manifest",
        "minGroupSize",
        "nonce",
        "proof",
        "publicSignals",
        "query",
        "statement",
        "vkeyHash",
      ].sort(),
    );
    expect(bundle.format).toBe("zktally-bundle/v1");
    expect(JSON.stringify(bundle)).not.toMatch(/vk_|salt|secret|witness/);
    expect(Object.isFrozen(bundle) && Object.isFrozen(bundle.proof)).toBe(true);
  });

  it("a re-randomised proof of the same statement verifies and has the same dedupe key", async () => {
    const bundle = fixture.bundle("threshold");
    const delta = parseVerifyingKey(fixture.vkey).delta;
    const { proof } = rerandomize(
      { publicSignals: [...bundle.publicSignals], proof: bundle.proof },
      delta,
      5n,
      9n,
    );
    const replay = { ...bundle, proof };
    expect(replay.proof.pi_a).not.toEqual(bundle.proof.pi_a);
    expect(await snarkjs.groth16.verify(fixture.vkey, [...bundle.publicSignals], proof)).toBe(true);
    const [first, second] = [verify(bundle, options()), verify(replay, options())];
    if (!first.valid || !second.valid) throw new Error("re-randomised proof rejected");
    expect(second.dedupeKey).toBe(first.dedupeKey);
  });
});

// ---------------------------------------------------------------- rejected bundles

type Expected = { check: RejectionCheck; reason: RegExp } | { field: string | RegExp; reason?: RegExp };

interface Case {
  name: string;
  bundle: () => unknown;
  options?: () => VerifyOptions;
  sdk: Expected;
  /** Outcome of the interim snarkjs-based check; "accepts" marks where only the SDK catches it. */
  reference: "rejects" | "accepts";
}

const count = () => fixture.bundle("count");

const rejectedCases: Case[] = [
  {
    name: "answer changed",
    bundle: () => withValue(count(), ["answer", "value"], "3"),
    sdk: { check: "public-signals", reason: /public signal 1 \(answer\) is 2, but .* require 3/ },
    reference: "rejects",
  },
  {
    name: "answer changed together with its signal and statement",
    bundle: () => {
      const edited = mutableCopy(count());
      edited.answer = { kind: "count", suppressed: false, value: "3" };
      return consistent(edited);
    },
    sdk: { check: "proof", reason: /Groth16 proof does not verify/ },
    reference: "rejects",
  },
  {
    name: "suppressed answer claimed as an unsuppressed 0",
    bundle: () =>
      withValue(fixture.bundle("suppressed"), ["answer"], { kind: "count", suppressed: false, value: "0" }),
    sdk: { check: "public-signals", reason: /public signal 0 \(suppressed\) is 1, but .* require 0/ },
    reference: "rejects",
  },
  {
    name: "threshold answer flipped",
    bundle: () => withValue(fixture.bundle("threshold"), ["answer", "value"], false),
    sdk: { check: "public-signals", reason: /public signal 1 \(answer\)/ },
    reference: "rejects",
  },
  {
    name: "query clause constant changed (edits ≥ 100 → ≥ 101)",
    bundle: () => withValue(count(), ["query", "predicate", 1, "value"], 101),
    sdk: { check: "public-signals", reason: /public signal 8 \(clauses\[1\]\)/ },
    reference: "rejects",
  },
  {
    name: "query clause op changed (gte → gt)",
    bundle: () => withValue(count(), ["query", "predicate", 1, "op"], "gt"),
    sdk: { check: "public-signals", reason: /public signal 8 \(clauses\[1\]\)/ },
    reference: "rejects",
  },
  {
    name: "query enum constant changed (FR → DE)",
    bundle: () => withValue(count(), ["query", "predicate", 0, "value"], "DE"),
    sdk: { check: "public-signals", reason: /public signal 7 \(clauses\[0\]\)/ },
    reference: "rejects",
  },
  {
    name: "query set constant changed (in {DE, FR} → {DE, US})",
    bundle: () => withValue(fixture.bundle("threshold"), ["query", "predicate", 0, "value"], ["DE", "US"]),
    sdk: { check: "public-signals", reason: /public signal 7 \(clauses\[0\]\)/ },
    reference: "rejects",
  },
  {
    name: "threshold k changed (5 → 4)",
    bundle: () => withValue(fixture.bundle("threshold"), ["query", "aggregate", "k"], 4),
    sdk: { check: "public-signals", reason: /public signal 6 \(aggregate\)/ },
    reference: "rejects",
  },
  {
    name: "membership key changed (104 → 101)",
    bundle: () => withValue(fixture.bundle("membership"), ["query", "aggregate", "key"], 101),
    sdk: { check: "public-signals", reason: /public signal \d+ \(clauses\[\d\]\)/ },
    reference: "rejects",
  },
  {
    name: "query clause constant changed with all signals and the statement re-derived",
    bundle: () => {
      const edited = mutableCopy(count());
      edited.query.predicate[1] = { field: "edits", op: "gte", value: 101 };
      return consistent(edited);
    },
    sdk: { check: "proof", reason: /Groth16 proof does not verify/ },
    reference: "rejects",
  },
  {
    name: "manifest of another dataset (validly signed by the operator)",
    bundle: () => withValue(count(), ["manifest"], fixture.otherDataset.manifest),
    sdk: { check: "public-signals", reason: /public signal 2 \(root\)/ },
    reference: "rejects",
  },
  {
    name: "manifest of another epoch (validly signed by the operator)",
    bundle: () => withValue(count(), ["manifest"], fixture.otherEpoch.manifest),
    sdk: { check: "public-signals", reason: /public signal 2 \(root\)/ },
    reference: "rejects",
  },
  {
    name: "manifest of another epoch against the pinned epoch-3 manifest",
    bundle: () => withValue(count(), ["manifest"], fixture.otherEpoch.manifest),
    options: () => options({ manifest: fixture.dataset.manifest }),
    sdk: { check: "pinned-manifest", reason: /wiki-editors epoch 4\) is not the pinned manifest .*epoch 3/ },
    reference: "rejects",
  },
  {
    name: "another dataset's manifest with signals and statement re-derived",
    bundle: () => {
      const edited = mutableCopy(count());
      edited.manifest = JSON.parse(JSON.stringify(fixture.otherDataset.manifest));
      return consistent(edited);
    },
    sdk: { check: "proof", reason: /Groth16 proof does not verify/ },
    reference: "rejects",
  },
  {
    name: "a bundle for another request (replay), caught by expectedNonce",
    bundle: () => count(),
    options: () => options({ expectedNonce: "42" }),
    sdk: { check: "nonce", reason: /answers request nonce \d+, expected 42/ },
    reference: "accepts", // the reference has no notion of the partner's request
  },
  {
    name: "nonce changed",
    bundle: () => withValue(count(), ["nonce"], "12345"),
    sdk: { check: "public-signals", reason: /public signal 5 \(nonce\)/ },
    reference: "rejects",
  },
  {
    name: "minimum group size changed",
    bundle: () => withValue(fixture.bundle("sum"), ["minGroupSize"], 1),
    sdk: { check: "public-signals", reason: /public signal 4 \(minGroupSize\)/ },
    reference: "rejects",
  },
  {
    name: "proof of another statement replayed",
    bundle: () => withValue(count(), ["proof"], fixture.bundle("sum").proof),
    sdk: { check: "proof", reason: /Groth16 proof does not verify/ },
    reference: "rejects",
  },
  {
    name: "swapped proof elements (pi_a ↔ pi_c)",
    bundle: () => {
      const edited = mutableCopy(count());
      [edited.proof.pi_a, edited.proof.pi_c] = [edited.proof.pi_c, edited.proof.pi_a];
      return edited;
    },
    sdk: { check: "proof", reason: /Groth16 proof does not verify/ },
    reference: "rejects",
  },
  {
    name: "statement text changed (only the SDK reads it)",
    bundle: () =>
      withValue(count(), ["statement"], "dataset wiki-editors epoch 3: 20 records match country = FR"),
    sdk: {
      check: "statement",
      reason: /does not say what is proven: "dataset wiki-editors epoch 3: 2 records/,
    },
    reference: "accepts",
  },
  {
    name: "vkeyHash names another key (only the SDK reads it)",
    bundle: () => withValue(count(), ["vkeyHash"], "ab".repeat(32)),
    sdk: { check: "key", reason: /names verification key abababab.*but the pinned key of circuit/ },
    reference: "accepts",
  },
  {
    name: "bad manifest signature (one hex digit changed)",
    bundle: () => {
      const { signature } = fixture.dataset.manifest;
      const flipped = `${signature[0] === "0" ? "1" : "0"}${signature.slice(1)}`;
      return withValue(count(), ["manifest", "signature"], flipped);
    },
    sdk: { check: "manifest-signature", reason: /manifest signature is not valid/ },
    reference: "rejects",
  },
  {
    name: "manifest edited without re-signing (recordCount)",
    bundle: () => withValue(count(), ["manifest", "recordCount"], 7),
    sdk: { check: "manifest-signature", reason: /manifest signature is not valid/ },
    reference: "rejects",
  },
  {
    name: "manifest re-signed by another operator",
    bundle: () => withValue(count(), ["manifest"], attackerSignedManifest()),
    sdk: { check: "operator-key", reason: /names operator key .*expected/ },
    reference: "rejects",
  },
  {
    name: "circuit id of another shape, not announced by the manifest",
    bundle: () => withValue(count(), ["circuitId"], "aggregate-8x4x3-w16-m3-b8-a2"),
    sdk: { check: "circuit", reason: /does not match circuit aggregate-8x4x3-w16-m3-b8-a2/ },
    reference: "rejects",
  },
  {
    name: "no pinned key for the circuit",
    bundle: () => count(),
    options: () => ({ keys: {}, operatorKey: OPERATOR_KEY }),
    sdk: { check: "key", reason: /no pinned verification key for circuit/ },
    reference: "accepts",
  },
  // ---- malformed: VerifierInputError naming the field
  ...[1, 2, 5, 9].map(
    (index): Case => ({
      name: `public signal ${index} + r`,
      bundle: () =>
        withValue(count(), ["publicSignals", index], bump(count().publicSignals[index] as string, R)),
      sdk: { field: `publicSignals[${index}]`, reason: /out of range/ },
      reference: "rejects",
    }),
  ),
  {
    name: "one signal too many",
    bundle: () => withValue(count(), ["publicSignals"], [...count().publicSignals, "0"]),
    sdk: { field: "publicSignals", reason: /has 10 public signals, got 11/ },
    reference: "rejects",
  },
  {
    name: "one signal too few",
    bundle: () => withValue(count(), ["publicSignals"], count().publicSignals.slice(0, 9)),
    sdk: { field: "publicSignals", reason: /has 10 public signals, got 9/ },
    reference: "rejects",
  },
  {
    name: "pi_a at infinity (z = 0)",
    bundle: () => withValue(count(), ["proof", "pi_a"], ["0", "1", "0"]),
    sdk: { field: "proof.pi_a", reason: /infinity/ },
    reference: "rejects",
  },
  {
    name: "pi_c at infinity ((0, 0) encoding)",
    bundle: () => withValue(count(), ["proof", "pi_c"], ["0", "0", "1"]),
    sdk: { field: "proof.pi_c", reason: /infinity/ },
    reference: "rejects",
  },
  {
    name: "pi_b at infinity",
    bundle: () =>
      withValue(
        count(),
        ["proof", "pi_b"],
        [
          ["0", "0"],
          ["0", "0"],
          ["1", "0"],
        ],
      ),
    sdk: { field: "proof.pi_b", reason: /infinity/ },
    reference: "rejects",
  },
  {
    name: "pi_a off the curve (y + 1)",
    bundle: () => withValue(count(), ["proof", "pi_a", 1], bump(count().proof.pi_a[1], 1n)),
    sdk: { field: "proof.pi_a", reason: /not on the curve/ },
    reference: "rejects",
  },
  {
    name: "pi_b off the twist (y0 + 1)",
    bundle: () => withValue(count(), ["proof", "pi_b", 1, 0], bump(count().proof.pi_b[1][0], 1n)),
    sdk: { field: "proof.pi_b", reason: /not on the curve/ },
    reference: "rejects",
  },
  {
    name: "pi_b on the twist but outside the G2 subgroup",
    bundle: () => withValue(count(), ["proof", "pi_b"], g2Json(twistPointOutsideSubgroup())),
    sdk: { field: "proof.pi_b", reason: /not in the prime-order subgroup/ },
    reference: "rejects",
  },
  {
    name: "pi_b plus a point of order 10069",
    bundle: () => {
      const b = parseProof(count().proof).b.add(torsionPoint(10069n, 5n));
      return withValue(count(), ["proof", "pi_b"], g2Json(b));
    },
    sdk: { field: "proof.pi_b", reason: /not in the prime-order subgroup/ },
    reference: "rejects",
  },
  {
    name: "pi_b with its Fp2 halves swapped",
    bundle: () => {
      const [x, y, z] = count().proof.pi_b;
      return withValue(count(), ["proof", "pi_b"], [[x[1], x[0]], [y[1], y[0]], z]);
    },
    sdk: { field: "proof.pi_b", reason: /not on the curve|subgroup/ },
    reference: "rejects",
  },
  {
    name: "coordinate + q",
    bundle: () => withValue(count(), ["proof", "pi_a", 0], bump(count().proof.pi_a[0], Q)),
    sdk: { field: "proof.pi_a[0]", reason: /out of range/ },
    reference: "accepts", // ffjavascript reduces coordinates mod q (documented snarkjs gap)
  },
  {
    name: "projective z = 2",
    bundle: () => withValue(count(), ["proof", "pi_c", 2], "2"),
    sdk: { field: "proof.pi_c[2]", reason: /exactly "1"/ },
    reference: "rejects",
  },
  {
    name: "a verification key shipped inside the bundle",
    bundle: () => ({ ...count(), vkey: fixture.vkey }),
    sdk: { field: "vkey", reason: /unexpected field/ },
    reference: "accepts",
  },
];

// Truncated and extra JSON fields, at every level.
for (const field of Object.keys({
  format: 0,
  manifest: 0,
  query: 0,
  statement: 0,
  answer: 0,
  circuitId: 0,
  vkeyHash: 0,
  minGroupSize: 0,
  nonce: 0,
  publicSignals: 0,
  proof: 0,
  createdAt: 0,
})) {
  const usedByReference = !["format", "statement", "vkeyHash", "createdAt"].includes(field);
  rejectedCases.push({
    name: `missing top-level field ${field}`,
    bundle: () => withoutField(count(), [field]),
    sdk: { field, reason: /missing field/ },
    reference: usedByReference ? "rejects" : "accepts",
  });
}
for (const path of [
  ["answer", "value"],
  ["proof", "pi_c"],
  ["proof", "protocol"],
  ["manifest", "signature"],
  ["query", "aggregate"],
]) {
  rejectedCases.push({
    name: `missing nested field ${path.join(".")}`,
    bundle: () => withoutField(count(), path),
    sdk: { field: path.join("."), reason: /missing|required|expected/i },
    reference: path.join(".") === "proof.protocol" ? "accepts" : "rejects", // snarkjs ignores "protocol"
  });
}
for (const path of [
  ["extra"],
  ["answer", "extra"],
  ["proof", "extra"],
  ["manifest", "extra"],
  ["query", "extra"],
]) {
  rejectedCases.push({
    name: `extra field ${path.join(".")}`,
    bundle: () => withValue(count(), path, "1"),
    sdk: {
      field: path[0] === "extra" ? "extra" : new RegExp(`^${path[0]}`),
      reason: /unexpected|unrecognized|unknown property/i, // the query model words its own errors
    },
    // The reference reads only the fields it needs; a re-signed manifest check catches manifest.extra.
    reference: path[0] === "manifest" || path[0] === "query" ? "rejects" : "accepts",
  });
}
// Non-numeric and non-canonical strings where numbers belong.
for (const text of ["abc", "1.5", "0x7", "007", "-1", "", " 1", "1e3"]) {
  rejectedCases.push(
    {
      name: `nonce ${JSON.stringify(text)}`,
      bundle: () => withValue(count(), ["nonce"], text),
      sdk: { field: "nonce", reason: /canonical decimal/ },
      reference: "rejects",
    },
    {
      name: `public signal 3 ${JSON.stringify(text)}`,
      bundle: () => withValue(count(), ["publicSignals", 3], text),
      sdk: { field: "publicSignals[3]", reason: /canonical decimal/ },
      reference: "rejects",
    },
  );
}
rejectedCases.push(
  {
    name: 'answer value "abc"',
    bundle: () => withValue(count(), ["answer", "value"], "abc"),
    sdk: { field: "answer.value", reason: /canonical decimal/ },
    reference: "rejects",
  },
  {
    name: "answer value as a JSON number",
    bundle: () => withValue(count(), ["answer", "value"], 2),
    sdk: { field: "answer.value", reason: /canonical decimal string, got a number/ },
    reference: "rejects",
  },
  {
    name: 'proof coordinate "abc"',
    bundle: () => withValue(count(), ["proof", "pi_b", 0, 1], "abc"),
    sdk: { field: "proof.pi_b[0][1]", reason: /canonical decimal/ },
    reference: "rejects",
  },
  {
    name: 'manifest root "abc"',
    bundle: () => withValue(count(), ["manifest", "root"], "abc"),
    sdk: { field: "manifest.root", reason: /canonical decimal/ },
    reference: "rejects",
  },
  {
    name: 'minGroupSize "2" (a string)',
    bundle: () => withValue(fixture.bundle("sum"), ["minGroupSize"], "2"),
    sdk: { field: "minGroupSize", reason: /expected an integer/ },
    // The reference packs g with the dominance share (suppressionElement), which takes integers only.
    reference: "rejects",
  },
  {
    name: "format of a future version",
    bundle: () => ({ ...(withValue(count(), ["format"], "zktally-bundle/v3") as object), newField: 1 }),
    sdk: { field: "format", reason: /unsupported bundle format/ },
    reference: "accepts",
  },
  {
    name: "a chain bundle's format given to verify (v1 only) is named as such",
    bundle: () => withValue(count(), ["format"], "zktally-bundle/v2"),
    sdk: { field: "format", reason: /is a chain bundle: verify it with verifyChain/ },
    reference: "accepts",
  },
  {
    name: "query not in canonical form (clauses in input order)",
    bundle: () => withValue(count(), ["query", "predicate"], [...count().query.predicate].reverse()),
    sdk: { field: "query", reason: /not in canonical form/ },
    reference: "accepts", // the lowering canonicalises; the SDK insists on one spelling per statement
  },
  {
    name: "query naming a field the schema lacks",
    bundle: () => withValue(count(), ["query", "predicate", 0, "field"], "nationality"),
    sdk: { field: "query.predicate[0].field", reason: /unknown|not a field|no field/i },
    reference: "rejects",
  },
  {
    name: "answer kind not the query's",
    bundle: () => withValue(count(), ["answer", "kind"], "sum"),
    sdk: { field: "answer.kind", reason: /expected "count"/ },
    reference: "accepts", // the reference reads only suppressed and value
  },
  {
    name: "createdAt not a date-time",
    bundle: () => withValue(count(), ["createdAt"], "yesterday"),
    sdk: { field: "createdAt", reason: /ISO-8601/ },
    reference: "accepts",
  },
  {
    name: "a bundle that is not an object",
    bundle: () => [count()],
    sdk: { field: "bundle", reason: /expected an object/ },
    reference: "rejects",
  },
);

describe("rejected bundles: the SDK states why, the snarkjs-based check agrees (pinned per case)", () => {
  it.each(rejectedCases.map((c) => [c.name, c] as const))("%s", async (_name, testCase) => {
    const bundle = testCase.bundle();
    const outcome = sdkOutcome(bundle, testCase.options?.() ?? options());
    if ("check" in testCase.sdk) {
      expect(outcome).not.toBeInstanceOf(VerifierInputError);
      expect(outcome).toMatchObject({ valid: false, check: testCase.sdk.check });
      expect((outcome as { reason: string }).reason).toMatch(testCase.sdk.reason);
    } else {
      expect(outcome).toBeInstanceOf(VerifierInputError);
      const error = outcome as VerifierInputError;
      if (typeof testCase.sdk.field === "string") expect(error.field).toBe(testCase.sdk.field);
      else expect(error.field).toMatch(testCase.sdk.field);
      if (testCase.sdk.reason) expect(error.reason).toMatch(testCase.sdk.reason);
    }
    expect(await referenceAccepts(bundle)).toBe(testCase.reference === "accepts");
  });
});

// ---------------------------------------------------------------- keys and options

describe("keys and options", () => {
  /** The honest key with delta := gamma (no phase-2 contribution), and a forged proof of a false answer. */
  function forgedUnderWeakKey() {
    const weakKey = { ...fixture.vkey, vk_delta_2: fixture.vkey.vk_gamma_2 };
    const edited = mutableCopy(count());
    edited.answer = { kind: "count", suppressed: false, value: "5" }; // the true answer is 2
    const claimed = consistent(edited);
    const { alpha, beta, ic } = parseVerifyingKey(weakKey);
    const vkX = claimed.publicSignals.reduce(
      (sum, signal, i) => sum.add((ic[i + 1] as typeof alpha).multiplyUnsafe(BigInt(signal))),
      ic[0] as typeof alpha,
    );
    // e(alpha, beta) = e(alpha, beta) · e(vk_x, gamma) · e(-vk_x, delta) when delta = gamma.
    const forged = { pi_a: g1Json(alpha), pi_b: g2Json(beta), pi_c: g1Json(vkX.negate()) };
    edited.proof = { ...edited.proof, ...(forged as Pick<typeof edited.proof, "pi_a" | "pi_b" | "pi_c">) };
    edited.vkeyHash = vkeyHash(weakKey);
    return { weakKey, bundle: edited as unknown as ProofBundle };
  }

  it("a forged proof under a gamma == delta key: snarkjs accepts it, the SDK refuses the key", async () => {
    const { weakKey, bundle } = forgedUnderWeakKey();
    expect(await snarkjs.groth16.verify(weakKey, [...bundle.publicSignals], bundle.proof)).toBe(true);
    expect(await referenceAccepts(bundle, weakKey)).toBe(true);
    // Honest pinned keys: the bundle names a key that is not the pinned one.
    expect(verify(bundle, options())).toMatchObject({ valid: false, check: "key" });
    // A verifier that pinned the weak key anyway: refused before any proof is checked.
    const careless = { keys: { [TEST_CIRCUIT_ID]: weakKey }, operatorKey: OPERATOR_KEY };
    expect(() => verify(bundle, careless)).toThrow(VerifierInputError);
    expect(() => verify(bundle, careless)).toThrow(
      new RegExp(`options\\.keys\\.${TEST_CIRCUIT_ID}\\.vk_delta_2: equals ±vk_gamma_2.*forgeable`),
    );
  });

  it("a substituted key that does not match the keys manifest pin is refused", () => {
    const { weakKey } = forgedUnderWeakKey();
    const substituted = options({ keys: { [TEST_CIRCUIT_ID]: weakKey } });
    expect(() => verify(count(), substituted)).toThrow(/does not match the keys manifest pin/);
    const unpinned = { ...fixture.keysManifest, circuits: {} };
    expect(verify(count(), options({ keysManifest: unpinned }))).toMatchObject({
      valid: false,
      check: "key",
      reason: expect.stringMatching(/keys manifest pins no verification key/),
    });
  });

  it("options must name a root of trust and be well formed", () => {
    const keys = { [TEST_CIRCUIT_ID]: fixture.vkey };
    const field = (opts: unknown) => (sdkOutcome(count(), opts as VerifyOptions) as VerifierInputError).field;
    expect(field({ keys })).toBe("options");
    expect(field({ keys, operatorKey: "abc" })).toBe("options.operatorKey");
    expect(field({ keys: null, operatorKey: OPERATOR_KEY })).toBe("options.keys");
    expect(field({ keys, manifest: { ...fixture.dataset.manifest, epoch: -1 } })).toBe(
      "options.manifest.epoch",
    );
    expect(field(options({ keysManifest: { version: 2 } }))).toBe("options.keysManifest.version");
    expect(field(options({ expectedNonce: "0x2a" }))).toBe("options.expectedNonce");
    expect(verify(count(), options({ expectedNonce: count().nonce })).valid).toBe(true);
  });

  it("a membership bundle under minimum group size 1 is malformed: its suppression would be the answer", () => {
    const membership = fixture.bundle("membership");
    expect(() => parseBundle({ ...membership, minGroupSize: 1 })).toThrow(
      /^minGroupSize: membership under minimum group size 1 would be suppressed exactly when no record matches/,
    );
    expect(parseBundle({ ...membership, minGroupSize: 2 }).bundle.minGroupSize).toBe(2);
    expect(parseBundle({ ...count(), minGroupSize: 1 }).bundle.minGroupSize).toBe(1);
  });

  it("parseBundle names malformed input of any JS shape without crashing", () => {
    for (const value of [null, undefined, 42, "bundle", [], { format: "zktally-bundle/v1" }]) {
      expect(() => parseBundle(value)).toThrow(VerifierInputError);
    }
    expect(() => parseBundle({ ...count(), nonce: 5n })).toThrow(/bundle: not representable as JSON/);
  });
});

// ---------------------------------------------------------------- bundle text

describe("bundle text: read strictly, duplicate keys refused", () => {
  const lie = "dataset wiki-editors epoch 3: 99 records match country = FR AND edits ≥ 100";

  it("bundle text (canonical or indented) verifies like the object", () => {
    const bundle = count();
    expect(verify(serializeBundle(bundle).text, options())).toEqual(verify(bundle, options()));
    expect(verify(JSON.stringify(bundle, null, 2), options()).valid).toBe(true);
  });

  it("a second statement member: JSON.parse keeps the last one, the SDK refuses the text", () => {
    const { text } = serializeBundle(count());
    const forged = `{"statement":${JSON.stringify(lie)},${text.slice(1)}`;
    expect(verify(JSON.parse(forged), options()).valid).toBe(true); // what a last-wins reader sees
    const error = sdkOutcome(forged) as VerifierInputError;
    expect(error).toBeInstanceOf(VerifierInputError);
    expect(error.field).toBe("bundle");
    expect(error.reason).toMatch(
      /^not strict JSON: line 1 column \d+: duplicate key "statement" \(first at line 1 column 2\)/,
    );
  });

  it("a duplicate inside answer is named by its field, line and column", () => {
    const lines = JSON.stringify(count(), null, 2).split("\n");
    const at = lines.findIndex((line) => line.startsWith('    "value"'));
    lines.splice(at, 0, '    "value": "99",');
    const error = sdkOutcome(lines.join("\n")) as VerifierInputError;
    expect(error.field).toBe("answer");
    expect(error.reason).toMatch(
      new RegExp(`line ${at + 2} column 5: duplicate key "value" \\(first at line ${at + 1} column 5\\)`),
    );
    expect(() => verifyBundles([count(), lines.join("\n")], options())).toThrow(
      /^bundles\[1\]\.answer: not strict JSON/,
    );
  });

  it("keys manifest, pinned manifest and key given as text are read strictly too", () => {
    const keysText = JSON.stringify(fixture.keysManifest);
    expect(verify(count(), options({ keysManifest: keysText })).valid).toBe(true);
    const twice = `{"insecure":false,${keysText.slice(1)}`;
    expect((sdkOutcome(count(), options({ keysManifest: twice })) as VerifierInputError).field).toBe(
      "options.keysManifest",
    );
    const manifestText = JSON.stringify(fixture.dataset.manifest);
    expect(verify(count(), options({ manifest: manifestText })).valid).toBe(true);
    expect(
      (
        sdkOutcome(
          count(),
          options({ manifest: `{"epoch":4,${manifestText.slice(1)}` }),
        ) as VerifierInputError
      ).field,
    ).toBe("options.manifest");
    const keyText = JSON.stringify(fixture.vkey);
    expect(verify(count(), options({ keys: { [TEST_CIRCUIT_ID]: keyText } })).valid).toBe(true);
    const keyTwice = `{"nPublic":1,${keyText.slice(1)}`;
    expect(
      (sdkOutcome(count(), options({ keys: { [TEST_CIRCUIT_ID]: keyTwice } })) as VerifierInputError).field,
    ).toBe(`options.keys.${TEST_CIRCUIT_ID}`);
  });
});

// ---------------------------------------------------------------- batch

describe("batch verification (verifyBundles)", () => {
  function replays(count: number) {
    const delta = parseVerifyingKey(fixture.vkey).delta;
    return Array.from({ length: count }, (_, i) => {
      const bundle = fixture.bundle(BUNDLE_KINDS[i % BUNDLE_KINDS.length] as (typeof BUNDLE_KINDS)[number]);
      const item = { publicSignals: [...bundle.publicSignals], proof: bundle.proof };
      return { ...bundle, proof: rerandomize(item, delta, BigInt(3 + i), BigInt(17 * i + 1)).proof };
    });
  }

  it("accepts a batch of valid bundles of every kind", () => {
    const bundles = [...BUNDLE_KINDS.map((kind) => fixture.bundle(kind)), ...replays(10)];
    const results = verifyBundles(bundles, options());
    expect(results.map((r) => r.valid)).toEqual(bundles.map(() => true));
    expect(results.map((r) => (r.valid ? r.statement : ""))).toEqual(bundles.map((b) => b.statement));
  });

  it("one bad proof in a batch is caught and named; other failures keep their own reasons", async () => {
    const bundles: unknown[] = replays(12);
    const beta = parseVerifyingKey(fixture.vkey).beta;
    const victim = bundles[7] as ProofBundle;
    const bad = rerandomize({ publicSignals: [...victim.publicSignals], proof: victim.proof }, beta, 2n, 3n);
    bundles[7] = { ...victim, proof: bad.proof }; // well formed, fails the pairing check
    bundles[2] = withValue(bundles[2], ["manifest", "recordCount"], 5);
    const results = verifyBundles(bundles, options());
    expect(results[7]).toMatchObject({ valid: false, check: "proof" });
    expect(results[2]).toMatchObject({ valid: false, check: "manifest-signature" });
    const others = results.filter((_, i) => i !== 2 && i !== 7);
    expect(others.every((r) => r.valid)).toBe(true);
    // Differential on the bad one: single SDK check and snarkjs reject it too.
    expect(verify(bundles[7], options())).toMatchObject({ valid: false, check: "proof" });
    expect(await snarkjs.groth16.verify(fixture.vkey, [...victim.publicSignals], bad.proof)).toBe(false);
  });

  it("the parsed-item batch check refuses an empty batch and a wrong signal count", () => {
    const key = prepareVerifyingKey(fixture.vkey);
    const { signals, proof } = parseBundle(count());
    expect(findInvalidParsedBatchItems(key, [{ signals, proof }])).toEqual([]);
    expect(() => findInvalidParsedBatchItems(key, [])).toThrow(/the batch is empty/);
    expect(() => findInvalidParsedBatchItems(key, [{ signals: signals.slice(1), proof }])).toThrow(
      /items\[0\]\.publicSignals/,
    );
    expect(verifyBundles([], options())).toEqual([]);
  });

  it("a malformed bundle in a batch throws naming its index and field", () => {
    const bundles = [count(), withValue(count(), ["nonce"], "0x1")];
    expect(() => verifyBundles(bundles, options())).toThrow(/bundles\[1\]\.nonce: not a canonical decimal/);
  });
});

// ---------------------------------------------------------------- statement words (known answers)

describe("statement wording (known answers)", () => {
  const parts = (query: unknown, answer: unknown, minGroupSize = 0) =>
    describeStatement({
      manifest: { datasetId: "X", epoch: 3 },
      schema: SCHEMA,
      query: query as ProofBundle["query"],
      answer: answer as ProofBundle["answer"],
      minGroupSize,
    });
  const frAnd100 = [
    { field: "country", op: "eq", value: "FR" },
    { field: "edits", op: "gte", value: 100 },
  ];

  it("groups digits by thousands", () => {
    expect(["0", "999", "1284", "1000000", "21888242871839275222"].map(groupDigits)).toEqual([
      "0",
      "999",
      "1,284",
      "1,000,000",
      "21,888,242,871,839,275,222",
    ]);
  });

  it("says what each kind proves", () => {
    const count = { predicate: frAnd100, aggregate: { kind: "count" } };
    expect(parts(count, { kind: "count", suppressed: false, value: "1284" })).toBe(
      "dataset X epoch 3: 1,284 records match country = FR AND edits ≥ 100",
    );
    expect(parts(count, { kind: "count", suppressed: false, value: "1" })).toBe(
      "dataset X epoch 3: 1 record matches country = FR AND edits ≥ 100",
    );
    expect(
      parts(
        { predicate: [], aggregate: { kind: "count" } },
        { kind: "count", suppressed: false, value: "42" },
        5,
      ),
    ).toBe("dataset X epoch 3: 42 records in total (minimum group size 5)");
    const threshold = (k: number) => ({ predicate: frAnd100, aggregate: { kind: "threshold", k } });
    expect(parts(threshold(10), { kind: "threshold", suppressed: false, value: false })).toBe(
      "dataset X epoch 3: fewer than 10 records match country = FR AND edits ≥ 100",
    );
    expect(parts(threshold(1), { kind: "threshold", suppressed: false, value: false })).toBe(
      "dataset X epoch 3: no record matches country = FR AND edits ≥ 100",
    );
    expect(
      parts(
        { predicate: [], aggregate: { kind: "threshold", k: 1 } },
        { kind: "threshold", suppressed: false, value: true },
      ),
    ).toBe("dataset X epoch 3: at least 1 record exists");
    expect(
      parts(
        { predicate: [], aggregate: { kind: "membership", key: 12345 } },
        { kind: "membership", suppressed: false, value: false },
      ),
    ).toBe("dataset X epoch 3: no record with userId = 12345 exists");
    expect(
      parts(
        { predicate: [], aggregate: { kind: "sum", field: "edits" } },
        { kind: "sum", suppressed: false, value: "4150" },
      ),
    ).toBe("dataset X epoch 3: the sum of edits over all records is 4,150");
  });

  it("the fixture records are what the statements claim", () => {
    expect(RECORDS.filter(([, country, edits]) => country === 1n && (edits as bigint) >= 100n)).toHaveLength(
      2,
    );
  });
});
