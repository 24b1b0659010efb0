/**
 * @module prover/bundle
 *
 * Operator side of the proof bundle (docs/bundle.md): wraps a `QueryProof` with the signed manifest
 * and the hash of the pinned verification key into a `zktally-bundle/v1` bundle a partner can check
 * offline with `zktally/verifier`.
 *
 * Security caveats: the bundle is public. It holds the manifest, the canonical query, the answer,
 * the signals and the proof, never records, salts or witness values, and for a suppressed answer
 * nothing but the fact of suppression. `makeBundle` refuses to emit a bundle the verifier would
 * reject for its form or for signals that do not match its statement (it does not run the pairing
 * check, which the prover already cross-checked).
 */
import { expectedPublicSignals } from "../circuits/statement.ts";
import type { DatasetManifest } from "../dataset/manifest.ts";
import { BUNDLE_FORMAT, type ProofBundle, parseBundle } from "../verifier/bundle.ts";
import { describeStatement } from "../verifier/describe.ts";
import { ProverError } from "./backend.ts";
import type { QueryProof } from "./prove-query.ts";

/**
 * Builds the bundle of `queryProof` over the dataset described by `manifest`, naming the key by
 * `vkeyHash` (hex SHA-256 of the canonical JSON of the pinned verification key).
 * Throws `VerifierInputError` if the result would be malformed and `ProverError` if the proof's
 * signals are not those of its statement.
 */
export function makeBundle(
  queryProof: QueryProof,
  manifest: DatasetManifest,
  vkeyHash: string,
  createdAt: Date | string = new Date(),
): ProofBundle {
  const draft = {
    format: BUNDLE_FORMAT,
    manifest,
    query: queryProof.query,
    statement: describeStatement({
      manifest,
      schema: manifest.schema,
      query: queryProof.query,
      answer: queryProof.answer,
      minGroupSize: queryProof.minGroupSize,
    }),
    answer: queryProof.answer,
    circuitId: queryProof.circuitId,
    vkeyHash,
    minGroupSize: queryProof.minGroupSize,
    nonce: queryProof.nonce,
    publicSignals: queryProof.publicSignals,
    proof: queryProof.proof,
    createdAt: createdAt instanceof Date ? createdAt.toISOString() : createdAt,
  };
  const { bundle } = parseBundle(draft);
  assertSignalsMatchStatement(bundle);
  return bundle;
}

function assertSignalsMatchStatement(bundle: ProofBundle): void {
  const expected = expectedPublicSignals(bundle);
  if (expected.join(",") !== bundle.publicSignals.join(",")) {
    throw new ProverError(
      `proof of circuit ${bundle.circuitId}: public signals do not match the manifest, query and answer`,
    );
  }
}
