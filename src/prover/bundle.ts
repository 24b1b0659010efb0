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
 * check, which the prover already cross-checked). A bundle is written, stored and served only as
 * `serializeBundle` gives it (its canonical JSON), so the bytes a partner downloads are the bytes whose
 * SHA-256 the audit log records.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import { expectedPublicSignals } from "../circuits/statement.ts";
import type { DatasetManifest } from "../dataset/manifest.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { BUNDLE_FORMAT, type ProofBundle, parseBundle } from "../verifier/bundle.ts";
import type { ChainBundle } from "../verifier/chain-bundle.ts";
import { describeStatement } from "../verifier/describe.ts";
import type { DpChainBundle } from "../verifier/dp-chain.ts";
import type { DpHistogramBundle } from "../verifier/dp-histogram.ts";
import type { PassBundle } from "../verifier/pass-bundle.ts";
import { ProverError } from "./backend.ts";
import { dominanceField, type QueryProof } from "./prove-query.ts";

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
      ...dominanceField(queryProof.dominanceShare),
    }),
    answer: queryProof.answer,
    circuitId: queryProof.circuitId,
    vkeyHash,
    minGroupSize: queryProof.minGroupSize,
    ...dominanceField(queryProof.dominanceShare),
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

/** A bundle as bytes: the text to write or serve and the SHA-256 (hex) of exactly its UTF-8 bytes. */
export interface SerializedBundle {
  readonly text: string;
  readonly sha256: string;
}

/**
 * The one serialisation of a bundle (canonical JSON, design.md section 6, no trailing newline): every
 * writer (service store, CLI demo) uses it, so the hash an audit entry carries is the hash of the file.
 */
export function serializeBundle(
  bundle: ProofBundle | ChainBundle | DpChainBundle | PassBundle | DpHistogramBundle,
): SerializedBundle {
  const text = canonicalJson(bundle);
  return { text, sha256: bytesToHex(sha256(utf8ToBytes(text))) };
}
