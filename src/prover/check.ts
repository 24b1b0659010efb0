/**
 * @module prover/check
 *
 * The interim snarkjs-based check of a query proof (the standalone verifier SDK supersedes it): verifies the
 * manifest signature, recomputes the public signals from manifest + query + answer + nonce, and runs snarkjs
 * `groth16.verify` on the recomputed signals, never on the ones the proof carries.
 */
import { expectedPublicSignals } from "../circuits/statement.ts";
import { type DatasetManifest, verifyManifest } from "../dataset/manifest.ts";
import type { QueryProof } from "./prove-query.ts";
import { verifyWithSnarkjs } from "./snarkjs-backend.ts";

export interface CheckResult {
  readonly valid: boolean;
  readonly reason?: string;
}

export async function checkQueryProof(input: {
  manifest: DatasetManifest;
  operatorKey: string;
  vkey: Parameters<typeof verifyWithSnarkjs>[0];
  proof: QueryProof;
}): Promise<CheckResult> {
  const { manifest, proof } = input;
  if (!verifyManifest(manifest, input.operatorKey)) return { valid: false, reason: "bad manifest signature" };
  const expected = expectedPublicSignals({
    manifest,
    circuitId: proof.circuitId,
    query: proof.query,
    answer: proof.answer,
    minGroupSize: proof.minGroupSize,
    nonce: proof.nonce,
  });
  if (expected.join(",") !== proof.publicSignals.join(",")) {
    return { valid: false, reason: "public signals do not match the manifest, query, answer and nonce" };
  }
  const valid = await verifyWithSnarkjs(input.vkey, expected, proof.proof);
  return valid ? { valid } : { valid, reason: "Groth16 proof does not verify" };
}
